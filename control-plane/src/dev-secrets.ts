/**
 * Secrets for running outside production without configuring them: generated at run time on
 * first use and kept in `.local/dev-secrets.json` (mode 0600, git-ignored), so a restarted
 * control plane, the operator CLI and tests on this checkout can still read what was
 * encrypted. Production never comes here: ENCRYPTION_KEY and SESSION_SECRET are required.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const DEV_SECRETS_PATH = fileURLToPath(
  new URL('../../.local/dev-secrets.json', import.meta.url),
);

export interface DevSecrets {
  /** `<key-id>:<base64 of 32 bytes>`, the ENCRYPTION_KEY format. */
  encryptionKey: string;
  sessionSecret: string;
}

function generate(): DevSecrets {
  return {
    encryptionKey: `dev:${randomBytes(32).toString('base64')}`,
    sessionSecret: randomBytes(32).toString('base64url'),
  };
}

/** Reads the checkout's dev secrets, creating them once (the first writer wins a race). */
export function devSecrets(path = DEV_SECRETS_PATH): DevSecrets {
  const read = (): DevSecrets => JSON.parse(readFileSync(path, 'utf8')) as DevSecrets;
  try {
    return read();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  try {
    writeFileSync(path, JSON.stringify(generate()), { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  return read();
}
