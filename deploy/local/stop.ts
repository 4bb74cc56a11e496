/**
 * `npm run stop`: stops the stack `npm start` runs (from .local/stack.json) and every instance
 * server its agent left running (Ctrl-C leaves them on purpose, so a restarted agent re-adopts
 * them). `npm run reset` (`--reset`) then also deletes the stack's data: databases, NATS
 * streams, instances, the simulator's add-ons and the dev secrets.
 */
import { existsSync, readdirSync, readFileSync, readlinkSync, realpathSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  DEFAULT_DATA_DIR,
  localDataDir,
  readLocalStack,
  removeLocalStack,
  type LocalStack,
} from '../../shared/src/local-stack.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ');
  } catch {
    return false;
  }
}

const cmdline = (pid: number): string => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
};

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
async function end(pid: number, graceMs: number): Promise<void> {
  if (!alive(pid)) return;
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (alive(pid)) {
    if (Date.now() > deadline) process.kill(pid, 'SIGKILL');
    await sleep(100);
  }
}

/** What each recorded process must still be running, so a recycled pid is never signalled. */
const EXPECTED: Record<string, string> = {
  postgres: 'postgres',
  nats: 'nats-server',
  'control plane': 'control-plane/src/main.ts',
  'region agent': 'region-agent/src/main.ts',
};

async function stopStack(stack: LocalStack, say: (s: string) => void): Promise<void> {
  if (alive(stack.pid) && cmdline(stack.pid).includes('deploy/local/start')) {
    say(`stopping npm start (pid ${stack.pid})`);
    await end(stack.pid, 30_000);
  }
  // Left behind only when `npm start` itself was killed.
  for (const [name, pid] of Object.entries(stack.pids)) {
    const expected = EXPECTED[name];
    if (!expected || !alive(pid) || !cmdline(pid).includes(expected)) continue;
    say(`stopping the ${name} npm start left behind (pid ${pid})`);
    await end(pid, 10_000);
  }
}

/** Pids a server in `dir` wrote to its pid file, when the process still works in `dir`. */
function instancePid(dir: string): number | undefined {
  for (const name of readdirSync(dir).filter((f) => f.endsWith('.pid'))) {
    const pid = Number.parseInt(readFileSync(join(dir, name), 'utf8').trim(), 10);
    if (!Number.isInteger(pid) || pid <= 0 || !alive(pid)) continue;
    try {
      if (readlinkSync(`/proc/${pid}/cwd`) === realpathSync(dir)) return pid;
    } catch {
      // gone meanwhile, or not ours to inspect
    }
  }
  return undefined;
}

const subdirs = (dir: string): string[] =>
  existsSync(dir)
    ? readdirSync(dir, { withFileTypes: true })
        .filter((d) => d.isDirectory())
        .map((d) => join(dir, d.name))
    : [];

/**
 * Stops every instance server under `<agentDataDir>/<region>/instances/<uuid>` (the local
 * driver's layout); returns how many ran.
 */
export async function stopInstances(agentDataDir: string): Promise<number> {
  const pids = subdirs(agentDataDir)
    .flatMap((region) => subdirs(join(region, 'instances')))
    .map(instancePid)
    .filter((pid): pid is number => pid !== undefined);
  await Promise.all(pids.map((pid) => end(pid, 10_000)));
  return pids.length;
}

/** Deletes the stack's data; a LOCAL_DATA_DIR of one's own loses only what the stack put there. */
function wipe(dataDir: string, say: (s: string) => void): void {
  const entries =
    realpathOr(dataDir) === realpathOr(DEFAULT_DATA_DIR)
      ? [dataDir]
      : ['postgres', 'nats', 'agent', 'heroku-sim', 'stack.json'].map((e) => join(dataDir, e));
  for (const path of entries) rmSync(path, { recursive: true, force: true });
  say(`deleted ${entries.length === 1 ? dataDir : `the stack's data in ${dataDir}`}`);
}

const realpathOr = (p: string): string => (existsSync(p) ? realpathSync(p) : p);

export async function stop(
  env: Record<string, string | undefined>,
  opts: { reset: boolean; say: (s: string) => void },
): Promise<void> {
  const dataDir = localDataDir(env);
  const stack = readLocalStack(dataDir);
  if (stack) await stopStack(stack, opts.say);
  else opts.say(`no running stack recorded in ${dataDir}`);
  const agentDataDir = stack?.agentDataDir ?? env.AGENT_DATA_DIR ?? join(dataDir, 'agent');
  const stopped = await stopInstances(agentDataDir);
  opts.say(`stopped ${stopped} instance server${stopped === 1 ? '' : 's'}`);
  removeLocalStack(dataDir);
  if (opts.reset) wipe(dataDir, opts.say);
}
