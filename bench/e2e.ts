/**
 * End-to-end provision latency with the local driver: Heroku's POST → the provision action
 * seen by the Heroku simulator (async path), at 1, 10 and 50 concurrent provisions. A NATS
 * subscriber stamps when each job and its final result pass, so every figure is split into
 * control plane before the agent (accept + dispatch), the agent (job → final result, real
 * redis-server over verified TLS), and control plane after it (result → provision action); the
 * agent's stage by its progress steps; beside them, the bare baseline of redis-server started
 * alone (e2e-baseline.ts). BENCH_AGENT_NODE_ARGS adds node options to the agent
 * (say --cpu-prof --cpu-prof-dir=…).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect } from 'nats';
import pg from 'pg';
import { ResultSchema, decodeMessage } from '../shared/src/messages.js';
import { createHerokuSim, type HerokuSim } from '../test/heroku-sim/index.js';
import { startNats } from '../deploy/local/nats.js';
import { startPostgres, stopChild } from '../deploy/local/postgres.js';
import { freePort, waitFor } from '../shared/src/ports.js';
import { buildDist, controlPlaneImageNodeOptions } from './dist.js';
import { bareRedisStarts, type Baseline } from './e2e-baseline.js';
import { round } from './load.js';
import { readDevManifest } from '../control-plane/src/config.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const manifest = readDevManifest();
const auth = { id: manifest.id, password: manifest.api.password };
const say = (s: string): void => void process.stdout.write(`${s}\n`);
const rounds = Number(process.env.BENCH_E2E_ROUNDS ?? 3);
/** Concurrency levels to measure (BENCH_E2E_LEVELS=1,10 when investigating: nothing is written). */
const levels = (process.env.BENCH_E2E_LEVELS ?? '1,10,50').split(',').map(Number);
const allLevels = levels.join(',') === '1,10,50';

/** The control plane and the agent run compiled (dist/), as in their images. */
function node(script: string, env: Record<string, string>, nodeArgs = ''): ChildProcess {
  return spawn(process.execPath, [...nodeArgs.split(' ').filter(Boolean), script], {
    cwd: root,
    env: { ...process.env, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

/** When NATS carried each uuid's job, each of the agent's progress steps, and its final result. */
interface Seen {
  job: Map<string, number>;
  result: Map<string, number>;
  /** uuid → the agent's steps in the order they passed, each with when (first seen). */
  steps: Map<string, Array<{ step: string; at: number }>>;
}

function stampNats(url: string): Promise<Seen & { close(): Promise<void> }> {
  return connect({ servers: url }).then((nc) => {
    const job = new Map<string, number>();
    const result = new Map<string, number>();
    const steps = new Map<string, Array<{ step: string; at: number }>>();
    nc.subscribe('jobs.>', {
      callback: (_e, m) => {
        const at = performance.now();
        const uuid = (
          JSON.parse(new TextDecoder().decode(m.data)) as { resource?: { uuid?: string } }
        ).resource?.uuid;
        if (uuid && !job.has(uuid)) job.set(uuid, at);
      },
    });
    nc.subscribe('results.>', {
      callback: (_e, m) => {
        const at = performance.now();
        const r = decodeMessage(ResultSchema, m.data);
        if (r.status !== 'progress' && !result.has(r.uuid)) result.set(r.uuid, at);
        if (r.status !== 'progress' || !r.step) return;
        const mine = steps.get(r.uuid) ?? [];
        if (!mine.some((s) => s.step === r.step)) mine.push({ step: r.step, at });
        steps.set(r.uuid, mine);
      },
    });
    return { job, result, steps, close: () => nc.drain() };
  });
}

/**
 * When the simulator answered a Platform API call about `uuid` (`PATCH …/config`, `POST
 * …/actions/provision`), on this process's performance.now() clock (the simulator runs here).
 */
function simAt(sim: HerokuSim, uuid: string, method: string, suffix: string): number | undefined {
  const path = `/addons/${uuid}${suffix}`;
  const call = sim.calls.find((c) => c.method === method && c.path === path);
  return call && call.time.getTime() - performance.timeOrigin;
}

/** Where the time of a set of provisions went, as p50s of each stage. */
function stages(
  runs: Array<{ uuid: string; t0: number; t1: number; config?: number }>,
  seen: Seen,
): {
  beforeAgentP50Ms: number;
  agentP50Ms: number;
  afterAgentP50Ms: number;
  resultToConfigP50Ms: number;
  configToActionP50Ms: number;
  boundBy: string;
} {
  const split = runs.map(({ uuid, t0, t1, config }) => {
    const job = seen.job.get(uuid) ?? t0;
    const result = seen.result.get(uuid) ?? t1;
    const patched = config ?? result;
    return {
      before: job - t0,
      agent: result - job,
      after: t1 - result,
      toConfig: patched - result,
      toAction: t1 - patched,
    };
  });
  const p50 = (key: keyof (typeof split)[number]): number =>
    pct(
      split.map((s) => s[key]),
      0.5,
    );
  const after = { resultToConfigP50Ms: p50('toConfig'), configToActionP50Ms: p50('toAction') };
  const out = {
    beforeAgentP50Ms: p50('before'),
    agentP50Ms: p50('agent'),
    afterAgentP50Ms: p50('after'),
  };
  const [name] = Object.entries(out).sort((a, b) => b[1] - a[1])[0]!;
  const bound = {
    beforeAgentP50Ms: 'control plane accept + dispatch (POST → job on NATS)',
    agentP50Ms:
      'region agent (job → final result: certificate, redis-server start, verified TLS probe)',
    afterAgentP50Ms:
      'control plane result handling + provision call to Heroku (result → provision action)',
  }[name as keyof typeof out];
  return { ...out, ...after, boundBy: bound };
}

/**
 * The agent stage by step, as p50s in the order the steps run: "picking up the job" (job on
 * NATS → its first step), then each step from its progress message to the next one (the last
 * to the final result).
 */
function agentSteps(uuids: string[], seen: Seen): Record<string, number> {
  const spent = new Map<string, number[]>();
  const add = (name: string, ms: number): void =>
    void spent.set(name, [...(spent.get(name) ?? []), ms]);
  for (const uuid of uuids) {
    const job = seen.job.get(uuid);
    const result = seen.result.get(uuid);
    const steps = seen.steps.get(uuid) ?? [];
    if (job === undefined || result === undefined || steps.length === 0) continue;
    add('picking up the job', steps[0]!.at - job);
    steps.forEach((s, i) => add(s.step, (steps[i + 1]?.at ?? result) - s.at));
  }
  return Object.fromEntries([...spent].map(([name, ms]) => [name, pct(ms, 0.5)]));
}

const pct = (xs: number[], p: number): number =>
  round([...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))] ?? 0);

const DIR_PREFIX = join(tmpdir(), 'cp-bench-e2e-');

/** Pids of the processes whose working directory is under `prefix` (zombies aside). */
function processesUnder(prefix: string): number[] {
  const pids: number[] = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      if (readlinkSync(`/proc/${pid}/cwd`).startsWith(prefix)) pids.push(Number(pid));
    } catch {
      // gone, a zombie (no cwd), or not ours to read
    }
  }
  return pids;
}

