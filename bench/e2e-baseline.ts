/**
 * The e2e bench's bare baseline: redis-server started as an instance is (the engine's own
 * config: TLS only, an append-only file, its ACL users), straight from this process with no
 * agent, control plane or queue, each timed until it answers AUTH and PING over verified TLS.
 * Ten of them at once is what ten provisions at once cannot beat on this machine, whatever
 * the control plane and the agent do.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { createRedisEngine } from '../region-agent/src/engines/redis/engine.js';
import { redisReadyOn } from '../region-agent/src/engines/redis/ready-on.js';
import { createPrivateCa } from '../region-agent/src/tls/private-ca.js';
import { freePort } from '../shared/src/ports.js';
import { round } from './load.js';

export interface Baseline {
  /** p50 and max, over every server of every round, of spawn → first verified answer. */
  p50Ms: number;
  maxMs: number;
  servers: number;
}

const engine = createRedisEngine();
const USER = 'u1';

interface Tls {
  cert: string;
  key: string;
  ca: string;
  caPem: string;
}

async function leafFiles(dir: string): Promise<Tls> {
  const issuer = createPrivateCa({ dir: join(dir, 'ca'), region: 'baseline' });
  const leaf = await issuer.issue('baseline', ['localhost', '127.0.0.1']);
  const files = { cert: join(dir, 'tls.crt'), key: join(dir, 'tls.key'), ca: join(dir, 'ca.pem') };
  writeFileSync(files.cert, leaf.certPem);
  writeFileSync(files.key, leaf.keyPem, { mode: 0o600 });
  writeFileSync(files.ca, leaf.caPem);
  return { ...files, caPem: leaf.caPem };
}

/** One server's files in its own directory; returns how to start it and where it listens. */
async function prepare(
  dir: string,
  tls: Tls,
  password: string,
): Promise<{ bin: string; args: string[]; cwd: string; port: number }> {
  const cwd = join(dir, randomUUID());
  mkdirSync(cwd);
  const port = await freePort();
  const layout = {
    port,
    bind: ['127.0.0.1'],
    configDir: cwd,
    dataDir: cwd,
    tls: { cert: tls.cert, key: tls.key, ca: tls.ca },
    pidFile: join(cwd, 'redis.pid'),
    logFile: join(cwd, 'redis.log'),
  };
  const instance = {
    uuid: randomUUID(),
    size: { memoryMb: 32 },
    users: { [USER]: password },
    currentUser: USER,
  };
  for (const [name, content] of Object.entries(engine.configFiles(instance, layout)))
    writeFileSync(join(cwd, name), content, { mode: 0o600 });
  return { ...engine.process(layout), cwd, port };
}

/** True once the server completes a verified handshake and answers AUTH and PING. */
function answers(port: number, ca: string, password: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s: TLSSocket = tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', ca });
    s.once('secureConnect', () => {
      void redisReadyOn(s, { user: USER, password }).then((ok) => {
        s.destroy();
        resolve(ok);
      });
    });
    s.once('error', () => {
      s.destroy();
      resolve(false);
    });
  });
}

async function timeToAnswer(start: ChildProcess, t0: number, port: number, tls: Tls, pw: string) {
  for (;;) {
    if (await answers(port, tls.caPem, pw)) return performance.now() - t0;
    if (start.exitCode !== null) throw new Error('baseline redis-server exited');
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** `rounds` rounds of `concurrency` servers started together; every server's time counts. */
export async function bareRedisStarts(
  dir: string,
  concurrency: number,
  rounds: number,
): Promise<Baseline> {
  mkdirSync(dir, { recursive: true });
  const tls = await leafFiles(dir);
  const times: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const password = randomBytes(12).toString('hex');
    const servers = await Promise.all(
      Array.from({ length: concurrency }, () => prepare(dir, tls, password)),
    );
    const children: ChildProcess[] = [];
    try {
      times.push(
        ...(await Promise.all(
          servers.map((s) => {
            const t0 = performance.now();
            const child = spawn(s.bin, s.args, { cwd: s.cwd, stdio: 'ignore' });
            children.push(child);
            return timeToAnswer(child, t0, s.port, tls, password);
          }),
        )),
      );
    } finally {
      for (const c of children) c.kill('SIGKILL');
      for (const s of servers) rmSync(s.cwd, { recursive: true, force: true });
    }
  }
  rmSync(dir, { recursive: true, force: true });
  const sorted = [...times].sort((a, b) => a - b);
  return {
    p50Ms: round(sorted[Math.floor(sorted.length / 2)] ?? 0),
    maxMs: round(sorted.at(-1) ?? 0),
    servers: sorted.length,
  };
}
