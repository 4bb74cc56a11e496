/** Starting, finding and stopping server processes that outlive the agent. */
import { existsSync, readFileSync, readlinkSync, realpathSync } from 'node:fs';
import { basename } from 'node:path';
import { createSpawner, type Spawner } from './spawner.js';

/**
 * True when `pid` is live and runs `bin` (not a recycled pid, not a zombie). Without `bin`,
 * any live process.
 */
export function isServerAlive(pid: number | undefined, bin?: string): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  if (!bin) return true;
  let cmdline: string;
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    // No procfs (macOS): trust the signal probe.
    return true;
  }
  if (cmdline.includes(basename(bin))) return true;
  // redis-server sets its title by rewriting argv in place, which reads as all NULs for a
  // moment: a blank command line of a live (non-zombie) process is that, not another program.
  return /^\0*$/.test(cmdline) && !isZombie(pid);
}

function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return /^[ZX]/.test(stat.slice(stat.lastIndexOf(')') + 2));
  } catch {
    return true;
  }
}

/**
 * True when `pid` is a live `bin` working in `dir` (the instance's directory): a pid recycled
 * by another instance's server, after a reboot or from a stale pid file, is not it.
 */
export function isInstanceProcess(pid: number | undefined, dir: string, bin: string): boolean {
  if (!isServerAlive(pid, bin)) return false;
  // No procfs (macOS): trust the signal probe.
  if (!existsSync('/proc/self/cwd')) return true;
  try {
    return readlinkSync(`/proc/${pid}/cwd`) === realpathSync(dir);
  } catch {
    return false;
  }
}

/** The pid a server wrote to its pid file, if the file is there. */
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
 * the instance's directory, so it is recognisable before it reads its config. Forked by the
 * spawning shell, not the agent (`spawner.ts`).
 */
export function spawnServer(
  command: { bin: string; args: string[] },
  cwd: string,
): Promise<number> {
  spawner ??= createSpawner();
  return spawner.spawn(command, cwd);
}

let spawner: Spawner | undefined;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function stopServer(
  pid: number | undefined,
  bin: string,
  timeoutMs = 10_000,
): Promise<void> {
  if (!isServerAlive(pid, bin) || !pid) return;
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + timeoutMs;
  while (isServerAlive(pid, bin)) {
    if (Date.now() > deadline) {
      process.kill(pid, 'SIGKILL');
      await sleep(100);
      return;
    }
    await sleep(50);
  }
}