/**
 * Instances an interrupted run left (killed before its clean-up: Ctrl-C, or piped into
 * `head`), found by their working directory under this bench's prefix. SIGKILL: a redis
 * whose directory is gone ignores SIGTERM (its final save fails). 200 of them left running
 * cost a fifth of a core in timers and lowered every later figure.
 */
function killStrays(): void {
  let killed = 0;
  for (const pid of processesUnder(DIR_PREFIX)) {
    try {
      process.kill(pid, 'SIGKILL');
      killed++;
    } catch {
      // exited meanwhile
    }
  }
  if (killed) say(`  stopped ${killed} processes an interrupted run of this bench left running`);
}

function writeReport(
  results: Record<string, unknown>,
  bareBaseline: Record<string, Baseline>,
): void {
  const r1 = results.concurrency1 as { p50Ms: number };
  const r10 = results.concurrency10 as { p50Ms: number; p99Ms: number };
  const report = {
    benchmark: 'e2e-provision-latency',
    at: new Date().toISOString(),
    driver: 'local',
    rounds,
    results,
    // What the same machine takes to start the servers alone: no provision at that concurrency
    // can be faster than its bare start.
    bareBaseline,
    machine: { cpus: cpus().length, loadAvg1mAtEnd: Math.round((loadavg()[0] ?? 0) * 100) / 100 },
    // Issue #13's goals.
    targets: { concurrency1: { p50Ms: 60 }, concurrency10: { p50Ms: 150, p99Ms: 300 } },
    met: {
      concurrency1P50: r1.p50Ms <= 60,
      concurrency10P50: r10.p50Ms <= 150,
      concurrency10P99: r10.p99Ms <= 300,
    },
  };
  mkdirSync(join(root, 'bench/results'), { recursive: true });
  writeFileSync(
    join(root, 'bench/results/e2e-provision-latency.json'),
    `${JSON.stringify(report, null, 2)}\n`,
  );
  say('written to bench/results/e2e-provision-latency.json');
}

