/**
 * A private PostgreSQL server: initdb into a directory, start on a free loopback port,
 * trust auth. Used by `npm start` and by the tests; never touches the system service.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { requireBinary, isRoot } from '../../shared/src/binaries.js';
import { canConnect, freePort, waitFor } from '../../shared/src/ports.js';

export interface PostgresServer {
  port: number;
  pid?: number;
  url(database?: string): string;
  stop(): Promise<void>;
}

/** initdb and postgres refuse to run as root: run them as the postgres user then. */
function owner(): { uid?: number; gid?: number } {
  if (!isRoot()) return {};
  const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
  return { uid, gid };
}

function prepareDir(dir: string): void {
  // Parents must be traversable by the postgres user; the data dir itself is private.
  const parent = dirname(dir);
  mkdirSync(parent, { recursive: true, mode: 0o755 });
  // .local may already exist private (0700, made by the dev secrets of a test run): the
  // postgres user still needs to pass through it, not to list it.
  if (isRoot()) chmodSync(parent, (statSync(parent).mode & 0o777) | 0o011);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const { uid, gid } = owner();
  if (uid !== undefined && gid !== undefined) chownSync(dir, uid, gid);
}

export async function startPostgres(
  dataDir: string,
  log: (line: string) => void = () => {},
  /** Extra server settings (name=value), after ours. */
  settings: readonly string[] = [],
): Promise<PostgresServer> {
  const initdb = requireBinary('initdb', log);
  const postgres = requireBinary('postgres', log);
  prepareDir(dataDir);
  if (!existsSync(`${dataDir}/PG_VERSION`)) {
    execFileSync(
      initdb,
      ['-D', dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync'],
      {
        stdio: 'ignore',
        ...owner(),
      },
    );
  }
  const port = await freePort();
  const args = [
    '-D',
    dataDir,
    '-p',
    String(port),
    '-k',
    dataDir,
    '-c',
    'listen_addresses=127.0.0.1',
    '-c',
    'fsync=off',
    '-c',
    'synchronous_commit=off',
    '-c',
    'full_page_writes=off',
    '-c',
    'max_connections=300',
    ...settings.flatMap((setting) => ['-c', setting]),
  ];
  const child: ChildProcess = spawn(postgres, args, {
    stdio: ['ignore', 'ignore', 'pipe'],
    ...owner(),
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  let exited = false;
  child.on('exit', () => {
    exited = true;
  });
  try {
    await waitFor(
      () => {
        if (exited) throw new Error(`postgres exited: ${stderr}`);
        return canConnect(port);
      },
      'postgres',
      30_000,
    );
    // The socket accepts before recovery finishes; wait until queries work.
    await waitFor(() => ready(port), 'postgres ready', 30_000, 100);
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(`postgres did not start: ${(err as Error).message}\n${stderr}`, { cause: err });
  }
  return {
    port,
    pid: child.pid,
    url: (database = 'postgres') => `postgres://postgres@127.0.0.1:${port}/${database}`,
    stop: () => stopChild(child),
  };
}

async function ready(port: number): Promise<boolean> {
  const pg = await import('pg');
  const client = new pg.default.Client({
    connectionString: `postgres://postgres@127.0.0.1:${port}/postgres`,
  });
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } finally {
    await client.end().catch(() => undefined);
  }
}

export function stopChild(
  child: ChildProcess,
  signal: NodeJS.Signals = 'SIGINT',
  graceMs = 10_000,
): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill(signal);
  });
}
