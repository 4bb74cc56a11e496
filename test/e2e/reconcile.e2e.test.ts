/**
 * Fleet truth with everything real but Heroku: two control-plane replicas on one Postgres and
 * nats-server, a local-driver region agent process running real TLS Redis, the simulator.
 * Instances are broken behind the system's back and the reconciler must notice within a few
 * intervals: a killed and deleted instance is re-created once (not once per replica) and its
 * new credentials reach Heroku; an instance running another plan is re-applied; the instance
 * of an add-on the database calls deprovisioned is removed; one the database does not know is
 * reported only, until the operator removes it.
 */
import { execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createLogger } from '../../shared/src/logger.js';
import { waitFor } from '../../shared/src/ports.js';
import { stopChild } from '../../deploy/local/postgres.js';
import { createControlPlane, type ControlPlane } from '../../control-plane/src/composition-root.js';
import type { HerokuSim } from '../heroku-sim/index.js';
import { spawnLocalAgent, withTlsRedis } from '../support/local-agent.js';
import { startStackWithSim, type TestStack, DEV_ADDON } from '../support/control-plane.js';

let sim: HerokuSim;
let stack: TestStack;
let stop: () => Promise<void>;
let second: ControlPlane;
let agent: ChildProcess;
let dataDir: string;

const ENV = {
  SYNC_BUDGET_MS: '0',
  RECONCILE_INTERVAL_S: '1',
  ORPHAN_GRACE_S: '0',
  RECONCILE_INVENTORY_TIMEOUT_MS: '500',
};

beforeAll(async () => {
  ({ sim, stack, stop } = await startStackWithSim(ENV));
  second = await createControlPlane(stack.config, createLogger({ name: 'cp2', level: 'silent' }));
  await second.start();
  dataDir = mkdtempSync(join(tmpdir(), 'cp-reconcile-agent-'));
  agent = spawnLocalAgent(stack.nats.url, dataDir);
}, 60_000);
afterAll(async () => {
  await stopChild(agent, 'SIGTERM');
  for (const pid of pids) killQuietly(pid);
  await second?.stop();
  await stop();
  rmSync(dataDir, { recursive: true, force: true });
});

/** The local driver keeps each region's instances under <data dir>/<region>/instances. */
const instanceDir = (uuid: string): string => join(dataDir, 'eu-west', 'instances', uuid);
const stateFile = (uuid: string): string => join(instanceDir(uuid), 'state.json');
const readState = (uuid: string): { pid?: number; plan: string } =>
  JSON.parse(readFileSync(stateFile(uuid), 'utf8')) as { pid?: number; plan: string };
/** Servers the test started, stopped in afterAll whatever happened to them. */
const pids: number[] = [];
function remember(pid: number | undefined): void {
  if (pid) pids.push(pid);
}
function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    /* already gone */
  }
}

async function provisioned(plan = 'standard'): Promise<string> {
  const body = sim.createAddon({ plan, region: 'eu' });
  expect((await sim.provision(stack.url, body, DEV_ADDON)).status).toBe(202);
  await waitFor(() => sim.addon(body.uuid)?.state === 'provisioned', 'provisioned', 45_000, 100);
  remember(readState(body.uuid).pid);
  return body.uuid;
}

async function ops(uuid: string, kind: string): Promise<Array<{ state: string }>> {
  return (
    await stack.plane.pool.query<{ state: string }>(
      'select state from operations where resource_uuid = $1 and kind = $2 order by generation',
      [uuid, kind],
    )
  ).rows;
}

async function finding(uuid: string): Promise<string | undefined> {
  const r = await stack.plane.pool.query<{ finding: string }>(
    'select finding from drift_findings where uuid = $1',
    [uuid],
  );
  return r.rows[0]?.finding;
}

const connects = (url: string, ca: string): Promise<string | null> =>
  withTlsRedis(url, ca, async (c) => {
    await c.set('k', 'v');
    return c.get('k');
  });

