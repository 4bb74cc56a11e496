/**
 * `npm run bench:agent` (and the last part of `npm run bench`): the region agent on its own,
 * on a private nats-server, jobs in and results out exactly as the control plane sends them.
 * The agent runs compiled, in a process of its own (bench/agent-process.ts), as its image runs.
 *
 * 1. kubernetes driver, agent concurrency 16, against the fake kube-apiserver with the real
 *    @kubernetes/client-node: a burst (all jobs published at once), 16 in flight, 1 in flight.
 *    No pods run behind the fake, so the TLS readiness probe is replaced by one that answers
 *    true: the numbers are agent + NATS + apiserver round trips + certificate issuance, not
 *    instance start-up.
 * 2. local driver: real TLS redis-server processes, provisioned at 1 and at 8 jobs in flight,
 *    then all deprovisioned. Every redis-server started here is killed at the end.
 *
 * Writes bench/results/agent.json. BENCH_AGENT_KUBE_JOBS (200) and BENCH_AGENT_LOCAL_JOBS (30)
 * set the sizes; BENCH_AGENT_NODE_ARGS adds node options to the agent (say --cpu-prof).
 *
 */
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, type JetStreamClient, type NatsConnection } from 'nats';
import type { Job } from '../shared/src/messages.js';
import { secretCaStore } from '../region-agent/src/drivers/kubernetes/ca-secret.js';
import { createKubeApi, loadKubeConfig } from '../region-agent/src/drivers/kubernetes/client.js';
import { createPrivateCa, type TlsIssuer } from '../region-agent/src/tls/private-ca.js';
import { startNats } from '../deploy/local/nats.js';
import type { KubeCallRecord } from '../test/support/fake-kube-apiserver.js';
import {
  cpuMs,
  natsServerPid,
  peakRssMb,
  startFakeApiServerProcess,
  type FakeApiServerProcess,
} from './agent-apiserver.js';
import { makeJob, processExists, recordedPids } from '../test/region-agent/support.js';
import { buildDist } from './dist.js';
import { round } from './load.js';
import {
  runBurst,
  runClosedLoop,
  summarize,
  watchFinals,
  withProgress,
  type Finals,
  type Sample,
  type Stats,
} from './agent-harness.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const say = (s: string): void => void process.stdout.write(`${s}\n`);
const KUBE_JOBS = Number(process.env.BENCH_AGENT_KUBE_JOBS ?? 200);
const LOCAL_JOBS = Number(process.env.BENCH_AGENT_LOCAL_JOBS ?? 30);
const KUBE_CONCURRENCY = 16;
const LOCAL_CONCURRENCY = 8;
// Enough for the agent process to reach steady state (its JIT): after 16, the 200-job phase ran
// ~20 % slower than a 1,000-job one (198 vs 246 jobs/s).
const WARMUP_JOBS = 200;
const SERIAL_JOBS = 30;
const NAMESPACE = 'addon-instances';
const TIMEOUT_MS = 120_000;
const KUBE_SCOPE =
  'agent + NATS JetStream + fake kube-apiserver round trips + private-CA certificate issuance; ' +
  'NOT instance start-up (no pods behind the fake apiserver, the TLS readiness probe is stubbed to true)';
const LOCAL_SCOPE =
  'agent + NATS JetStream + certificate issuance + redis-server start until a verified TLS AUTH/PING answers';

interface Ctx {
  natsUrl: string;
  nc: NatsConnection;
  js: JetStreamClient;
  finals: Finals;
  dir: string;
  /** The other processes a phase uses, for its CPU figures. */
  pids: { agent?: number; fakeApiserver?: number; natsServer?: number };
}

/** CPU each process used during a phase, in % of one core (100 = one core saturated). */
interface CpuShare {
  agentPct: number;
  benchPct: number;
  fakeApiserverPct?: number;
  natsServerPct?: number;
}

function cpuMeter(ctx: Ctx): () => CpuShare {
  const t0 = performance.now();
  const self0 = process.cpuUsage();
  const others = {
    agentPct: ctx.pids.agent,
    fakeApiserverPct: ctx.pids.fakeApiserver,
    natsServerPct: ctx.pids.natsServer,
  };
  const before = Object.fromEntries(Object.entries(others).map(([k, pid]) => [k, cpuMs(pid ?? 0)]));
  return () => {
    const wall = performance.now() - t0;
    const self = process.cpuUsage(self0);
    const pct = (ms: number): number => round((100 * ms) / wall);
    const share = Object.entries(others)
      .filter(([, pid]) => pid)
      .map(([k, pid]) => [k, pct(cpuMs(pid!) - before[k]!)]);
    return {
      agentPct: 0,
      ...Object.fromEntries(share),
      benchPct: pct((self.user + self.system) / 1000),
    } as CpuShare;
  };
}

