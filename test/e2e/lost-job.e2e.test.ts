/**
 * NATS may lose a message it acknowledged (a coordinated power loss under the default fsync
 * interval, deploy/nats.md). Postgres holds the truth: a provision whose job vanished from the
 * JOBS stream after the publish is dispatched again at its deadline, and completes once.
 */
import { connect, type NatsConnection } from 'nats';
import { waitFor } from '../../shared/src/ports.js';
import { JOBS_STREAM } from '../../shared/src/subjects.js';
import type { HerokuSim } from '../heroku-sim/index.js';
import { DEV_ADDON, startStackWithSim, type TestStack } from '../support/control-plane.js';
import { startFakeAgent, type FakeAgent } from '../support/fake-agent.js';

let sim: HerokuSim;
let stack: TestStack;
let stop: () => Promise<void>;
let nc: NatsConnection;
let agent: FakeAgent | undefined;

beforeAll(async () => {
  ({ sim, stack, stop } = await startStackWithSim({
    SYNC_BUDGET_MS: '0',
    OPERATION_TIMEOUT_MS: '3000',
    OPERATION_MAX_ATTEMPTS: '3',
    OUTBOX_SWEEP_MS: '100',
  }));
  nc = await connect({ servers: stack.nats.url });
});
afterAll(async () => {
  await agent?.stop().catch(() => undefined);
  await nc?.close();
  await stop();
});

async function operation(uuid: string): Promise<{ state: string; attempts: number }> {
  const r = await stack.plane.pool.query<{ state: string; attempts: number }>(
    `select state, attempts from operations where resource_uuid = $1 and kind = 'provision'`,
    [uuid],
  );
  return r.rows[0]!;
}

it('a job purged from JOBS after its publish is redispatched at the deadline and completes', async () => {
  const jsm = await nc.jetstreamManager();
  const body = sim.createAddon({ plan: 'standard', region: 'eu' });
  expect((await sim.provision(stack.url, body, DEV_ADDON)).status).toBe(202);
  await waitFor(async () => (await operation(body.uuid)).state === 'dispatched', 'dispatch', 5_000);
  await waitFor(
    async () => (await jsm.streams.info(JOBS_STREAM)).state.messages === 1,
    'job',
    5_000,
  );

  // What NATS loses: the job is gone, the operation still says dispatched.
  await jsm.streams.purge(JOBS_STREAM);
  expect((await jsm.streams.info(JOBS_STREAM)).state.messages).toBe(0);
  agent = await startFakeAgent(stack.nats.url, { region: 'eu-west' });

  await waitFor(() => sim.addon(body.uuid)?.state === 'provisioned', 'provisioned', 15_000, 100);
  expect(await operation(body.uuid)).toEqual({ state: 'succeeded', attempts: 2 });
  expect(agent.jobs.map((j) => j.resource.uuid)).toEqual([body.uuid]);
  expect(sim.provisionActionCount(body.uuid)).toBe(1);
}, 30_000);
