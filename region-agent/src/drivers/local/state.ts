/** On-disk state of one local instance: state.json, the engine's config files, TLS files. */
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import type { EngineInstance, ServerLayout } from '../../engines/engine.js';
import { LEGACY_ENGINE } from '../../engines/index.js';

export const InstanceStateSchema = z.object({
  uuid: z.uuid(),
  engine: z.string().default(LEGACY_ENGINE),
  plan: z.string(),
  generation: z.number().int().nonnegative(),
  memoryMb: z.number().int().positive(),
  port: z.number().int().positive(),
  prefix: z.string(),
  /** Users (name → password); `currentUser` is the one in the reported URL. */
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
  cert: string;
  key: string;
  ca: string;
  log: string;
  /** Written by the server itself, so a process the agent died before recording is found. */
  pid: string;
}

export function instancePaths(root: string, uuid: string, engine: string): InstancePaths {
  const dir = join(root, uuid);
  return {
    dir,
    state: join(dir, 'state.json'),
    cert: join(dir, 'tls.crt'),
    key: join(dir, 'tls.key'),
    ca: join(dir, 'ca.pem'),
    log: join(dir, `${engine}.log`),
    pid: join(dir, `${engine}.pid`),
  };
}

/** Everything in the instance's directory, on loopback only. */
export function layoutOf(paths: InstancePaths, state: InstanceState): ServerLayout {
  return {
    port: state.port,
    bind: ['127.0.0.1', '-::1'],
    configDir: paths.dir,
    dataDir: paths.dir,
    tls: { cert: paths.cert, key: paths.key, ca: paths.ca },
    pidFile: paths.pid,
    logFile: paths.log,
  };
}

export const engineInstance = (state: InstanceState): EngineInstance => ({
  uuid: state.uuid,
  size: { memoryMb: state.memoryMb },
  users: state.users,
  currentUser: state.currentUser,
});

/** Atomic write (temp + rename) so a crash never leaves half a file, mode 0600. */
export async function writePrivate(path: string, content: string): Promise<void> {
  const tmp = `${path}.tmp`;
  await writeFile(tmp, content, { mode: 0o600 });
  await rename(tmp, path);
}

export async function readState(root: string, uuid: string): Promise<InstanceState | undefined> {
  const path = join(root, uuid, 'state.json');
  if (!existsSync(path)) return undefined;
  return InstanceStateSchema.parse(JSON.parse(await readFile(path, 'utf8')));
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
