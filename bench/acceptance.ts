/**
 * Provision acceptance, side by side in one run on one machine (same private PostgreSQL and
 * nats-server for all), alternating rounds so that drift hits every target alike:
 * - floor: Basic auth + one transaction of two INSERTs (bench/bare-handler.ts, BARE_MODE=floor)
 * - ceiling: the floor + one synchronous JetStream publish
 * - plain: the control plane (compiled dist/), a plan available in Private Spaces (no Heroku
 *   call while the request waits; the grant exchange runs in the background)
 * - lookup: the control plane, a plan that needs the Private Space lookup (grant exchange and
 *   two Platform API reads while the request waits)
 * The control plane runs the async path (SYNC_BUDGET_MS=0) against the Heroku simulator.
 * "Sustained" counts the background work each accept causes (dispatch, grant exchange): it is
 * accepted ÷ (load time + time until nothing is pending). Figures are bounded by this
 * machine's 2 cores, shared by the load generator, the simulator, PostgreSQL and NATS.
 * Around the rounds, the plain path's two checks (bench/scale.ts): a short round before them
 * and one after seeding 100,000 resources (latency flat with the fleet's size), and a 20 s
 * round at full load that must leave nothing pending 60 s later.
 */
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync, chmodSync, rmSync } from 'node:fs';
import { tmpdir, cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { startNats } from '../deploy/local/nats.js';
import { peakRssMb } from './agent-apiserver.js';
import { buildDist, controlPlaneImageNodeOptions } from './dist.js';
import { startPostgres, stopChild } from '../deploy/local/postgres.js';
import { freePort, waitFor } from '../shared/src/ports.js';
import { runLoad, round, type LoadResult } from './load.js';
import { createHerokuSim, type HerokuSim } from '../test/heroku-sim/index.js';
import { readDevManifest } from '../control-plane/src/config.js';
import { PENDING_WALK_SQL } from '../control-plane/src/db/calls.js';
import {
  BACKLOG_LIMIT_S,
  BACKLOG_SECONDS,
  checkLines,
  checksMet,
  FLAT_FACTOR,
  SCALE_RESOURCES,
  resourceCount,
  scaleReport,
  seedResources,
  type BacklogReport,
  type ScaleReport,
  type ShortRound,
} from './scale.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const seconds = Number(process.env.BENCH_SECONDS ?? 10);
const rounds = Number(process.env.BENCH_ROUNDS ?? 2);
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 32);
/** Targets to measure (comma-separated names) when investigating; a partial run writes nothing. */
const only = process.env.BENCH_ONLY?.split(',');
/** Print the control plane's top statements (pg_stat_statements) after each of its rounds. */
const showStatements = process.env.BENCH_PG_STATEMENTS === '1';
// BENCH_PG_SETTINGS="name=value …": extra settings of the private PostgreSQL, to try one.
const manifest = readDevManifest();
const AUTH = `${manifest.id}:${manifest.api.password}`;
const say = (s: string): void => void process.stdout.write(`${s}\n`);

type TargetName = 'floor' | 'ceiling' | 'plain' | 'lookup';

interface Target {
  name: TargetName;
  label: string;
  url: string;
  pid: number;
  body: () => object;
  /**
   * What the accepts left to do in the background (0 and 0: finished); without `count`, only
   * whether anything is left (1 or 0 each), which costs the database next to nothing.
   */
  pending?: (count: boolean) => Promise<Pending>;
  /** pg_stat_statements of the target's database (BENCH_PG_STATEMENTS=1). */
  statements?: Statements;
  /** The control plane's database (the project targets). */
  databaseUrl?: string;
}

interface RoundResult extends LoadResult {
  drainS: number;
  sustainedRps: number;
}

