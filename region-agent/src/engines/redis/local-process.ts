/** Starting, finding and stopping redis-server processes that outlive the agent. */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readlinkSync, realpathSync } from 'node:fs';
import { dirname } from 'node:path';
import { connect } from 'node:net';

/** True when `pid` is a live redis-server (not a recycled pid, not a zombie). */
export function isRedisAlive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('redis-server');
  } catch {
    // No procfs (macOS): trust the signal probe.
    return true;
  }
}

/**
 * True when `pid` is a live redis-server working in `dir` (the instance's directory): a pid
 * recycled by another instance's redis, after a reboot or from a stale pid file, is not it.
 */
export function isInstanceRedis(pid: number | undefined, dir: string): boolean {
  if (!isRedisAlive(pid)) return false;
  // No procfs (macOS): trust the signal probe.
  if (!existsSync('/proc/self/cwd')) return true;
  try {
    return readlinkSync(`/proc/${pid}/cwd`) === realpathSync(dir);
  } catch {
    return false;
  }
}

/** The pid redis-server wrote to its `pidfile`, if the file is there. */
export function readPidFile(path: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(path, 'utf8').trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Detached so instances survive an agent restart; the agent re-adopts them by pid. Started in
 * the config's directory (the instance's), so it is recognisable before it reads its config.
 */
export function spawnRedis(bin: string, confPath: string): number {
  const child = spawn(bin, [confPath], { cwd: dirname(confPath), detached: true, stdio: 'ignore' });
  child.on('error', () => {
    // reported through the readiness timeout
  });
  child.unref();
  if (!child.pid) throw new Error('redis-server did not start');
  return child.pid;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function stopRedis(pid: number | undefined, timeoutMs = 10_000): Promise<void> {
  if (!isRedisAlive(pid) || !pid) return;
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + timeoutMs;
  while (isRedisAlive(pid)) {
    if (Date.now() > deadline) {
      process.kill(pid, 'SIGKILL');
      await sleep(100);
      return;
    }
    await sleep(50);
  }
}

export function isPortOpen(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, host);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