/** Which resource bounds a phase: a saturated process, the machine, or round trips. */
function boundBy(cpu: CpuShare, loadAvg: number): string {
  const cores = cpus().length;
  const [name, pct] = Object.entries(cpu).sort((a, b) => b[1] - a[1])[0]!;
  const total = Object.values(cpu).reduce((a, b) => a + b, 0);
  const who = name.replace(/Pct$/, '');
  if (pct >= 85) return `${who} CPU (${pct}% of one core: its JavaScript runs on one thread)`;
  if (total + 100 * Math.max(0, loadAvg - total / 100) >= 100 * cores * 0.9)
    return `the machine's ${cores} cores (these processes ${round(total)}%, load average ${loadAvg})`;
  return `waiting (round trips and timers): no process saturated (${who} ${pct}% of a core)`;
}

/**
 * The compiled agent (bench/agent-process.ts) in a child process, configured by the agent's env
 * (`agentEnv` on top of these defaults), consuming AGENT_REGION's jobs; stopped (in-flight work
 * finished) by the returned function. AGENT_MAX_DELIVER 1: a failing job reports `failed` at
 * once instead of hiding a retry in its latency.
 */
async function startAgent(
  ctx: Ctx,
  agentEnv: Record<string, string>,
): Promise<() => Promise<void>> {
  const child: ChildProcess = fork(join(root, 'dist/bench/agent-process.js'), [], {
    env: {
      ...process.env,
      NATS_URL: ctx.natsUrl,
      AGENT_DATA_DIR: ctx.dir,
      AGENT_MAX_DELIVER: '1',
      INVENTORY_MS: '3600000',
      HEALTH_PORT: '0',
      LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn',
      ...agentEnv,
    },
    execArgv: (process.env.BENCH_AGENT_NODE_ARGS ?? '').split(' ').filter(Boolean),
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  await Promise.race([
    new Promise((resolve) => child.once('message', resolve)),
    exited.then(() => Promise.reject(new Error('the bench agent exited before it was ready'))),
  ]);
  ctx.pids.agent = child.pid;
  return async () => {
    child.kill('SIGTERM');
    await exited;
    ctx.pids.agent = undefined;
  };
}

function jobs(kind: 'provision' | 'deprovision', region: string, uuids: string[]): Job[] {
  return uuids.map((uuid) =>
    makeJob(kind, uuid, { region, deadline: new Date(Date.now() + 600_000).toISOString() }),
  );
}

const uuids = (n: number): string[] => Array.from({ length: n }, () => randomUUID());

async function phase(
  ctx: Ctx,
  label: string,
  work: (finals: Finals) => Promise<Sample[]>,
  total: number,
): Promise<{ stats: Stats & { cpu: CpuShare; boundBy: string }; samples: Sample[] }> {
  const base = ctx.finals.count;
  const meter = cpuMeter(ctx);
  const samples = await withProgress(
    label,
    total,
    () => ctx.finals.count - base,
    work(ctx.finals),
    say,
  );
  const cpu = meter();
  const stats = { ...summarize(samples), cpu, boundBy: boundBy(cpu, round(loadavg()[0] ?? 0)) };
  const failures = samples
    .filter((s) => s.status !== 'succeeded')
    .map((s) => `${s.uuid}: ${s.status} ${s.errorCode ?? ''}`);
  say(
    `  ${label}: ${stats.jobs} jobs in ${stats.wallMs} ms = ${stats.jobsPerSec} jobs/s; p50 ${stats.p50Ms} ms, p95 ${stats.p95Ms} ms, p99 ${stats.p99Ms} ms, max ${stats.maxMs} ms; succeeded ${stats.succeeded}/${stats.jobs}`,
  );
  say(
    `    cpu, % of one core: agent ${cpu.agentPct}, bench ${cpu.benchPct}${cpu.fakeApiserverPct !== undefined ? `, fake apiserver ${cpu.fakeApiserverPct}` : ''}${cpu.natsServerPct !== undefined ? `, nats-server ${cpu.natsServerPct}` : ''}; bound by ${stats.boundBy}`,
  );
  for (const f of failures.slice(0, 5)) say(`    not succeeded: ${f}`);
  return { stats, samples };
}

function countCalls(
  calls: KubeCallRecord[],
  jobsRun: number,
): { perJob: number; byVerb: Record<string, number> } {
  const byVerb: Record<string, number> = {};
  for (const c of calls)
    byVerb[`${c.verb} ${c.resource}`] = (byVerb[`${c.verb} ${c.resource}`] ?? 0) + 1;
  for (const k of Object.keys(byVerb)) byVerb[k] = round(byVerb[k]! / jobsRun);
  return { perJob: round(calls.length / jobsRun), byVerb };
}

/** JSON is YAML: a kubeconfig file pointing the real client at the fake, loaded like the agent does. */
function kubeconfigFile(dir: string, server: string): string {
  const path = join(dir, 'kubeconfig');
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'fake', cluster: { server, 'insecure-skip-tls-verify': true } }],
    users: [{ name: 'bench', user: { token: 'bench-token' } }],
    contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'bench', namespace: NAMESPACE } }],
    'current-context': 'fake',
  };
  writeFileSync(path, JSON.stringify(config));
  return path;
}

