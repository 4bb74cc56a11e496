/**
 * The local stack's connection settings: `npm start` writes them to `<data dir>/stack.json`
 * (mode 0600, under the git-ignored .local/), and the project's commands (operator,
 * heroku-sim) fill the variables their environment leaves unset from it. No secrets beyond
 * the local stack's own (trust-auth Postgres, NATS without users) are written there.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

/** `<repo>/.local` (from this file's place in the checkout). */
export const DEFAULT_DATA_DIR = fileURLToPath(new URL('../../.local', import.meta.url));

export const LocalStackSchema = z.object({
  version: z.literal(1),
  /** The `npm start` process. */
  pid: z.number().int().positive(),
  startedAt: z.string(),
  /** What a command of the project needs to reach the stack, as env variables. */
  env: z.record(z.string(), z.string()),
  urls: z.object({
    controlPlane: z.string(),
    /** The local agent's health port: /livez, /readyz, /metrics. */
    regionAgent: z.string().optional(),
    herokuFront: z.string().optional(),
    herokuSim: z.string().optional(),
  }),
  /** Processes the stack started, so `npm run stop` can end them if `npm start` died. */
  pids: z.record(z.string(), z.number().int().positive()),
  agentDataDir: z.string(),
});
export type LocalStack = z.infer<typeof LocalStackSchema>;

/** The stack's data dir: LOCAL_DATA_DIR, else `<repo>/.local`. */
export function localDataDir(env: Record<string, string | undefined>): string {
  return env.LOCAL_DATA_DIR || DEFAULT_DATA_DIR;
}

export const stackFile = (dataDir: string): string => join(dataDir, 'stack.json');

export function writeLocalStack(dataDir: string, stack: LocalStack): string {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const path = stackFile(dataDir);
  writeFileSync(`${path}.tmp`, `${JSON.stringify(stack, null, 2)}\n`, { mode: 0o600 });
  renameSync(`${path}.tmp`, path);
  return path;
}

/** The settings of the stack last started from `dataDir`; undefined when there are none. */
export function readLocalStack(dataDir: string): LocalStack | undefined {
  const path = stackFile(dataDir);
  if (!existsSync(path)) return undefined;
  const parsed = LocalStackSchema.safeParse(JSON.parse(readFileSync(path, 'utf8')));
  if (!parsed.success) throw new Error(`${path} is not a stack settings file: delete it`);
  return parsed.data;
}

export function removeLocalStack(dataDir: string): void {
  rmSync(stackFile(dataDir), { force: true });
}

export interface StackEnv {
  env: Record<string, string | undefined>;
  /** The settings file the unset variables came from, if one was used. */
  from?: string;
  stack?: LocalStack;
}

/**
 * `env` with every variable it leaves unset (or empty) taken from the running stack's
 * settings file. Set variables always win, so a command can still be pointed elsewhere.
 */
export function withLocalStack(env: Record<string, string | undefined>): StackEnv {
  const dataDir = localDataDir(env);
  const stack = readLocalStack(dataDir);
  if (!stack) return { env };
  const filled = Object.entries(stack.env).filter(([k]) => !env[k]);
  if (filled.length === 0) return { env, stack };
  return { env: { ...env, ...Object.fromEntries(filled) }, from: stackFile(dataDir), stack };
}