async function spawnServer(args: string[], env: Record<string, string>, port: number) {
  const child = spawn(process.execPath, args, {
    cwd: root,
    env: { ...process.env, ...env, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  const up = async (): Promise<boolean> =>
    (await fetch(`${url}/readyz`).catch(() => undefined)) !== undefined;
  await waitFor(up, args.at(-1)!, 60_000, 200);
  return { child, url };
}

/** dist/ as the images build it: compiled code with its data files beside it. */

interface Pending {
  /** Operations not yet dispatched to an agent. */
  operations: number;
  /** Heroku calls (grant exchanges, app log lines) not yet sent. */
  calls: number;
}

/** Operations not yet dispatched and Heroku calls not yet sent. */
function pendingCheck(databaseUrl: string): (count: boolean) => Promise<Pending> {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 1 });
  pool.on('error', () => undefined); // the server stops under an idle client at the end
  const ops = `from operations where state = 'pending'`;
  const calls = `from heroku_calls where ${PENDING_WALK_SQL}`;
  return async (count) => {
    const r = await pool.query<{ operations: string; calls: string }>(
      count
        ? `select (select count(*) ${ops}) as operations, (select count(*) ${calls}) as calls`
        : `select (exists (select 1 ${ops}))::int as operations,
                  (exists (select 1 ${calls}))::int as calls`,
    );
    return { operations: Number(r.rows[0]!.operations), calls: Number(r.rows[0]!.calls) };
  };
}

interface Statements {
  reset(): Promise<void>;
  show(): Promise<void>;
}

function statementsOf(databaseUrl: string): Statements {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 1 });
  pool.on('error', () => undefined);
  return {
    reset: async () => {
      await pool.query('create extension if not exists pg_stat_statements');
      await pool.query('select pg_stat_statements_reset()');
    },
    show: async () => {
      const r = await pool.query<{
        calls: string;
        total: number;
        mean: number;
        plan: number;
        query: string;
      }>(
        `select calls, round(total_exec_time::numeric) as total, round(mean_exec_time::numeric, 2) as mean,
                round(total_plan_time::numeric) as plan,
                regexp_replace(query, '\\s+', ' ', 'g') as query
           from pg_stat_statements order by total_exec_time + total_plan_time desc limit 12`,
      );
      say('    calls      total ms   mean ms   plan ms  statement');
      for (const row of r.rows)
        say(
          `    ${row.calls.padStart(7)} ${String(row.total).padStart(12)} ${String(row.mean).padStart(9)} ${String(row.plan).padStart(9)}  ${row.query.slice(0, 100)}`,
        );
      const retried = await pool.query<{
        kind: string;
        attempts: number;
        status: string;
        n: number;
      }>(
        `select kind, attempts, coalesce(last_status::text, '-') as status, count(*)::int as n
           from heroku_calls where attempts <> 1 or state <> 'succeeded' group by 1, 2, 3 order by 4 desc limit 8`,
      );
      for (const row of retried.rows)
        say(
          `    calls not sent at once: ${row.n} ${row.kind}, attempts ${row.attempts}, last status ${row.status}`,
        );
    },
  };
}