async function timeIssuance(
  issuer: TlsIssuer,
  n: number,
): Promise<{ leaves: number; p50Ms: number; maxMs: number }> {
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await issuer.issue(randomUUID(), ['bench.redis.example.com']);
    ms.push(performance.now() - t0);
  }
  ms.sort((a, b) => a - b);
  return { leaves: n, p50Ms: round(ms[Math.ceil(n / 2) - 1] ?? 0), maxMs: round(ms[n - 1] ?? 0) };
}

async function kubeBench(ctx: Ctx, fake: FakeApiServerProcess): Promise<Record<string, unknown>> {
  const region = 'bench-kube';
  const kubeconfig = kubeconfigFile(ctx.dir, fake.url);
  const kube = createKubeApi(loadKubeConfig(kubeconfig));
  const issuer = createPrivateCa({
    store: secretCaStore(kube, NAMESPACE, `region-agent-ca-${region}`),
    region,
  });
  await issuer.caPem(); // the regional CA exists in steady state; its creation is not measured
  const stopAgent = await startAgent(ctx, {
    AGENT_REGION: region,
    AGENT_CONCURRENCY: String(KUBE_CONCURRENCY),
    AGENT_DRIVER: 'kubernetes',
    KUBECONFIG: kubeconfig,
    KUBE_NAMESPACE: NAMESPACE,
    AGENT_HOSTNAME: `${region}.redis.example.com`,
  });
  try {
    say(`  warm-up: ${WARMUP_JOBS} provisions (not measured)`);
    await runClosedLoop(
      ctx.js,
      ctx.finals,
      jobs('provision', region, uuids(WARMUP_JOBS)),
      KUBE_CONCURRENCY,
      TIMEOUT_MS,
    );
    const callsBefore = (await fake.calls()).length;
    const burst = await phase(
      ctx,
      `burst of ${KUBE_JOBS} provisions`,
      (f) => runBurst(ctx.js, f, jobs('provision', region, uuids(KUBE_JOBS)), TIMEOUT_MS),
      KUBE_JOBS,
    );
    const calls = countCalls((await fake.calls()).slice(callsBefore), KUBE_JOBS);
    say(
      `  apiserver calls per provision: ${calls.perJob} (${Object.entries(calls.byVerb)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')})`,
    );
    const loop = await phase(
      ctx,
      `${KUBE_JOBS} provisions, ${KUBE_CONCURRENCY} in flight`,
      (f) =>
        runClosedLoop(
          ctx.js,
          f,
          jobs('provision', region, uuids(KUBE_JOBS)),
          KUBE_CONCURRENCY,
          TIMEOUT_MS,
        ),
      KUBE_JOBS,
    );
    const single = await phase(
      ctx,
      `${SERIAL_JOBS} provisions, 1 in flight`,
      (f) => runClosedLoop(ctx.js, f, jobs('provision', region, uuids(SERIAL_JOBS)), 1, TIMEOUT_MS),
      SERIAL_JOBS,
    );
    const issuance = await timeIssuance(issuer, SERIAL_JOBS);
    say(
      `  certificate issuance alone (CA read from its Secret + in-process signing), ${SERIAL_JOBS} one after another: p50 ${issuance.p50Ms} ms, max ${issuance.maxMs} ms`,
    );
    return {
      measures: KUBE_SCOPE,
      agentConcurrency: KUBE_CONCURRENCY,
      warmupJobs: WARMUP_JOBS,
      burst: {
        description: `${KUBE_JOBS} provisions published at once; latency includes the wait in the JetStream backlog`,
        ...burst.stats,
      },
      closedLoop: {
        description: `${KUBE_JOBS} provisions, ${KUBE_CONCURRENCY} in flight (a new one published when one finishes); latency is one job's service time`,
        inFlight: KUBE_CONCURRENCY,
        ...loop.stats,
      },
      serial: {
        description: `${SERIAL_JOBS} provisions one at a time: one job's service time with no other job running`,
        inFlight: 1,
        ...single.stats,
      },
      certificateIssuanceAlone: {
        description: 'issuer.issue() called directly, one at a time, same issuer as the driver',
        ...issuance,
      },
      agentPeakRssMb: peakRssMb(ctx.pids.agent!),
      apiserverCallsPerProvision: calls.perJob,
      apiserverCallsPerProvisionByVerb: calls.byVerb,
    };
  } finally {
    await stopAgent();
  }
}