async function operator(
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = { ...process.env, DATABASE_URL: stack.db.url, NATS_URL: stack.nats.url };
  try {
    const { stdout, stderr } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', 'control-plane/src/operator/main.ts', ...args],
      { env: { ...env, NODE_ENV: 'development' } },
    );
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

it('a killed and deleted instance is re-created once, and Heroku gets config that connects', async () => {
  const uuid = await provisioned();
  const before = sim.addon(uuid)!.config.get('TLSREDIS_URL')!;
  process.kill(readState(uuid).pid!, 'SIGKILL');
  rmSync(instanceDir(uuid), { recursive: true, force: true });

  await waitFor(
    async () => (await ops(uuid, 'repair')).some((o) => o.state === 'succeeded'),
    'repaired',
    30_000,
    200,
  );
  await waitFor(
    () => sim.addon(uuid)!.config.get('TLSREDIS_URL') !== before,
    'new config pushed to Heroku',
    15_000,
    100,
  );
  remember(readState(uuid).pid);
  const config = sim.addon(uuid)!.config;
  expect(await connects(config.get('TLSREDIS_URL')!, config.get('TLSREDIS_TLS_CA')!)).toBe('v');
  // Two replicas reconcile every second: still one repair.
  await new Promise((r) => setTimeout(r, 2500));
  expect(await ops(uuid, 'repair')).toHaveLength(1);
  expect(await finding(uuid)).toBeUndefined();
  const audit = await stack.plane.pool.query<{ action: string }>(
    'select action from audit_events where resource_uuid = $1 order by id',
    [uuid],
  );
  const actions = audit.rows.map((a) => a.action);
  expect(actions).toEqual(
    expect.arrayContaining([
      'drift_found',
      'repair_requested',
      'repair_succeeded',
      'drift_cleared',
    ]),
  );
});

it('a killed server (its files kept) is restarted by a repair under the same credentials', async () => {
  const uuid = await provisioned();
  const url = sim.addon(uuid)!.config.get('TLSREDIS_URL')!;
  const ca = sim.addon(uuid)!.config.get('TLSREDIS_TLS_CA')!;
  process.kill(readState(uuid).pid!, 'SIGKILL');
  await waitFor(
    async () => (await ops(uuid, 'repair')).some((o) => o.state === 'succeeded'),
    'restarted',
    30_000,
    200,
  );
  remember(readState(uuid).pid);
  expect(sim.addon(uuid)!.config.get('TLSREDIS_URL')).toBe(url);
  expect(await connects(url, ca)).toBe('v');
});

it('an instance running another plan is re-applied at the current one', async () => {
  const uuid = await provisioned();
  const state = JSON.parse(readFileSync(stateFile(uuid), 'utf8')) as Record<string, unknown>;
  writeFileSync(stateFile(uuid), JSON.stringify({ ...state, plan: 'premium' }));
  await waitFor(
    async () => (await ops(uuid, 'repair')).some((o) => o.state === 'succeeded'),
    'stale instance repaired',
    30_000,
    200,
  );
  expect(readState(uuid).plan).toBe('standard');
  const detail = await stack.plane.pool.query<{ detail: { finding: string } }>(
    `select detail from audit_events where resource_uuid = $1 and action = 'repair_requested'`,
    [uuid],
  );
  expect(detail.rows[0]?.detail.finding).toBe('stale');
});

it('the instance of an add-on the database calls deprovisioned is removed', async () => {
  const uuid = await provisioned();
  await stack.plane.pool.query(
    `update resources set state = 'deprovisioned', deprovisioned_at = now() where uuid = $1`,
    [uuid],
  );
  await waitFor(
    async () => (await ops(uuid, 'deprovision')).some((o) => o.state === 'succeeded'),
    'orphan removed',
    30_000,
    200,
  );
  expect(existsSync(instanceDir(uuid))).toBe(false);
  expect(await ops(uuid, 'deprovision')).toHaveLength(1);
});

it('an instance nobody knows is reported, kept, and removed only by the operator', async () => {
  const uuid = await provisioned();
  const { pool } = stack.plane;
  // Dependent rows first (foreign keys), then the resource itself.
  for (const table of ['heroku_calls', 'heroku_tokens', 'operations'])
    await pool.query(`delete from ${table} where resource_uuid = $1`, [uuid]);
  await pool.query('delete from resources where uuid = $1', [uuid]);

  await waitFor(async () => (await finding(uuid)) === 'unknown', 'reported unknown', 20_000, 200);
  const drift = await operator('drift', '--json');
  expect(drift.code).toBe(0);
  const listed = (JSON.parse(drift.stdout) as Array<{ uuid: string; finding: string }>).find(
    (f) => f.uuid === uuid,
  );
  expect(listed?.finding).toBe('unknown');
  await new Promise((r) => setTimeout(r, 2000));
  expect(existsSync(stateFile(uuid))).toBe(true);

  const dry = await operator('reconcile', '--region', 'eu-west', '--dry-run', '--json');
  expect(dry.code).toBe(0);
  const report = JSON.parse(dry.stdout) as Array<{
    findings: Array<{ uuid: string; action: string }>;
  }>;
  expect(report[0]!.findings.find((f) => f.uuid === uuid)?.action).toBe('would_report');

  const refused = await operator('remove-unknown', uuid, '--region', 'eu-west');
  expect(refused.code).not.toBe(0);
  expect(refused.stderr).toContain('--yes');
  const removed = await operator('remove-unknown', uuid, '--region', 'eu-west', '--yes');
  expect(removed.code).toBe(0);
  await waitFor(() => !existsSync(stateFile(uuid)), 'unknown instance removed', 30_000, 200);
  await waitFor(async () => (await finding(uuid)) === undefined, 'finding cleared', 10_000, 200);
});

it('a region whose agent does not answer is skipped and reported, not read as all missing', async () => {
  const uuid = await provisioned();
  const repairsBefore = (await ops(uuid, 'repair')).length;
  agent.kill('SIGSTOP'); // alive to the heartbeat table for a while, but silent
  try {
    await waitFor(
      async () =>
        (
          await stack.plane.pool.query<{ last_error: string | null }>(
            `select last_error from reconcile_runs where agent_region = 'eu-west'`,
          )
        ).rows[0]?.last_error?.includes('0 of 1 live agents answered') ?? false,
      'pass skipped and reported',
      15_000,
      200,
    );
    const regions = await operator('regions', '--json');
    const eu = (JSON.parse(regions.stdout) as Array<{ region: string; findings: string }>).find(
      (r) => r.region === 'eu-west',
    );
    expect(eu?.findings).toContain('not reconciled');
    expect(await ops(uuid, 'repair')).toHaveLength(repairsBefore);
    expect(await finding(uuid)).toBeUndefined();
  } finally {
    agent.kill('SIGCONT');
  }
});
