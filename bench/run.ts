/**
 * `npm run bench`: provision acceptance on the async path (SYNC_BUDGET_MS=0) against the real
 * control plane, and in the same run the ceiling of a bare handler (auth + INSERT + publish).
 * Results go to bench/results/provision-acceptance.json. BENCH_SECONDS sets the duration.
 * Then the e2e latency bench (bench/e2e.ts) and the region agent bench (bench/agent.ts) run;
 * BENCH_SKIP_E2E=1 / BENCH_SKIP_AGENT=1 leave them out.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync, chmodSync, rmSync } from 'node:fs';
import { tmpdir, cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { startNats } from '../deploy/local/nats.js';
import { startPostgres, stopChild } from '../deploy/local/postgres.js';
import { freePort, waitFor } from '../shared/src/ports.js';
import { runLoad, type LoadResult } from './load.js';
import { runE2eBench } from './e2e.js';
import { runAgentBench } from './agent.js';
import { createHerokuSim, type HerokuSim } from '../test/heroku-sim/index.js';
import { readDevManifest } from '../control-plane/src/config.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const seconds = Number(process.env.BENCH_SECONDS ?? 20);
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 32);
const manifest = readDevManifest();
const AUTH = `${manifest.id}:${manifest.api.password}`;
const say = (s: string): void => void process.stdout.write(`${s}\n`);

function peakRssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return Math.round(kb / 1024);
}

async function spawnServer(
  script: string,
  env: Record<string, string>,
  port: number,
): Promise<ChildProcess> {
  const child = spawn(process.execPath, [join(root, 'node_modules/tsx/dist/cli.mjs'), script], {
    cwd: root,
    env: {
      ...process.env,
      NODE_OPTIONS: process.env.BENCH_NODE_OPTIONS ?? '',
      ...env,
      PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  await waitFor(
    async () => {
      const r = await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined);
      return r !== undefined;
    },
    script,
    60_000,
    200,
  );
  return child;
}

let sim: HerokuSim | undefined;

/** Each provision carries a real grant from the simulator, so the grant exchange it triggers succeeds. */
function provisionRequest() {
  const body = sim
    ? sim.createAddon({ plan: 'standard', region: 'us' })
    : {
        uuid: randomUUID(),
        plan: 'standard',
        region: 'amazon-web-services::us-east-1',
        name: 'bench',
      };
  return {
    method: 'POST',
    path: '/heroku/resources',
    headers: {
      Authorization: `Basic ${Buffer.from(AUTH).toString('base64')}`,
      'Content-Type': 'application/json',
    },
    body: JSON.stringify(body),
  };
}

async function measure(
  name: string,
  url: string,
  pid: number,
): Promise<LoadResult & { peakRssMb: number }> {
  say(`\n▶ ${name}: ${concurrency} concurrent for ${seconds}s`);
  await runLoad({ url, concurrency, seconds: 2, makeRequest: provisionRequest }); // warm-up
  const result = await runLoad({
    url,
    concurrency,
    seconds,
    makeRequest: provisionRequest,
    onProgress: (done, t) =>
      say(`  ${t.toFixed(0).padStart(3)}s  ${done} requests  (${Math.round(done / t)} req/s)`),
  });
  const out = { ...result, peakRssMb: peakRssMb(pid) };
  say(
    `  → ${out.rps} req/s, p50 ${out.p50Ms} ms, p99 ${out.p99Ms} ms, errors ${out.errors}, peak RSS ${out.peakRssMb} MB`,
  );
  return out;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'cp-bench-'));
  chmodSync(dir, 0o755);
  say('starting private PostgreSQL and nats-server…');
  const pgServer = await startPostgres(join(dir, 'pg'));
  const nats = await startNats(join(dir, 'nats'));
  const admin = new pg.Client({ connectionString: pgServer.url() });
  await admin.connect();
  await admin.query('create database bench');
  await admin.query('create database bare');
  await admin.end();
  try {
    const port = await freePort();
    sim = await createHerokuSim();
    const plane = await spawnServer(
      'control-plane/src/main.ts',
      {
        DATABASE_URL: pgServer.url('bench'),
        NATS_URL: nats.url,
        SYNC_BUDGET_MS: '0',
        DATABASE_POOL_MAX: '20',
        HEROKU_API_URL: sim.url,
        HEROKU_ID_URL: sim.url,
        PRIVATE_SPACE_LOOKUP: 'assume-common-runtime',
      },
      port,
    );
    const acceptance = await measure(
      'control plane provision acceptance (async path)',
      `http://127.0.0.1:${port}`,
      plane.pid!,
    );
    await stopChild(plane, 'SIGTERM');
    await sim.close();

    const barePort = await freePort();
    const bare = await spawnServer(
      'bench/bare-handler.ts',
      { DATABASE_URL: pgServer.url('bare'), NATS_URL: nats.url, AUTH },
      barePort,
    );
    const ceiling = await measure(
      'bare handler ceiling (auth + INSERT + publish)',
      `http://127.0.0.1:${barePort}`,
      bare.pid!,
    );
    await stopChild(bare, 'SIGTERM');

    const ratio = Math.round((acceptance.rps / ceiling.rps) * 1000) / 10;
    const report = {
      benchmark: 'provision-acceptance',
      at: new Date().toISOString(),
      machine: {
        cpus: cpus().length,
        memGb: Math.round(totalmem() / 2 ** 30),
        node: process.version,
      },
      concurrency,
      seconds,
      controlPlane: acceptance,
      bareHandler: ceiling,
      ratioOfCeilingPercent: ratio,
      targets: { rps: 1000, p99Ms: 50, ratioPercent: 60 },
      met: { rps: acceptance.rps >= 1000, p99: acceptance.p99Ms <= 50, ratio: ratio >= 60 },
    };
    mkdirSync(join(root, 'bench/results'), { recursive: true });
    writeFileSync(
      join(root, 'bench/results/provision-acceptance.json'),
      `${JSON.stringify(report, null, 2)}\n`,
    );
    say(`\nratio: control plane reaches ${ratio}% of the bare-handler ceiling`);
    say('written to bench/results/provision-acceptance.json');
  } finally {
    await nats.stop();
    await pgServer.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
if (process.env.BENCH_SKIP_E2E !== '1') {
  say(
    '\n▶ end-to-end provision latency (local driver, POST → provision action at the Heroku simulator)',
  );
  await runE2eBench();
}
if (process.env.BENCH_SKIP_AGENT !== '1') {
  say(
    '\n▶ region agent alone (kubernetes driver on the fake apiserver, local driver with real redis)',
  );
  await runAgentBench();
}