async function localBench(ctx: Ctx, pids: Set<number>): Promise<Record<string, unknown>> {
  const region = 'bench-local';
  const dataDir = join(ctx.dir, region); // the agent's AGENT_DATA_DIR/<region>
  // As in the kubernetes phase, the regional CA exists before anything is measured.
  await createPrivateCa({ dir: join(dataDir, 'ca'), region }).caPem();
  const stopAgent = await startAgent(ctx, {
    AGENT_REGION: region,
    AGENT_CONCURRENCY: String(LOCAL_CONCURRENCY),
    AGENT_DRIVER: 'local',
    AGENT_HOSTNAME: 'localhost',
  });
  const record = (): void => recordedPids(dataDir).forEach((p) => pids.add(p));
  try {
    const serial = uuids(LOCAL_JOBS);
    const parallel = uuids(LOCAL_JOBS);
    const one = await phase(
      ctx,
      `${LOCAL_JOBS} provisions, 1 in flight`,
      (f) => runClosedLoop(ctx.js, f, jobs('provision', region, serial), 1, TIMEOUT_MS),
      LOCAL_JOBS,
    );
    record();
    const eight = await phase(
      ctx,
      `${LOCAL_JOBS} provisions, ${LOCAL_CONCURRENCY} in flight`,
      (f) =>
        runClosedLoop(
          ctx.js,
          f,
          jobs('provision', region, parallel),
          LOCAL_CONCURRENCY,
          TIMEOUT_MS,
        ),
      LOCAL_JOBS,
    );
    record();
    const all = [...serial, ...parallel];
    say(`  ${pids.size} redis-server processes running`);
    const gone = await phase(
      ctx,
      `${all.length} deprovisions, ${LOCAL_CONCURRENCY} in flight`,
      (f) =>
        runClosedLoop(ctx.js, f, jobs('deprovision', region, all), LOCAL_CONCURRENCY, TIMEOUT_MS),
      all.length,
    );
    const leftover = [...pids].filter(processExists).length;
    say(`  redis-server processes left after deprovision: ${leftover}`);
    return {
      measures: LOCAL_SCOPE,
      agentConcurrency: LOCAL_CONCURRENCY,
      provisionInFlight1: { inFlight: 1, ...one.stats },
      [`provisionInFlight${LOCAL_CONCURRENCY}`]: { inFlight: LOCAL_CONCURRENCY, ...eight.stats },
      deprovision: {
        inFlight: LOCAL_CONCURRENCY,
        description:
          'stop redis-server, wait for its port to close, tombstone, remove the data dir',
        ...gone.stats,
      },
      agentPeakRssMb: peakRssMb(ctx.pids.agent!),
      processesStarted: pids.size,
      processesLeftAfterDeprovision: leftover,
    };
  } finally {
    await stopAgent();
    record();
  }
}