async function main(): Promise<void> {
  buildDist(say);
  killStrays();
  const dir = mkdtempSync(DIR_PREFIX);
  chmodSync(dir, 0o755);
  const pgServer = await startPostgres(join(dir, 'pg'));
  const nats = await startNats(join(dir, 'nats'));
  const sim = await createHerokuSim();
  const admin = new pg.Client({ connectionString: pgServer.url() });
  await admin.connect();
  await admin.query('create database e2e');
  await admin.end();
  const port = await freePort();
  const agentHealthPort = await freePort();
  const children = [
    node('dist/control-plane/src/main.js', {
      NODE_OPTIONS: controlPlaneImageNodeOptions(),
      DATABASE_URL: pgServer.url('e2e'),
      NATS_URL: nats.url,
      PORT: String(port),
      HOST: '127.0.0.1',
      SYNC_BUDGET_MS: '0',
      HEROKU_API_URL: sim.url,
      HEROKU_ID_URL: sim.url,
      PRIVATE_SPACE_LOOKUP: 'assume-common-runtime',
    }),
    node(
      'dist/region-agent/src/main.js',
      {
        NATS_URL: nats.url,
        AGENT_REGION: 'us-east',
        AGENT_DRIVER: 'local',
        AGENT_DATA_DIR: join(dir, 'agent'),
        AGENT_CONCURRENCY: '16',
        HEALTH_PORT: String(agentHealthPort),
      },
      process.env.BENCH_AGENT_NODE_ARGS,
    ),
  ];
  const cp = `http://127.0.0.1:${port}`;
  try {
    await waitFor(async () => (await fetch(`${cp}/readyz`)).ok, 'control plane', 60_000, 200);
    // The agent too: a first provision that waits for the agent's start-up measures tsx, not us.
    const agentReady = async (): Promise<boolean> =>
      (await fetch(`http://127.0.0.1:${agentHealthPort}/readyz`).catch(() => undefined))?.ok ===
      true;
    await waitFor(agentReady, 'region agent', 60_000, 200);
    const bare = {
      concurrency1: await bareRedisStarts(join(dir, 'baseline'), 1, rounds * 10),
      concurrency10: await bareRedisStarts(join(dir, 'baseline'), 10, rounds),
    };
    say(
      `  bare baseline (redis-server configured as an instance, spawned from the bench, until it answers over verified TLS): p50 ${bare.concurrency1.p50Ms} ms one at a time, ${bare.concurrency10.p50Ms} ms ten at once (max ${bare.concurrency10.maxMs})`,
    );
    const results: Record<string, unknown> = {};
    const uuids: string[] = [];
    const seen = await stampNats(nats.url);
    for (const concurrency of levels) {
      const latencies: number[] = [];
      const runs: Array<{ uuid: string; t0: number; t1: number; config?: number }> = [];
      // One at a time gives one sample a round: ten times the rounds, for a p50 worth the name.
      for (let r = 0; r < (concurrency === 1 ? rounds * 10 : rounds); r++) {
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
            // The simulator's own stamp, not when this poll (every 5 ms) noticed it.
            const t1 = simAt(sim, body.uuid, 'POST', '/actions/provision') ?? performance.now();
            latencies.push(t1 - t0);
            runs.push({
              uuid: body.uuid,
              t0,
              t1,
              config: simAt(sim, body.uuid, 'PATCH', '/config'),
            });
          }),
        );
      }
      const split = stages(runs, seen);
      const steps = agentSteps(
        runs.map((r) => r.uuid),
        seen,
      );
      results[`concurrency${concurrency}`] = {
        provisions: latencies.length,
        p50Ms: pct(latencies, 0.5),
        p99Ms: pct(latencies, 0.99),
        maxMs: pct(latencies, 1),
        ...split,
        agentStepsP50Ms: steps,
      };
      say(
        `  ${String(concurrency).padStart(2)} concurrent: ${latencies.length} provisions, p50 ${pct(latencies, 0.5)} ms, p99 ${pct(latencies, 0.99)} ms`,
      );
      say(
        `     p50 by stage: control plane before the agent ${split.beforeAgentP50Ms} ms, agent ${split.agentP50Ms} ms, control plane after it ${split.afterAgentP50Ms} ms (result → config PATCH ${split.resultToConfigP50Ms} ms, PATCH → provision action ${split.configToActionP50Ms} ms); bound by ${split.boundBy}`,
      );
      const stepLine = Object.entries(steps).map(([name, ms]) => `${name} ${ms} ms`);
      say(`     agent p50 by step: ${stepLine.join(', ')}`);
    }
    say(`  cleaning up ${uuids.length} instances…`);
    await Promise.all(uuids.map((u) => sim.deprovision(cp, u, auth)));
    await seen.close();
    if (allLevels) writeReport(results, bare);
    else say(`BENCH_E2E_LEVELS=${levels.join(',')}: not every level ran, nothing written`);
    // The agent stops each instance as its deprovision job runs: wait for the last of them.
    await waitFor(
      () => processesUnder(join(dir, 'agent')).length === 0,
      'instances stopped',
      30_000,
      50,
    );
  } finally {
    await Promise.all(children.map((c) => stopChild(c, 'SIGTERM')));
    await sim.close();
    await nats.stop();
    await pgServer.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

export { main as runE2eBench };
