/**
 * Through the Heroku simulator: once Heroku has deprovisioned an add-on (204, agent done),
 * its tokens are deleted even when calls were still queued for it. Calls that need its
 * authorization can never succeed any more and are dropped; its log lines do not hold the
 * tokens.
 */
import { deleteTokensIfGone } from '../../control-plane/src/db/tokens.js';
import { waitFor } from '../../shared/src/ports.js';
import { createHerokuSim, type HerokuSim } from '../heroku-sim/index.js';
import { DEV_ADDON, startStack, type TestStack } from '../support/control-plane.js';
import { startFakeAgent, type FakeAgent } from '../support/fake-agent.js';

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
  await stack.stop();
  await sim.close();
});

async function tokenCount(uuid: string): Promise<number> {
  const r = await stack.plane.pool.query('select 1 from heroku_tokens where resource_uuid = $1', [
    uuid,
  ]);
  return r.rowCount ?? 0;
}

async function callStates(uuid: string): Promise<Record<string, string[]>> {
  const r = await stack.plane.pool.query<{ kind: string; state: string }>(
    'select kind, state from heroku_calls where resource_uuid = $1 order by id',
    [uuid],
  );
  const byKind: Record<string, string[]> = {};
  for (const { kind, state } of r.rows) (byKind[kind] ??= []).push(state);
  return byKind;
}

it('deprovision while the provision action and log lines are still queued: tokens deleted, the action dropped', async () => {
  const body = sim.createAddon({ plan: 'standard', region: 'us' });
  const logToken = body.log_input_url.split('/logs/')[1]!;
  // Heroku keeps refusing the provision action, and logplex the app's log lines.
  sim.inject({ method: 'POST', path: /\/actions\/provision$/, status: 503, times: 1000 });
  sim.inject({ method: 'POST', path: new RegExp(`/logs/${logToken}$`), status: 503, times: 1000 });
  expect((await sim.provision(stack.url, body, DEV_ADDON)).status).toBe(202);
  await waitFor(
    async () => (await callStates(body.uuid)).provision_action !== undefined,
    'provision action queued',
    15_000,
  );
  await waitFor(
    () => sim.calls.some((c) => c.path === `/addons/${body.uuid}/actions/provision`),
    'a refused provision action',
    15_000,
  );
  expect(await tokenCount(body.uuid)).toBe(1);

  expect((await sim.deprovision(stack.url, body.uuid, DEV_ADDON)).status).toBe(204);
  await waitFor(async () => (await tokenCount(body.uuid)) === 0, 'tokens deleted', 15_000);
  const states = await callStates(body.uuid);
  expect(states.provision_action).toEqual(['dropped']);
  expect(states.app_log).toContain('pending');
  const secrets = () =>
    stack.plane.pool.query<{ state: string; grant: boolean; logUrl: boolean }>(
      `select state, oauth_grant_enc is not null as grant, log_input_url_enc is not null as "logUrl"
         from resources where uuid = $1`,
      [body.uuid],
    );
  // The grant is forgotten with the tokens; the log URL stays while its lines are pending.
  expect((await secrets()).rows[0]).toEqual({ state: 'deprovisioned', grant: false, logUrl: true });
  const audit = await stack.plane.pool.query(
    `select count(*)::int as n from audit_events where resource_uuid = $1 and action = 'heroku_provision_action_dropped'`,
    [body.uuid],
  );
  expect(audit.rows[0].n).toBe(1);

  // Nothing more is sent for the dropped action.
  const sent = () => sim.calls.filter((c) => c.path === `/addons/${body.uuid}/actions/provision`);
  const before = sent().length;
  await new Promise((r) => setTimeout(r, 2500));
  expect(sent()).toHaveLength(before);

  // Once no log line is pending (here: given up), the log URL is forgotten too.
  await stack.plane.pool.query(
    `update heroku_calls set state = 'failed' where resource_uuid = $1 and kind = 'app_log'`,
    [body.uuid],
  );
  await deleteTokensIfGone(stack.plane.pool, body.uuid);
  expect((await secrets()).rows[0]).toEqual({
    state: 'deprovisioned',
    grant: false,
    logUrl: false,
  });
});