/** Seconds until nothing is pending (at most `limitS`), showing what is left every 2 s. */
async function waitDrained(target: Target, show = true, limitS = 120): Promise<number> {
  if (!target.pending) return 0;
  const started = performance.now();
  let shown = started;
  for (;;) {
    const counted = show && performance.now() - shown >= 2000;
    const left = await target.pending(counted);
    if (left.operations + left.calls === 0) break;
    const now = performance.now();
    if (now - started > limitS * 1000) break;
    if (counted) {
      shown = now;
      const t = ((now - started) / 1000).toFixed(0).padStart(3);
      say(
        `    ${t}s  draining: ${left.operations} to dispatch, ${left.calls} Heroku calls to send`,
      );
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return round((performance.now() - started) / 1000);
}

function requestFor(target: Target) {
  return () => ({
    method: 'POST',
    path: '/heroku/resources',
    headers: {
      Authorization: `Basic ${Buffer.from(AUTH).toString('base64')}`,
      'Content-Type': 'application/json',
    },
    body: JSON.stringify(target.body()),
  });
}

async function measure(target: Target, secs = seconds, limitS = 120): Promise<RoundResult> {
  await target.statements?.reset();
  const result = await runLoad({
    url: target.url,
    concurrency,
    seconds: secs,
    makeRequest: requestFor(target),
    onProgress: (done, t) =>
      say(`    ${t.toFixed(0).padStart(3)}s  ${done} accepted  (${Math.round(done / t)}/s)`),
  });
  const drainS = await waitDrained(target, true, limitS);
  const accepted = result.statuses['202'] ?? 0;
  const sustainedRps = round(accepted / (result.seconds + drainS));
  say(
    `  ${target.label}: ${result.rps} req/s, p50 ${result.p50Ms} ms, p99 ${result.p99Ms} ms, ` +
      `errors ${result.errors}, drained in ${drainS}s → sustained ${sustainedRps}/s`,
  );
  await target.statements?.show();
  return { ...result, drainS, sustainedRps };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2
    ? s[(s.length - 1) / 2]!
    : round((s[s.length / 2 - 1]! + s[s.length / 2]!) / 2);
};

function summarise(results: RoundResult[], pid: number) {
  return {
    sustainedRps: median(results.map((r) => r.sustainedRps)),
    acceptedRps: median(results.map((r) => r.rps)),
    p50Ms: median(results.map((r) => r.p50Ms)),
    p99Ms: median(results.map((r) => r.p99Ms)),
    drainS: Math.max(...results.map((r) => r.drainS)),
    errors: results.reduce((n, r) => n + r.errors, 0),
    peakRssMb: peakRssMb(pid),
    rounds: results,
  };
}

async function startTargets(
  dir: string,
  sim: HerokuSim,
): Promise<{ targets: Target[]; stop: () => Promise<void> }> {
  // Stopped in reverse order of start, also when a later one fails to start.
  const started: Array<() => Promise<unknown>> = [];
  const stop = async (): Promise<void> => {
    for (const s of started.reverse()) await s().catch(() => undefined);
  };
  try {
    return { targets: await startAll(dir, sim, started), stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

async function startAll(
  dir: string,
  sim: HerokuSim,
  started: Array<() => Promise<unknown>>,
): Promise<Target[]> {
  const settings = [
    ...(showStatements ? ['shared_preload_libraries=pg_stat_statements'] : []),
    ...(process.env.BENCH_PG_SETTINGS?.split(' ').filter(Boolean) ?? []),
  ];
  const pgServer = await startPostgres(join(dir, 'pg'), undefined, settings);
  started.push(() => pgServer.stop());
  const nats = await startNats(join(dir, 'nats'));
  started.push(() => nats.stop());
  const admin = new pg.Client({ connectionString: pgServer.url() });
  await admin.connect();
  for (const name of ['floor', 'ceiling', 'project']) await admin.query(`create database ${name}`);
  await admin.end();
  const tsx = join(root, 'node_modules/tsx/dist/cli.mjs');
  const bare = async (mode: string, db: string) =>
    spawnServer(
      [tsx, 'bench/bare-handler.ts'],
      { BARE_MODE: mode, DATABASE_URL: pgServer.url(db), NATS_URL: nats.url, AUTH },
      await freePort(),
    );
  const floor = await bare('floor', 'floor');
  started.push(() => stopChild(floor.child, 'SIGTERM'));
  const ceiling = await bare('ceiling', 'ceiling');
  started.push(() => stopChild(ceiling.child, 'SIGTERM'));
  const projectDb = pgServer.url('project');
  const nodeArgs = (process.env.BENCH_CONTROL_PLANE_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const project = await spawnServer(
    [...nodeArgs, 'dist/control-plane/src/main.js'],
    {
      NODE_ENV: 'development',
      NODE_OPTIONS: controlPlaneImageNodeOptions(),
      DATABASE_URL: projectDb,
      NATS_URL: nats.url,
      SYNC_BUDGET_MS: '0',
      DATABASE_POOL_MAX: '20',
      HEROKU_API_URL: sim.url,
      HEROKU_ID_URL: sim.url,
      PRIVATE_SPACE_LOOKUP: 'platform-api',
      ENCRYPTION_KEY: `k1:${randomBytes(32).toString('base64')}`,
      SESSION_SECRET: randomBytes(32).toString('hex'),
      ...JSON.parse(process.env.BENCH_CONTROL_PLANE_ENV ?? '{}'),
    },
    await freePort(),
  );
  started.push(() => stopChild(project.child, 'SIGTERM'));
  const pending = pendingCheck(projectDb);
  const statements = showStatements ? statementsOf(projectDb) : undefined;
  const anonymous = () => ({
    uuid: randomUUID(),
    plan: 'standard',
    region: 'amazon-web-services::us-east-1',
    name: 'bench',
  });
  const targets: Target[] = [
    {
      name: 'floor',
      label: 'floor (auth + 1 transaction)',
      ...floor,
      pid: floor.child.pid!,
      body: anonymous,
    },
    {
      name: 'ceiling',
      label: 'ceiling (floor + publish)',
      ...ceiling,
      pid: ceiling.child.pid!,
      body: anonymous,
    },
    {
      name: 'plain',
      label: 'control plane, plain path',
      ...project,
      pid: project.child.pid!,
      body: () => sim.createAddon({ plan: 'standard', region: 'us' }),
      pending,
      statements,
      databaseUrl: projectDb,
    },
    {
      name: 'lookup',
      label: 'control plane, Private Space lookup',
      ...project,
      pid: project.child.pid!,
      body: () => sim.createAddon({ plan: 'mini', region: 'us' }),
      pending,
      statements,
      databaseUrl: projectDb,
    },
  ];
  return targets;
}

const SHORT_ROUND_S = 5;

/** A short plain round, as the scale check compares them. */
async function shortRound(
  plain: Target,
  what: string,
): Promise<ShortRound & { resources: number }> {
  const resources = await resourceCount(plain.databaseUrl!);
  say(`\n  plain path, ${SHORT_ROUND_S} s ${what} (${resources} resources)`);
  return { ...(await measure(plain, SHORT_ROUND_S)), resources };
}

/** Seeds the plain target's database to SCALE_RESOURCES and measures a short round again. */
async function atScale(
  plain: Target,
  small: ShortRound & { resources: number },
): Promise<ScaleReport> {
  say(`\n  seeding the control plane's database to ${SCALE_RESOURCES} resources…`);
  await seedResources(plain.databaseUrl!, SCALE_RESOURCES, say);
  return scaleReport(small, await shortRound(plain, 'at scale'));
}

/** A BACKLOG_SECONDS round at full load, then how long until nothing is pending. */
async function backlogRound(plain: Target): Promise<BacklogReport> {
  say(
    `\n  plain path, ${BACKLOG_SECONDS} s at full load, then at most ${BACKLOG_LIMIT_S} s to drain`,
  );
  const r = await measure(plain, BACKLOG_SECONDS, BACKLOG_LIMIT_S + 5);
  return { seconds: BACKLOG_SECONDS, accepted: r.statuses['202'] ?? 0, drainS: r.drainS };
}

export async function runAcceptanceBench(): Promise<void> {
  buildDist(say);
  const dir = mkdtempSync(join(tmpdir(), 'cp-bench-'));
  chmodSync(dir, 0o755);
  say('starting private PostgreSQL, nats-server, the Heroku simulator and the four targets…');
  const sim = await createHerokuSim();
  const { targets, stop } = await startTargets(dir, sim);
  const results = new Map<TargetName, RoundResult[]>(targets.map((t) => [t.name, []]));
  try {
    say(
      `\n▶ provision acceptance: ${rounds} rounds × 4 targets, ${concurrency} concurrent, ${seconds}s each`,
    );
    const measured = only ? targets.filter((t) => only.includes(t.name)) : targets;
    for (const t of measured) {
      say(`  warm-up: ${t.label}`);
      await runLoad({ url: t.url, concurrency, seconds: 2, makeRequest: requestFor(t) });
      await waitDrained(t, false);
    }
    const plain = targets.find((t) => t.name === 'plain')!;
    const checks = !only && process.env.BENCH_SKIP_SCALE !== '1';
    const small = checks
      ? await shortRound(plain, 'with the resources the warm-up left')
      : undefined;
    for (let r = 1; r <= rounds; r++) {
      say(`\n  round ${r}/${rounds}`);
      for (const t of measured) results.get(t.name)!.push(await measure(t));
    }
    if (only) return say(`BENCH_ONLY=${only.join(',')}: not every target ran, nothing written`);
    const scale = small && (await atScale(plain, small));
    const backlog = checks ? await backlogRound(plain) : undefined;
    const by = Object.fromEntries(
      targets.map((t) => [t.name, summarise(results.get(t.name)!, t.pid)]),
    ) as Record<TargetName, ReturnType<typeof summarise>>;
    const pct = (a: number, b: number): number => round((a / b) * 100);
    const ratios = {
      plainOfFloorPercent: pct(by.plain.sustainedRps, by.floor.sustainedRps),
      lookupOfFloorPercent: pct(by.lookup.sustainedRps, by.floor.sustainedRps),
      ceilingOfFloorPercent: pct(by.ceiling.sustainedRps, by.floor.sustainedRps),
    };
    const report = {
      benchmark: 'provision-acceptance',
      at: new Date().toISOString(),
      machine: {
        cpus: cpus().length,
        memGb: Math.round(totalmem() / 2 ** 30),
        node: process.version,
      },
      bounds:
        'one machine: load generator, Heroku simulator, PostgreSQL, nats-server and the target share its cores; PostgreSQL runs with fsync=off and synchronous_commit=off (deploy/local/postgres.ts), so the floor is the commit path without the disk flush',
      concurrency,
      seconds,
      rounds,
      ...by,
      ratios,
      scale,
      backlog,
      targets: {
        plainOfFloorPercent: 75,
        plainP99Ms: 50,
        lookupOfFloorPercent: 40,
        backlog: `nothing pending ${BACKLOG_LIMIT_S} s after a ${BACKLOG_SECONDS} s round`,
        flatLatency: `p50 and p99 at ${SCALE_RESOURCES} resources within ${FLAT_FACTOR}x of a few thousand`,
      },
      met: {
        plain: ratios.plainOfFloorPercent >= 75,
        plainP99: by.plain.p99Ms <= 50,
        lookup: ratios.lookupOfFloorPercent >= 40,
        ...checksMet(scale, backlog),
      },
    };
    mkdirSync(join(root, 'bench/results'), { recursive: true });
    writeFileSync(
      join(root, 'bench/results/provision-acceptance.json'),
      `${JSON.stringify(report, null, 2)}\n`,
    );
    say(
      '\n  target                                sustained/s   % of floor   p50 ms   p99 ms   drain s',
    );
    for (const t of targets) {
      const s = by[t.name];
      say(
        `  ${t.label.padEnd(38)}${String(s.sustainedRps).padStart(11)}${String(pct(s.sustainedRps, by.floor.sustainedRps)).padStart(13)}` +
          `${String(s.p50Ms).padStart(9)}${String(s.p99Ms).padStart(9)}${String(s.drainS).padStart(10)}`,
      );
    }
    say(`  control plane peak RSS: ${by.plain.peakRssMb} MB`);
    checkLines(scale, backlog).forEach((line) => say(line));
    say('written to bench/results/provision-acceptance.json');
  } finally {
    await stop();
    await sim.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
