/**
 * Operations that run out of time are failed and reported, never left silent: an async
 * provision no agent answers ends with exactly one deprovision action at the simulator
 * (ASYNC_FAILURE_ACTION) and a line in the app's log; a plan change no agent answers leaves
 * the add-on on its old plan and says so in the app's log.
 */
import { waitFor } from '../../shared/src/ports.js';
import type { HerokuSim } from '../heroku-sim/index.js';
import { startStackWithSim, type TestStack, DEV_ADDON } from '../support/control-plane.js';
import { startFakeAgent, type FakeAgent } from '../support/fake-agent.js';

let sim: HerokuSim;
let stack: TestStack;
let stop: () => Promise<void>;
let agent: FakeAgent;

beforeAll(async () => {
  ({ sim, stack, stop } = await startStackWithSim({
    SYNC_BUDGET_MS: '0',
    OPERATION_TIMEOUT_MS: '1000',
    OPERATION_MAX_ATTEMPTS: '2',
    OUTBOX_SWEEP_MS: '100',
  }));
  // The us region has an agent (until the plan change test stops it); eu has none.
  agent = await startFakeAgent(stack.nats.url, { region: 'us-east' });
});
afterAll(async () => {
  await agent.stop().catch(() => undefined);
  await stop();
});

const linesOf = (uuid: string): string[] => sim.logLines(uuid).map((l) => l.message);

it('an async provision no agent answers is failed, deprovisioned at Heroku once, and logged', async () => {
  const body = sim.createAddon({ plan: 'standard', region: 'eu' });
  expect((await sim.provision(stack.url, body, DEV_ADDON)).status).toBe(202);
  await waitFor(
    () => sim.addon(body.uuid)?.deprovisionActionCalls === 1,
    'deprovision action',
    15_000,
  );
  await waitFor(
    () => linesOf(body.uuid).some((l) => l.includes('provisioning failed')),
    'app log line',
    5000,
  );
  expect(linesOf(body.uuid)).toContain(
    'add-on provisioning failed: no result from the region agent after 2 attempts',
  );
  const r = await stack.plane.pool.query(
    `select r.state, o.state as op_state, o.attempts from resources r
       join operations o on o.resource_uuid = r.uuid where r.uuid = $1`,
    [body.uuid],
  );
  expect(r.rows).toEqual([{ state: 'failed', op_state: 'failed', attempts: 2 }]);
  const audit = await stack.plane.pool.query(
    `select detail->>'reported' as reported from audit_events
      where resource_uuid = $1 and action = 'operation_timed_out'`,
    [body.uuid],
  );
  expect(audit.rows).toEqual([{ reported: 'true' }]);
  // Counted once, although the dispatcher swept it every 100 ms while it was open.
  const metrics = await (await fetch(`${stack.url}/metrics`)).text();
  expect(metrics).toMatch(/^addon_operations_total\{kind="provision",result="timed_out"\} 1$/m);
  await new Promise((r) => setTimeout(r, 1000));
  expect(sim.addon(body.uuid)?.deprovisionActionCalls).toBe(1);
  expect(sim.provisionActionCount(body.uuid)).toBe(0);
});

it('a plan change no agent answers leaves the old plan, and the app log says so', async () => {
  const body = sim.createAddon({ plan: 'standard', region: 'us' });
  expect((await sim.provision(stack.url, body, DEV_ADDON)).status).toBe(202);
  await waitFor(() => sim.addon(body.uuid)?.state === 'provisioned', 'provisioned', 15_000);
  await agent.stop(); // the plan change's job waits in JetStream, unanswered
  const change = await sim.changePlan(stack.url, body.uuid, 'premium', DEV_ADDON);
  expect(change.status).toBeLessThan(300);
  await waitFor(
    () => linesOf(body.uuid).some((l) => l.includes('plan change to premium failed')),
    'app log line',
    15_000,
  );
  expect(linesOf(body.uuid)).toContain(
    'plan change to premium failed: no result from the region agent after 2 attempts; still on plan standard',
  );
  const r = await stack.plane.pool.query('select plan, state from resources where uuid = $1', [
    body.uuid,
  ]);
  expect(r.rows).toEqual([{ plan: 'standard', state: 'provisioned' }]);
  expect(sim.addon(body.uuid)?.deprovisionActionCalls).toBe(0);
});
