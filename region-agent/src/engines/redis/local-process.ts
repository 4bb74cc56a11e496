/** Starting, finding and stopping redis-server processes that outlive the agent. */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
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

/** Detached so instances survive an agent restart; the agent re-adopts them by pid. */
export function spawnRedis(bin: string, confPath: string): number {
  const child = spawn(bin, [confPath], { detached: true, stdio: 'ignore' });
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
