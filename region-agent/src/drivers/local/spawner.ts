/**
 * Starts server processes from a worker thread. `child_process.spawn` forks the whole agent
 * (page tables of a 200 MB process) and blocks the calling thread for 2–12 ms; on the
 * agent's thread that stalled every other job's TLS handshakes and NATS traffic while ten
 * instances started. The worker blocks instead; the children are the same detached
 * processes, in their own session, outliving the agent.
 */
import { Worker } from 'node:worker_threads';

export interface Spawner {
  /** The new process's pid; rejects when it could not be started. */
  spawn(command: { bin: string; args: string[] }, cwd: string): Promise<number>;
}

type Reply = { id: number; pid?: number; error?: string };

// Plain CommonJS: a worker started from source needs no loader (tsx, jest) to run it.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { spawn } = require('node:child_process');
parentPort.on('message', ({ id, bin, args, cwd }) => {
  try {
    const child = spawn(bin, args, { cwd, detached: true, stdio: 'ignore' });
    child.on('error', () => {});
    child.unref();
    parentPort.postMessage(child.pid ? { id, pid: child.pid } : { id, error: bin + ' did not start' });
  } catch (err) {
    parentPort.postMessage({ id, error: String(err && err.message || err) });
  }
});
`;

export function createSpawner(): Spawner {
  let worker: Worker | undefined;
  let next = 0;
  const waiting = new Map<number, { resolve(pid: number): void; reject(err: Error): void }>();

  function failAll(err: Error): void {
    for (const w of waiting.values()) w.reject(err);
    waiting.clear();
    worker = undefined;
  }

  function started(): Worker {
    if (worker) return worker;
    const w = new Worker(WORKER_SOURCE, { eval: true });
    w.on('message', (reply: Reply) => {
      const entry = waiting.get(reply.id);
      waiting.delete(reply.id);
      if (waiting.size === 0) w.unref();
      if (reply.pid) entry?.resolve(reply.pid);
      else entry?.reject(new Error(reply.error ?? 'spawn failed'));
    });
    w.on('error', (err) => failAll(err));
    w.on('exit', () => failAll(new Error('spawner thread exited')));
    worker = w;
    return w;
  }

  return {
    spawn(command, cwd): Promise<number> {
      const w = started();
      const id = ++next;
      return new Promise((resolve, reject) => {
        waiting.set(id, { resolve, reject });
        // Held open only while a spawn is pending: an idle agent can still exit.
        w.ref();
        w.postMessage({ id, bin: command.bin, args: command.args, cwd });
      });
    },
  };
}
