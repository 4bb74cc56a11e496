/** On-disk state of one local redis instance: state.json, redis.conf, users.acl, TLS files. */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';

export const InstanceStateSchema = z.object({
  uuid: z.uuid(),
  plan: z.string(),
  generation: z.number().int().nonnegative(),
  memoryMb: z.number().int().positive(),
  port: z.number().int().positive(),
  prefix: z.string(),
  /** ACL users (name → password); `currentUser` is the one in the reported URL. */
  users: z.record(z.string(), z.string()),
  currentUser: z.string(),
  pid: z.number().int().positive().optional(),
  /** Set once the instance first answered; until then a failed start may move it to another port. */
  everReady: z.boolean().optional(),
  certificate: z.object({ notAfter: z.string(), fingerprint: z.string() }).optional(),
});
export type InstanceState = z.infer<typeof InstanceStateSchema>;

export interface InstancePaths {
  dir: string;
  state: string;
  conf: string;
  acl: string;
  cert: string;
  key: string;
  ca: string;
  log: string;
  /** Written by redis-server itself, so a process the agent died before recording is found. */
  pid: string;
}

export function instancePaths(root: string, uuid: string): InstancePaths {
  const dir = join(root, uuid);
  return {
    dir,
    state: join(dir, 'state.json'),
    conf: join(dir, 'redis.conf'),
    acl: join(dir, 'users.acl'),
    cert: join(dir, 'tls.crt'),
    key: join(dir, 'tls.key'),
    ca: join(dir, 'ca.pem'),
    log: join(dir, 'redis.log'),
    pid: join(dir, 'redis.pid'),
  };
}

/** Atomic write (temp + rename) so a crash never leaves half a file, mode 0600. */
export async function writePrivate(path: string, content: string): Promise<void> {
  const tmp = `${path}.tmp`;
  await writeFile(tmp, content, { mode: 0o600 });
  await rename(tmp, path);
}

export async function readState(paths: InstancePaths): Promise<InstanceState | undefined> {
  if (!existsSync(paths.state)) return undefined;
  return InstanceStateSchema.parse(JSON.parse(await readFile(paths.state, 'utf8')));
}

export async function writeState(paths: InstancePaths, state: InstanceState): Promise<void> {
  await mkdir(paths.dir, { recursive: true, mode: 0o700 });
  await writePrivate(paths.state, JSON.stringify(state, null, 2));
}

export async function listInstanceIds(root: string): Promise<string[]> {
  if (!existsSync(root)) return [];
  const entries = await readdir(root, { withFileTypes: true });
  return entries
    .filter((e) => e.isDirectory() && existsSync(join(root, e.name, 'state.json')))
    .map((e) => e.name);
}

/** ACL file with password hashes only; the default user is disabled. */
export function renderAcl(state: InstanceState): string {
  const lines = ['user default off nopass nocommands'];
  for (const [name, password] of Object.entries(state.users)) {
    const hash = createHash('sha256').update(password).digest('hex');
    lines.push(`user ${name} on #${hash} ~* &* +@all`);
  }
  return `${lines.join('\n')}\n`;
}

/** TLS only: the plaintext port is 0; clients need not present certificates. */
export function renderConf(state: InstanceState, paths: InstancePaths): string {
  return [
    'port 0',
    `tls-port ${state.port}`,
    'bind 127.0.0.1 -::1',
    `tls-cert-file ${paths.cert}`,
    `tls-key-file ${paths.key}`,
    `tls-ca-cert-file ${paths.ca}`,
    'tls-auth-clients no',
    `maxmemory ${state.memoryMb}mb`,
    `aclfile ${paths.acl}`,
    `dir ${paths.dir}`,
    'dbfilename dump.rdb',
    'save 60 1',
    'daemonize no',
    `pidfile ${paths.pid}`,
    `logfile ${paths.log}`,
    '',
  ].join('\n');
}

/**
 * After a deprovision, the generation it ran at: a provision of that generation or older
 * arriving late (a retry that lost the race) must not bring the instance back.
 */
export async function readTombstone(root: string, uuid: string): Promise<number | undefined> {
  const path = join(root, '.deprovisioned', uuid);
  if (!existsSync(path)) return undefined;
  return Number(await readFile(path, 'utf8'));
}

export async function writeTombstone(
  root: string,
  uuid: string,
  generation: number,
): Promise<void> {
  await mkdir(join(root, '.deprovisioned'), { recursive: true, mode: 0o700 });
  await writeFile(join(root, '.deprovisioned', uuid), String(generation));
}
