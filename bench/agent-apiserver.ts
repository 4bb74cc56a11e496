/**
 * The fake kube-apiserver of `npm run bench:agent`, in a process of its own (as a real
 * apiserver is never in the agent's process), and the CPU time of the processes a phase
 * uses, so the bench can say which of them bounds it.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  startFakeKubeApiServer,
  type KubeCallRecord,
} from '../test/support/fake-kube-apiserver.js';

export interface FakeApiServerProcess {
  url: string;
  pid: number;
  calls(): Promise<KubeCallRecord[]>;
  stop(): Promise<void>;
}

type Reply = { url?: string; calls?: KubeCallRecord[] };

/** Starts this file as a child (under tsx, like the bench) running the fake. */
export async function startFakeApiServerProcess(): Promise<FakeApiServerProcess> {
  const child: ChildProcess = fork(fileURLToPath(import.meta.url), [], {
    env: { ...process.env, BENCH_FAKE_APISERVER_CHILD: '1' },
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const next = (): Promise<Reply> =>
    new Promise((resolve, reject) => {
      child.once('message', (m) => resolve(m as Reply));
      child.once('exit', (code) => reject(new Error(`fake apiserver exited (${code})`)));
    });
  const { url } = await next();
  return {
    url: url!,
    pid: child.pid!,
    async calls() {
      const reply = next();
      child.send('calls');
      return (await reply).calls ?? [];
    },
    async stop() {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** User + system CPU of a process so far, in ms (Linux /proc; 0 elsewhere). */
export function cpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime, stime at 100 Hz
  } catch {
    return 0;
  }
}

/** A process's peak resident set so far (VmHWM), in MB. */
export function peakRssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Math.round(Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024);
}

/** The pid of the nats-server listening on `port` (found by its command line). */
export function natsServerPid(port: number): number | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (cmd[0]?.endsWith('nats-server') && cmd.includes(String(port))) return Number(entry);
    } catch {
      // gone meanwhile
    }
  }
  return undefined;
}

if (process.env.BENCH_FAKE_APISERVER_CHILD) {
  const fake = await startFakeKubeApiServer();
  process.on('message', () => process.send?.({ calls: fake.calls }));
  process.on('SIGTERM', () => void fake.stop().then(() => process.exit(0)));
  process.send?.({ url: fake.url });
}
