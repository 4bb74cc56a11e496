/**
 * A nats-server in operator (JWT) mode with a memory resolver, and a user `.creds` file for it:
 * what `nsc` produces, built here with the nkeys that ship with nats.js so tests need no nsc.
 * JWT layout per nats-io/jwt v2: header `{typ: JWT, alg: ed25519-nkey}`, claims signed by the
 * issuer's nkey over `header.payload`.
 */
import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { nkeys } from 'nats';
import { requireBinary } from '../../shared/src/binaries.js';
import { canConnect, freePort, waitFor } from '../../shared/src/ports.js';
import { stopChild } from '../../deploy/local/postgres.js';

type KeyPair = ReturnType<typeof nkeys.createUser>;

const b64url = (data: string | Uint8Array): string => Buffer.from(data).toString('base64url');

function signJwt(
  issuer: KeyPair,
  subject: string,
  name: string,
  nats: Record<string, unknown>,
): string {
  const claims: Record<string, unknown> = {
    iat: Math.floor(Date.now() / 1000),
    iss: issuer.getPublicKey(),
    sub: subject,
    name,
    nats,
  };
  claims.jti = createHash('sha256').update(JSON.stringify(claims)).digest('base64url');
  const signing = `${b64url(JSON.stringify({ typ: 'JWT', alg: 'ed25519-nkey' }))}.${b64url(JSON.stringify(claims))}`;
  return `${signing}.${b64url(issuer.sign(Buffer.from(signing)))}`;
}

const UNLIMITED = {
  subs: -1,
  conn: -1,
  leaf: -1,
  imports: -1,
  exports: -1,
  data: -1,
  payload: -1,
  wildcards: true,
};

export interface JwtNats {
  url: string;
  /** A `.creds` file for a user of the account (full permissions). */
  credsFile: string;
  stop(): Promise<void>;
}

export async function startJwtNats(dir: string): Promise<JwtNats> {
  mkdirSync(dir, { recursive: true });
  const operator = nkeys.createOperator();
  const account = nkeys.createAccount();
  const user = nkeys.createUser();
  const system = nkeys.createAccount();
  const operatorJwt = signJwt(operator, operator.getPublicKey(), 'test-operator', {
    type: 'operator',
    version: 2,
    system_account: system.getPublicKey(),
  });
  const systemJwt = signJwt(operator, system.getPublicKey(), 'SYS', {
    type: 'account',
    version: 2,
    limits: UNLIMITED,
  });
  const accountJwt = signJwt(operator, account.getPublicKey(), 'ADDONS', {
    type: 'account',
    version: 2,
    limits: { ...UNLIMITED, mem_storage: -1, disk_storage: -1, streams: -1, consumer: -1 },
  });
  const userJwt = signJwt(account, user.getPublicKey(), 'control-plane', {
    type: 'user',
    version: 2,
    pub: {},
    sub: {},
    subs: -1,
    data: -1,
    payload: -1,
  });
  const credsFile = join(dir, 'user.creds');
  const seed = new TextDecoder().decode(user.getSeed());
  writeFileSync(
    credsFile,
    `-----BEGIN NATS USER JWT-----\n${userJwt}\n------END NATS USER JWT------\n\n-----BEGIN USER NKEY SEED-----\n${seed}\n------END USER NKEY SEED------\n`,
    { mode: 0o600 },
  );
  const port = await freePort();
  const config = join(dir, 'server.conf');
  writeFileSync(
    config,
    [
      `listen: 127.0.0.1:${port}`,
      `operator: ${operatorJwt}`,
      'resolver: MEMORY',
      `system_account: ${system.getPublicKey()}`,
      `resolver_preload: { ${account.getPublicKey()}: ${accountJwt}, ${system.getPublicKey()}: ${systemJwt} }`,
      `jetstream { store_dir: ${JSON.stringify(join(dir, 'js'))} }`,
    ].join('\n'),
  );
  const child = spawn(requireBinary('nats-server'), ['-c', config], { stdio: 'ignore' });
  await waitFor(async () => {
    if (child.exitCode !== null) throw new Error('nats-server (operator mode) exited');
    return canConnect(port);
  }, 'nats-server (operator mode)');
  return { url: `nats://127.0.0.1:${port}`, credsFile, stop: () => stopChild(child) };
}
