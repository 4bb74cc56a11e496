/**
 * End-to-end provision latency with the local driver: Heroku's POST → the provision action
 * seen by the Heroku simulator (async path), at 1, 10 and 50 concurrent provisions.
 * Also prints the region agent's local-driver provision latency per job.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { createHerokuSim } from '../test/heroku-sim/index.js';
import { startNats } from '../deploy/local/nats.js';
import { startPostgres, stopChild } from '../deploy/local/postgres.js';
import { freePort, waitFor } from '../shared/src/ports.js';
import { round } from './load.js';
import { readDevManifest } from '../control-plane/src/config.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const manifest = readDevManifest();
const auth = { id: manifest.id, password: manifest.api.password };
const say = (s: string): void => void process.stdout.write(`${s}\n`);
const rounds = Number(process.env.BENCH_E2E_ROUNDS ?? 3);

function tsx(script: string, env: Record<string, string>): ChildProcess {
  return spawn(process.execPath, [join(root, 'node_modules/tsx/dist/cli.mjs'), script], {
    cwd: root,
    env: { ...process.env, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

const pct = (xs: number[], p: number): number =>
  round([...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))] ?? 0);

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'cp-bench-e2e-'));
  chmodSync(dir, 0o755);
  const pgServer = await startPostgres(join(dir, 'pg'));
  const nats = await startNats(join(dir, 'nats'));
  const sim = await createHerokuSim();
  const admin = new pg.Client({ connectionString: pgServer.url() });
  await admin.connect();
  await admin.query('create database e2e');
  await admin.end();
  const port = await freePort();
  const children = [
    tsx('control-plane/src/main.ts', {
      DATABASE_URL: pgServer.url('e2e'),
      NATS_URL: nats.url,
      PORT: String(port),
      HOST: '127.0.0.1',
      SYNC_BUDGET_MS: '0',
      HEROKU_API_URL: sim.url,
      HEROKU_ID_URL: sim.url,
      PRIVATE_SPACE_LOOKUP: 'assume-common-runtime',
    }),
    tsx('region-agent/src/main.ts', {
      NATS_URL: nats.url,
      AGENT_REGION: 'us-east',
      AGENT_DRIVER: 'local',
      AGENT_DATA_DIR: join(dir, 'agent'),
      AGENT_CONCURRENCY: '16',
      HEALTH_PORT: '0',
    }),
  ];
  const cp = `http://127.0.0.1:${port}`;
  try {
    await waitFor(async () => (await fetch(`${cp}/readyz`)).ok, 'control plane', 60_000, 200);
    const results: Record<string, unknown> = {};
    const uuids: string[] = [];
    for (const concurrency of [1, 10, 50]) {
      const latencies: number[] = [];
      for (let r = 0; r < rounds; r++) {
        await Promise.all(
          Array.from({ length: concurrency }, async () => {
            const body = sim.createAddon({ plan: 'standard', region: 'us' });
            uuids.push(body.uuid);
            const t0 = performance.now();
            const res = await sim.provision(cp, body, auth);
            if (res.status !== 202 && res.status !== 200)
              throw new Error(`provision answered ${res.status}`);
            await waitFor(
              () => sim.provisionActionCount(body.uuid) >= 1 || res.status === 200,
              'provision action',
              60_000,
              5,
            );
            latencies.push(performance.now() - t0);
          }),
        );
      }
      results[`concurrency${concurrency}`] = {
        provisions: latencies.length,
        p50Ms: pct(latencies, 0.5),
        p99Ms: pct(latencies, 0.99),
        maxMs: pct(latencies, 1),
      };
      say(
        `  ${String(concurrency).padStart(2)} concurrent: ${latencies.length} provisions, p50 ${pct(latencies, 0.5)} ms, p99 ${pct(latencies, 0.99)} ms`,
      );
    }
    say(`  cleaning up ${uuids.length} instances…`);
    await Promise.all(uuids.map((u) => sim.deprovision(cp, u, auth)));
    const r10 = results.concurrency10 as { p50Ms: number; p99Ms: number };
    const report = {
      benchmark: 'e2e-provision-latency',
      at: new Date().toISOString(),
      driver: 'local',
      rounds,
      results,
      targets: { p50Ms: 300, p99Ms: 1000, at: 'concurrency10' },
      met: { p50: r10.p50Ms <= 300, p99: r10.p99Ms <= 1000 },
    };
    mkdirSync(join(root, 'bench/results'), { recursive: true });
    writeFileSync(
      join(root, 'bench/results/e2e-provision-latency.json'),
      `${JSON.stringify(report, null, 2)}\n`,
    );
    say('written to bench/results/e2e-provision-latency.json');
    await new Promise((r) => setTimeout(r, 3000));
  } finally {
    await Promise.all(children.map((c) => stopChild(c, 'SIGTERM')));
    await sim.close();
    await nats.stop();
    await pgServer.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

export { main as runE2eBench };
