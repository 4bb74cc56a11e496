/**
 * A control plane SIGKILLed after recording a provision (or plan change) but before answering:
 * Heroku's retry gets 202 from the restarted process, and that 202 still ends in the config
 * PATCH and the provision action once the agent finishes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type pg from 'pg';
import { freePort, waitFor } from '../../shared/src/ports.js';
import { stopChild } from '../../deploy/local/postgres.js';
import { createHerokuSim, type HerokuSim } from '../heroku-sim/index.js';
import { DEV_ADDON } from '../support/control-plane.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import { startTestNats, type TestNats } from '../support/nats.js';
import { startFakeAgent, type FakeAgent } from '../support/fake-agent.js';

let db: TestDatabase;
let nats: TestNats;
let sim: HerokuSim;
let port: number;
let plane: ChildProcess | undefined;
let pool: pg.Pool;

beforeAll(async () => {
  [db, nats, sim] = await Promise.all([createTestDatabase(), startTestNats(), createHerokuSim()]);
  port = await freePort();
  pool = db.pool(2);
});
afterAll(async () => {
  if (plane) await stopChild(plane, 'SIGTERM');
  await pool.end();
  await Promise.all([nats.stop(), sim.close()]);
  await db.drop();
});

async function startPlane(): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'control-plane/src/main.ts'], {
    env: {
      ...process.env,
      DATABASE_URL: db.url,
      NATS_URL: nats.url,
      HEROKU_API_URL: sim.url,
      HEROKU_ID_URL: sim.url,
      PORT: String(port),
      HOST: '127.0.0.1',
      SYNC_BUDGET_MS: '2000',
      PRIVATE_SPACE_LOOKUP: 'assume-common-runtime',
      LOG_LEVEL: 'warn',
      OUTBOX_SWEEP_MS: '100',
    },
    stdio: 'ignore',
  });
  await waitFor(
    async () =>
      (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined))?.ok ?? false,
    'control plane',
    60_000,
    100,
  );
  return child;
}

/** Send a request and SIGKILL the control plane once it recorded the operation, inside its 2 s budget. */
async function killAfterInsert(
  request: () => Promise<{ status: number }>,
  uuid: string,
  kind: string,
): Promise<void> {
  const child = plane!;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const pending = request().then(
    (res) =>
      (res as { status?: number }).status
        ? `answered ${(res as { status: number }).status}`
        : 'cut off',
    () => 'cut off',
  );
  await waitFor(
    async () => {
      const r = await pool.query(
        'select 1 from operations where resource_uuid = $1 and kind = $2',
        [uuid, kind],
      );
      return r.rowCount === 1;
    },
    `${kind} recorded`,
    10_000,
    20,
  );
  child.kill('SIGKILL');
  await exited;
  expect(await pending).toBe('cut off'); // killed inside the sync budget, before any answer
}

const cp = (): string => `http://127.0.0.1:${port}`;
const count = (uuid: string, method: string, suffix: string): number =>
  sim.calls.filter(
    (c) => c.method === method && c.path === `/addons/${uuid}${suffix}` && c.status < 300,
  ).length;

it('a provision or plan change retried after a crash still completes with Heroku', async () => {
  const body = sim.createAddon({ plan: 'standard', region: 'us' });
  plane = await startPlane();
  await killAfterInsert(() => sim.provision(cp(), body, DEV_ADDON), body.uuid, 'provision');
  plane = await startPlane();
  expect((await sim.provision(cp(), body, DEV_ADDON)).status).toBe(202); // no agent yet

  const agent: FakeAgent = await startFakeAgent(nats.url, { region: 'us-east' });
  try {
    // The killed process's lease on the grant exchange (10 s) ends first: a slow machine needs more.
    await waitFor(() => sim.addon(body.uuid)?.state === 'provisioned', 'provision action', 45_000);
    expect(count(body.uuid, 'PATCH', '/config')).toBe(1);
    expect(sim.provisionActionCount(body.uuid)).toBe(1);
    expect(sim.addon(body.uuid)!.config.get('TLSREDIS_URL')).toMatch(/^rediss:\/\//);

    // The same for a plan change cut off by a crash: its retry sees the plan already recorded.
    await agent.stop();
    await killAfterInsert(
      () => sim.changePlan(cp(), body.uuid, 'premium', DEV_ADDON),
      body.uuid,
      'change_plan',
    );
    plane = await startPlane();
    // Heroku's contract answers a same-plan change with a 200 no-op; the change still completes.
    const retry = await sim.changePlan(cp(), body.uuid, 'premium', DEV_ADDON);
    expect(retry.status).toBe(200);
  } finally {
    await agent.stop().catch(() => undefined);
  }
  const again = await startFakeAgent(nats.url, { region: 'us-east' });
  try {
    await waitFor(
      () => count(body.uuid, 'PATCH', '/config') === 2,
      'config PATCH after the plan change',
      20_000,
    );
    expect(sim.addon(body.uuid)!.config.get('TLSREDIS_URL')).toContain('premium');
    expect(sim.provisionActionCount(body.uuid)).toBe(1);
  } finally {
    await again.stop();
  }
}, 120_000);
