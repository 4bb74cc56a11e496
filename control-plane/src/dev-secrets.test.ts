import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { devSecrets } from './dev-secrets.js';

describe('devSecrets', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cp-dev-secrets-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('generates secrets once per file, private to the user, and reuses them', () => {
    const path = join(dir, 'nested', 'dev-secrets.json');
    const first = devSecrets(path);
    expect(first.encryptionKey).toMatch(/^dev:[A-Za-z0-9+/]{43}=$/);
    expect(Buffer.from(first.encryptionKey.slice(4), 'base64')).toHaveLength(32);
    expect(first.sessionSecret.length).toBeGreaterThanOrEqual(32);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(devSecrets(path)).toEqual(first);
    // Another file (another checkout) gets its own.
    expect(devSecrets(join(dir, 'other.json')).encryptionKey).not.toBe(first.encryptionKey);
  });
});
