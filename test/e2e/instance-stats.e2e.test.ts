/**
 * The dashboard's numbers end to end: a local-driver agent process measures its real TLS
 * Redis instances, answers the reconciler's inventory with them, and every pass stores one
 * sample per instance and prunes old ones (which instances: test/control-plane/samples.int.test.ts).
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '../../shared/src/ports.js';
import type { InstanceStats } from '../../shared/src/messages.js';
import { stopChild } from '../../deploy/local/postgres.js';
import type { HerokuSim } from '../heroku-sim/index.js';
import { startStackWithSim, type TestStack, DEV_ADDON } from '../support/control-plane.js';
import { spawnLocalAgent, withTlsRedis } from '../support/local-agent.js';

let sim: HerokuSim;
let stack: TestStack;
let stop: () => Promise<void>;
let agent: ChildProcess;
let dataDir: string;

beforeAll(async () => {
  ({ sim, stack, stop } = await startStackWithSim({
    SYNC_BUDGET_MS: '0',
    RECONCILE_INTERVAL_S: '1',
    RECONCILE_INVENTORY_TIMEOUT_MS: '2000',
  }));
  dataDir = mkdtempSync(join(tmpdir(), 'cp-stats-agent-'));
  agent = spawnLocalAgent(stack.nats.url, dataDir);
}, 60_000);
afterAll(async () => {
  await stopChild(agent, 'SIGTERM');
  // The local driver leaves instance servers running on purpose: stop the test's own.
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  await stop();
  rmSync(dataDir, { recursive: true, force: true });
});

const pids: number[] = [];

async function provisioned(plan: string): Promise<string> {
  const body = sim.createAddon({ plan, region: 'eu' });
  expect((await sim.provision(stack.url, body, DEV_ADDON)).status).toBe(202);
  await waitFor(() => sim.addon(body.uuid)?.state === 'provisioned', 'provisioned', 45_000, 100);
  const state = join(dataDir, 'eu-west', 'instances', body.uuid, 'state.json');
  pids.push((JSON.parse(readFileSync(state, 'utf8')) as { pid: number }).pid);
  return body.uuid;
}

interface Sample {
  at: Date;
  ready: boolean;
  stats: InstanceStats | null;
}

async function samples(uuid: string): Promise<Sample[]> {
  const r = await stack.plane.pool.query<Sample>(
    'select at, ready, stats from instance_samples where resource_uuid = $1 order by at',
    [uuid],
  );
  return r.rows;
}

it('each pass stores what the instance measured: the plan limit, its keys, and whether it answered', async () => {
  const uuid = await provisioned('mini');
  const config = sim.addon(uuid)!.config;
  await withTlsRedis(config.get('TLSREDIS_URL')!, config.get('TLSREDIS_TLS_CA')!, (c) =>
    c.mset('a', '1', 'b', '2', 'c', '3'),
  );
  await waitFor(
    async () => (await samples(uuid)).some((s) => s.stats?.keys === 3),
    'a sample with the three keys',
    30_000,
    200,
  );
  const last = (await samples(uuid)).at(-1)!;
  expect(last.ready).toBe(true);
  expect(last.stats).toEqual(
    expect.objectContaining({ maxMemoryBytes: 25 * 1024 * 1024, keys: 3 }),
  );
  expect(last.stats!.usedMemoryBytes).toBeGreaterThan(0);
  expect(last.stats!.clients).toBeGreaterThanOrEqual(1);
  // Every pass (a second apart) adds one.
  await waitFor(async () => (await samples(uuid)).length >= 3, 'more passes', 30_000, 200);
}, 120_000);

it('samples older than 25 hours are pruned by the next pass', async () => {
  const uuid = await provisioned('mini');
  await stack.plane.pool.query(
    `insert into instance_samples (resource_uuid, at, ready, stats)
     values ($1, now() - interval '26 hours', true, null), ($1, now() - interval '23 hours', true, null)`,
    [uuid],
  );
  await waitFor(
    async () => !(await samples(uuid)).some((s) => s.at.getTime() < Date.now() - 25 * 3600_000),
    'the 26-hour-old sample pruned',
    30_000,
    200,
  );
  const old = (await samples(uuid)).filter((s) => s.at.getTime() < Date.now() - 3600_000);
  expect(old).toHaveLength(1);
}, 120_000);
