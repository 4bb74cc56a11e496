/** A control plane stopped between the agent's result and the provision action finishes after restart. */
import { createHerokuSim, type HerokuSim } from '../heroku-sim/index.js';
import { waitFor } from '../../shared/src/ports.js';
import { createLogger } from '../../shared/src/logger.js';
import { createControlPlane } from '../../control-plane/src/composition-root.js';
import { startStack, type TestStack, DEV_ADDON } from '../support/control-plane.js';
import { startFakeAgent, type FakeAgent } from '../support/fake-agent.js';

const auth = DEV_ADDON;
let sim: HerokuSim;
let stack: TestStack;
let agent: FakeAgent;

beforeAll(async () => {
  sim = await createHerokuSim();
  stack = await startStack({
    HEROKU_API_URL: sim.url,
    HEROKU_ID_URL: sim.url,
    SYNC_BUDGET_MS: '0',
  });
  agent = await startFakeAgent(stack.nats.url, { region: 'us-east', delayMs: 50 });
});
afterAll(async () => {
  await agent.stop();
  // Both control planes were stopped by the test itself.
  await stack.nats.stop();
  await stack.db.drop();
  await sim.close();
});

it('the provision action is sent exactly once by the restarted control plane', async () => {
  const body = sim.createAddon({ plan: 'standard', region: 'us' });
  // Heroku is down for the provision action while the first control plane runs.
  sim.inject({
    method: 'POST',
    path: new RegExp(`/addons/${body.uuid}/actions/provision`),
    status: 503,
    times: 1000,
  });
  expect((await sim.provision(stack.url, body, auth)).status).toBe(202);
  await waitFor(
    async () => {
      const r = await stack.plane.pool.query(
        `select attempts from heroku_calls where resource_uuid = $1 and kind = 'provision_action'`,
        [body.uuid],
      );
      return (r.rows[0]?.attempts ?? 0) >= 1;
    },
    'a failed provision action attempt',
    15_000,
  );
  const { pool } = stack.plane;
  const pending = await pool.query(
    `select state from heroku_calls where resource_uuid = $1 and kind = 'provision_action'`,
    [body.uuid],
  );
  expect(pending.rows[0].state).toBe('pending');
  await stack.plane.stop();

  sim.clearInjections();
  const restarted = await createControlPlane(
    { ...stack.config, port: 0 },
    createLogger({ name: 'cp2', level: 'silent' }),
  );
  await restarted.start();
  try {
    // Backoff may hold the retry a little; make it due now, as time passing would.
    await restarted.pool.query(
      `update heroku_calls set next_attempt_at = now() where resource_uuid = $1`,
      [body.uuid],
    );
    await waitFor(
      () => sim.addon(body.uuid)?.state === 'provisioned',
      'provisioned after restart',
      20_000,
    );
    await new Promise((r) => setTimeout(r, 1500));
    const ok = sim.calls.filter(
      (c) => c.path === `/addons/${body.uuid}/actions/provision` && c.status === 200,
    );
    expect(ok).toHaveLength(1);
  } finally {
    await restarted.stop();
  }
});
