/**
 * Regression: a transient Heroku error during the Private Space lookup must not break the
 * provision for good. The grant code is single-use, so the tokens from the lookup's exchange
 * are stored in Postgres and Heroku's retry (same body, same code) reuses them — on any replica.
 */
import { createLogger } from '../../shared/src/logger.js';
import { waitFor } from '../../shared/src/ports.js';
import { createSealer } from '../../control-plane/src/crypto.js';
import { createControlPlane, type ControlPlane } from '../../control-plane/src/composition-root.js';
import { createHerokuSim, type HerokuSim } from '../heroku-sim/index.js';
import type { ProvisionBody } from '../heroku-sim/types.js';
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
    PRIVATE_SPACE_LOOKUP: 'platform-api',
  });
  agent = await startFakeAgent(stack.nats.url, { region: 'us-east', delayMs: 50 });
});
afterAll(async () => {
  await agent.stop();
  await stack.stop();
  await sim.close();
});

/** Every request to id.heroku.com that carried this add-on's grant code, whatever the answer. */
function grantExchanges(body: ProvisionBody): number {
  return sim.calls.filter(
    (c) =>
      c.path === '/oauth/token' &&
      JSON.stringify([c.body, c.query]).includes(body.oauth_grant.code),
  ).length;
}

/** `mini` is not offered in Private Spaces and `us` is a shared region value: the lookup is needed. */
function addonNeedingLookup(): ProvisionBody {
  const body = sim.createAddon({ plan: 'mini', region: 'us' });
  const appId = sim.addon(body.uuid)!.appId;
  sim.inject({ method: 'GET', path: new RegExp(`^/apps/${appId}$`), status: 503, times: 1 });
  return body;
}

async function expectLookupUnavailable(url: string, body: ProvisionBody): Promise<void> {
  const first = await sim.provision(url, body, auth);
  expect(first.status).toBe(503);
  expect((first.body as { message: string }).message).toMatch(/HTTP 503 .*Please try again/);
}

/** Before any resource row exists, the lookup's token is in Postgres, sealed (never in clear). */
async function expectTokenSealedAtRest(body: ProvisionBody): Promise<void> {
  const used = sim.calls.find((c) => c.path === `/addons/${body.uuid}` && c.status === 200)!.headers
    .authorization!;
  const accessToken = used.replace(/^Bearer /, '');
  const stored = await stack.plane.pool.query<{ access_token_enc: string }>(
    'select access_token_enc from heroku_tokens where resource_uuid = $1',
    [body.uuid],
  );
  expect(stored.rows).toHaveLength(1);
  expect(stored.rows[0]!.access_token_enc).not.toContain(accessToken);
  expect(createSealer(stack.config.encryption).open(stored.rows[0]!.access_token_enc)).toBe(
    accessToken,
  );
  const resources = await stack.plane.pool.query('select 1 from resources where uuid = $1', [
    body.uuid,
  ]);
  expect(resources.rowCount).toBe(0);
}

/** The async path (config PATCH + provision action) runs on the stored tokens: no second exchange. */
async function expectCompletedWithOneExchange(body: ProvisionBody): Promise<void> {
  await waitFor(() => sim.provisionActionCount(body.uuid) === 1, 'provision action', 15_000);
  expect(sim.addon(body.uuid)?.state).toBe('provisioned');
  expect(grantExchanges(body)).toBe(1);
  // The lookup exchanged the grant: no exchange call is queued to do it again.
  const queued = await stack.plane.pool.query(
    `select 1 from heroku_calls where resource_uuid = $1 and kind = 'exchange_grant'`,
    [body.uuid],
  );
  expect(queued.rowCount).toBe(0);
}

it('one 503 on the app lookup answers 503, and the retry with the same grant succeeds after one exchange', async () => {
  const body = addonNeedingLookup();
  await expectLookupUnavailable(stack.url, body);
  await expectTokenSealedAtRest(body);
  const retry = await sim.provision(stack.url, body, auth);
  expect([200, 202]).toContain(retry.status);
  await expectCompletedWithOneExchange(body);
});

it('a stored token Heroku no longer accepts is refreshed once, and the retry still succeeds', async () => {
  const body = addonNeedingLookup();
  await expectLookupUnavailable(stack.url, body);
  sim.expireAccessTokens(body.uuid); // Heroku expires it early; our row still says valid
  const retry = await sim.provision(stack.url, body, auth);
  expect([200, 202]).toContain(retry.status);
  const lookups = sim.calls.filter((c) => c.path === `/addons/${body.uuid}` && c.method === 'GET');
  expect(lookups.map((c) => c.status)).toEqual([200, 401, 200]);
  await expectCompletedWithOneExchange(body);
});

describe('a second replica on the same database', () => {
  let replica: ControlPlane;
  beforeAll(async () => {
    replica = await createControlPlane(
      stack.config,
      createLogger({ name: 'replica', level: 'silent' }),
    );
    await replica.start();
  });
  afterAll(async () => {
    await replica.stop();
  });

  it('serves the retry of a provision whose lookup failed on the first replica', async () => {
    const body = addonNeedingLookup();
    await expectLookupUnavailable(stack.url, body);
    const retry = await sim.provision(replica.url(), body, auth);
    expect([200, 202]).toContain(retry.status);
    await expectCompletedWithOneExchange(body);
  });
});
