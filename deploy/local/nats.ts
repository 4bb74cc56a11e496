/** A private nats-server with JetStream on a free loopback port (like nats.js's test harness). */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { requireBinary } from '../../shared/src/binaries.js';
import { stopChild } from './postgres.js';
import { canConnect, freePort, waitFor } from '../../shared/src/ports.js';

export interface NatsServer {
  port: number;
  pid?: number;
  url: string;
  stop(): Promise<void>;
}

export async function startNats(
  storeDir: string,
  log: (line: string) => void = () => {},
): Promise<NatsServer> {
  const bin = requireBinary('nats-server', log);
  mkdirSync(storeDir, { recursive: true });
  const port = await freePort();
  const child: ChildProcess = spawn(
    bin,
    ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', storeDir],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
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
        if (exited) throw new Error('nats-server exited');
        return canConnect(port);
      },
      'nats-server',
      15_000,
    );
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(`nats-server did not start: ${(err as Error).message}\n${stderr}`, {
      cause: err,
    });
  }
  return { port, pid: child.pid, url: `nats://127.0.0.1:${port}`, stop: () => stopChild(child) };
}