function killAll(pids: Set<number>): void {
  for (const pid of pids) {
    if (!processExists(pid)) continue;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** Which code was measured: other changes may be in progress in the working tree. */
function source(): { commit: string; uncommitted: string[] } {
  const git = (args: string[]): string =>
    execFileSync('git', args, { cwd: root, encoding: 'utf8' }).trimEnd();
  const changed = git([
    'status',
    '--porcelain',
    '--',
    'region-agent/src',
    'shared/src',
    'test/support',
  ]);
  return {
    commit: git(['rev-parse', '--short', 'HEAD']),
    uncommitted: changed ? changed.split('\n').map((l) => l.slice(3)) : [],
  };
}

function phases(
  kube: Record<string, unknown>,
  local: Record<string, unknown>,
): Array<[string, Stats]> {
  return [
    [`kube: burst of ${KUBE_JOBS}`, kube.burst as Stats],
    [`kube: ${KUBE_CONCURRENCY} in flight`, kube.closedLoop as Stats],
    ['kube: 1 in flight', kube.serial as Stats],
    ['local provision: 1 in flight', local.provisionInFlight1 as Stats],
    [
      `local provision: ${LOCAL_CONCURRENCY} in flight`,
      local[`provisionInFlight${LOCAL_CONCURRENCY}`] as Stats,
    ],
    [`local deprovision: ${LOCAL_CONCURRENCY} in flight`, local.deprovision as Stats],
  ];
}

function printTable(rows: Array<[string, Stats]>, callsPerProvision: unknown): void {
  const cols = ['jobs', 'jobs/s', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms', 'ok'];
  say(`\n${'phase'.padEnd(34)}${cols.map((c) => c.padStart(9)).join('')}`);
  for (const [name, s] of rows) {
    const cells = [
      s.jobs,
      s.jobsPerSec,
      s.p50Ms,
      s.p95Ms,
      s.p99Ms,
      s.maxMs,
      `${s.succeeded}/${s.jobs}`,
    ];
    say(`${name.padEnd(34)}${cells.map((c) => String(c).padStart(9)).join('')}`);
    const bound = (s as Stats & { boundBy?: string }).boundBy;
    if (bound) say(`${''.padEnd(4)}bound by ${bound}`);
  }
  say(`kube apiserver calls per provision: ${String(callsPerProvision)}`);
  say(`kube rows measure ${KUBE_SCOPE}`);
  say(`local rows measure ${LOCAL_SCOPE}`);
}

async function main(): Promise<void> {
  // Other work on the machine shows up in every figure: the load average goes in the report.
  buildDist(say);
  const loadAtStart = round(loadavg()[0] ?? 0);
  const dir = mkdtempSync(join(tmpdir(), 'ra-bench-'));
  chmodSync(dir, 0o700);
  const pids = new Set<number>();
  say('starting a private nats-server and the fake kube-apiserver…');
  const nats = await startNats(join(dir, 'nats'));
  const fake = await startFakeApiServerProcess();
  const nc = await connect({ servers: nats.url });
  const ctx: Ctx = {
    natsUrl: nats.url,
    nc,
    js: nc.jetstream(),
    finals: watchFinals(nc),
    dir,
    pids: { fakeApiserver: fake.pid, natsServer: natsServerPid(nats.port) },
  };
  try {
    say(`\n▶ kubernetes driver through the agent (concurrency ${KUBE_CONCURRENCY}); ${KUBE_SCOPE}`);
    const kube = await kubeBench(ctx, fake);
    say(
      `\n▶ local driver through the agent (concurrency ${LOCAL_CONCURRENCY}): real TLS redis-server instances`,
    );
    const local = await localBench(ctx, pids);
    const report = {
      benchmark: 'region-agent',
      at: new Date().toISOString(),
      machine: {
        cpus: cpus().length,
        cpuModel: cpus()[0]?.model,
        memGb: Math.round(totalmem() / 2 ** 30),
        node: process.version,
        platform: process.platform,
        loadAvg1mAtStart: loadAtStart,
        loadAvg1mAtEnd: round(loadavg()[0] ?? 0),
      },
      source: source(),
      notes:
        "the agent runs compiled (dist/bench/agent-process.js) in a process of its own, apart from the publishing client; so does the fake apiserver (bench/agent-apiserver.ts); cpu is each process's share of one core during the phase; percentiles are nearest-rank over every job of a phase (with 30 jobs p99 is the maximum)",
      parameters: {
        kubeJobs: KUBE_JOBS,
        localJobs: LOCAL_JOBS,
        kubeConcurrency: KUBE_CONCURRENCY,
        localConcurrency: LOCAL_CONCURRENCY,
        maxDeliver: 1,
      },
      kubernetes: kube,
      local,
    };
    mkdirSync(join(root, 'bench/results'), { recursive: true });
    writeFileSync(join(root, 'bench/results/agent.json'), `${JSON.stringify(report, null, 2)}\n`);
    const rows = phases(kube, local);
    printTable(rows, kube.apiserverCallsPerProvision);
    say(
      `agent peak RSS: ${String(kube.agentPeakRssMb)} MB (kube), ${String(local.agentPeakRssMb)} MB (local)`,
    );
    say('written to bench/results/agent.json');
    if (rows.some(([, s]) => s.failed > 0) || local.processesLeftAfterDeprovision !== 0) {
      say('some jobs did not succeed or processes were left: see bench/results/agent.json');
      process.exitCode = 1;
    }
  } finally {
    ctx.finals.close();
    await nc.drain();
    await nats.stop();
    await fake.stop();
    killAll(pids);
    rmSync(dir, { recursive: true, force: true });
  }
}

export { main as runAgentBench };
