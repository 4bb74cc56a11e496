/**
 * Through the Heroku simulator: async provisions complete with a config PATCH and exactly
 * one provision action, despite 429s and 5xx; the Private Space lookup uses the Platform API.
 */
import { createHerokuSim, type HerokuSim } from '../heroku-sim/index.js';
import { waitFor } from '../../shared/src/ports.js';
import { startStack, type TestStack, DEV_ADDON } from '../support/control-plane.js';
import { createSealer } from '../../control-plane/src/crypto.js';
import { startRotation } from '../../control-plane/src/ops/usecases/rotation.js';
import { startFakeAgent, type FakeAgent } from '../support/fake-agent.js';
import { createControlPlane } from '../../control-plane/src/composition-root.js';
import { createLogger } from '../../shared/src/logger.js';

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
    ROTATION_GRACE_S: '1',
  });
  agent = await startFakeAgent(stack.nats.url, { region: 'us-east', delayMs: 100 });
});
afterAll(async () => {
  await agent.stop();
  await stack.stop();
  await sim.close();
});

const callsFor = (uuid: string) =>
  sim.calls.filter((c) => c.path.includes(uuid) || c.path === '/oauth/token');

it('202, then grant exchange, config PATCH and one provision action with the add-on token', async () => {
  const body = sim.createAddon({ plan: 'standard', region: 'us' });
  const res = await sim.provision(stack.url, body, auth);
  expect(res.status).toBe(202);
  await waitFor(() => sim.provisionActionCount(body.uuid) === 1, 'provision action', 15_000);
  const addonCalls = sim.calls.filter((c) => c.path.startsWith(`/addons/${body.uuid}`));
  expect(addonCalls.map((c) => `${c.method} ${c.path.replace(body.uuid, '{uuid}')}`)).toEqual([
    'PATCH /addons/{uuid}/config',
    'POST /addons/{uuid}/actions/provision',
  ]);
  for (const c of addonCalls) {
    expect(c.headers.authorization).toMatch(/^Bearer \S+/);
    expect(c.headers.accept).toBe('application/vnd.heroku+json; version=3');
    expect(c.status).toBeLessThan(300);
  }
  const patch = addonCalls[0]!.body as { config: Array<{ name: string; value: string }> };
  expect(patch.config.find((v) => v.name === 'TLSREDIS_URL')?.value).toMatch(/^rediss:\/\//);
  expect(sim.addon(body.uuid)?.state).toBe('provisioned');
  const tokenCalls = sim.calls.filter((c) => c.path === '/oauth/token' && c.status === 200);
  expect(tokenCalls.length).toBeGreaterThanOrEqual(1);
  await waitFor(
    () => sim.logLines(body.uuid).some((l) => l.message.includes('ready in us')),
    'lifecycle lines',
    10_000,
  );
  const lines = sim.logLines(body.uuid).map((l) => l.message);
  expect(lines).toEqual(
    expect.arrayContaining(['add-on provisioning started', 'add-on ready in us (plan standard)']),
  );
  await new Promise((r) => setTimeout(r, 1500));
  expect(sim.provisionActionCount(body.uuid)).toBe(1);
});

it('429s and 5xx from Heroku still end in exactly one successful provision action', async () => {
  const body = sim.createAddon({ plan: 'standard', region: 'us' });
  sim.inject({
    method: 'POST',
    path: new RegExp(`/addons/${body.uuid}/actions/provision`),
    status: 429,
    times: 1,
    headers: { 'Retry-After': '1', 'RateLimit-Remaining': '0' },
  });
  sim.inject({
    method: 'POST',
    path: new RegExp(`/addons/${body.uuid}/actions/provision`),
    status: 503,
    times: 2,
  });
  expect((await sim.provision(stack.url, body, auth)).status).toBe(202);
  await waitFor(
    () => sim.addon(body.uuid)?.state === 'provisioned',
    'provisioned despite faults',
    40_000,
    200,
  );
  const actions = callsFor(body.uuid).filter((c) => c.path.endsWith('/actions/provision'));
  expect(actions.map((c) => c.status)).toEqual([429, 503, 503, 200]);
  await new Promise((r) => setTimeout(r, 1500));
  expect(sim.provisionActionCount(body.uuid)).toBe(1);
});

it('a 429 on one add-on’s token holds that add-on only, not every call of the replica', async () => {
  const limited = sim.createAddon({ plan: 'standard', region: 'us' });
  const other = sim.createAddon({ plan: 'standard', region: 'us' });
  sim.inject({
    method: 'PATCH',
    path: new RegExp(`/addons/${limited.uuid}/config`),
    status: 429,
    times: 1,
    headers: { 'Retry-After': '60' },
  });
  expect((await sim.provision(stack.url, limited, auth)).status).toBe(202);
  await waitFor(
    () => sim.calls.some((c) => c.path === `/addons/${limited.uuid}/config` && c.status === 429),
    'the 429',
    15_000,
  );
  expect((await sim.provision(stack.url, other, auth)).status).toBe(202);
  await waitFor(
    () => sim.provisionActionCount(other.uuid) === 1,
    'the other add-on completes while the first is held',
    10_000,
  );
  expect(sim.provisionActionCount(limited.uuid)).toBe(0);
  // Retry-After honoured for all its Platform API calls: its token is paused (calls queued
  // later wait too), and the refused call itself is not due before then either.
  const paused = await stack.plane.pool.query(
    `select rate_limited_until > now() + interval '50 seconds' as held from heroku_tokens where resource_uuid = $1`,
    [limited.uuid],
  );
  expect(paused.rows).toEqual([{ held: true }]);
  const refused = await stack.plane.pool.query(
    `select next_attempt_at > now() + interval '50 seconds' as held from heroku_calls where resource_uuid = $1 and kind = 'config_update' and state = 'pending'`,
    [limited.uuid],
  );
  expect(refused.rows).toEqual([{ held: true }]);
  // Time passes: the held add-on completes too.
  await stack.plane.pool.query(
    'update heroku_calls set next_attempt_at = now() where resource_uuid = $1',
    [limited.uuid],
  );
  await stack.plane.pool.query(
    'update heroku_tokens set rate_limited_until = now() where resource_uuid = $1',
    [limited.uuid],
  );
  await waitFor(
    () => sim.provisionActionCount(limited.uuid) === 1,
    'the held add-on completes later',
    15_000,
  );
});

it('a non-Private-Space plan on a shared region value is refused when the app is in a Private Space', async () => {
  const inSpace = sim.createAddon({
    plan: 'mini',
    region: 'virginia',
    app: { name: 'spaced', privateSpace: true },
  });
  const res = await sim.provision(stack.url, inSpace, auth);
  expect(res.status).toBe(422);
  expect((res.body as { message: string }).message).toMatch(/not available in Private Spaces/);
  const outside = sim.createAddon({ plan: 'mini', region: 'us', app: { name: 'common' } });
  expect((await sim.provision(stack.url, outside, auth)).status).toBe(202);
  await waitFor(
    () => sim.provisionActionCount(outside.uuid) === 1,
    'provision action after lookup',
    15_000,
  );
  // The grant was exchanged once, during the lookup.
  const exchanges = sim.calls.filter(
    (c) =>
      c.path === '/oauth/token' &&
      JSON.stringify(c.body ?? c.query).includes(outside.oauth_grant.code),
  );
  expect(exchanges).toHaveLength(1);
});

it('a 503 from Heroku during the lookup does not spend the grant: the retry succeeds on another replica', async () => {
  const body = sim.createAddon({ plan: 'mini', region: 'us', app: { name: 'flaky-lookup' } });
  sim.inject({ method: 'GET', path: /^\/apps\//, status: 503, times: 1 });
  const first = await sim.provision(stack.url, body, auth);
  expect(first.status).toBe(503);
  expect((first.body as { message: string }).message).toMatch(/HTTP 503/);
  // Stored before the failing read, encrypted: no resource yet, but the tokens are in Postgres.
  const stored = await stack.plane.pool.query(
    'select access_token_enc from heroku_tokens where resource_uuid = $1',
    [body.uuid],
  );
  expect(stored.rows).toHaveLength(1);
  const replica = await createControlPlane(
    { ...stack.config, port: 0 },
    createLogger({ name: 'cp2', level: 'silent' }),
  );
  await replica.start();
  try {
    expect((await sim.provision(replica.url(), body, auth)).status).toBe(202);
    await waitFor(
      () => sim.provisionActionCount(body.uuid) === 1,
      'provision action after the retried lookup',
      15_000,
    );
  } finally {
    await replica.stop();
  }
  const exchanges = sim.calls.filter(
    (c) =>
      c.path === '/oauth/token' &&
      JSON.stringify([c.body, c.query]).includes(body.oauth_grant.code),
  );
  expect(exchanges.map((c) => c.status)).toEqual([200]);
});

it('a provision refused after the lookup leaves no tokens behind', async () => {
  const inSpace = sim.createAddon({
    plan: 'mini',
    region: 'virginia',
    app: { name: 'spaced-2', privateSpace: true },
  });
  expect((await sim.provision(stack.url, inSpace, auth)).status).toBe(422);
  const left = await stack.plane.pool.query(
    'select 1 from heroku_tokens where resource_uuid = $1',
    [inSpace.uuid],
  );
  expect(left.rows).toEqual([]);
});

it('answers 503 with a message when Heroku cannot be reached for the lookup', async () => {
  const down = await startStack({
    HEROKU_API_URL: 'http://127.0.0.1:9',
    HEROKU_ID_URL: 'http://127.0.0.1:9',
    PRIVATE_SPACE_LOOKUP: 'platform-api',
  });
  try {
    const body = sim.createAddon({ plan: 'mini', region: 'us' });
    const res = await sim.provision(down.url, body, auth);
    expect(res.status).toBe(503);
    expect((res.body as { message: string }).message).toMatch(/could not be reached/);
  } finally {
    await down.stop();
  }
});

it('credential rotation: new config PATCHed to Heroku, old user revoked after the grace period', async () => {
  const body = sim.createAddon({ plan: 'standard', region: 'us' });
  await sim.provision(stack.url, body, auth);
  await waitFor(() => sim.addon(body.uuid)?.state === 'provisioned', 'provisioned', 15_000);
  const before = sim.addon(body.uuid)!.config.get('TLSREDIS_URL')!;
  // Heroku expires the access token: the next call gets a 401 and must refresh, then succeed.
  sim.expireAccessTokens(body.uuid);
  await startRotation(
    stack.plane.pool,
    createSealer(stack.config.encryption),
    body.uuid,
    'operator',
  );
  await waitFor(
    () => sim.addon(body.uuid)!.config.get('TLSREDIS_URL') !== before,
    'rotated config at Heroku',
    15_000,
  );
  const after = sim.addon(body.uuid)!.config.get('TLSREDIS_URL')!;
  expect(new URL(after).username).not.toBe(new URL(before).username);
  await waitFor(
    async () => {
      const r = await stack.plane.pool.query(
        `select state, params from operations where resource_uuid = $1 and kind = 'revoke_credentials'`,
        [body.uuid],
      );
      return r.rows[0]?.state === 'succeeded';
    },
    'revocation',
    15_000,
  );
  const revoke = agent.jobs.find(
    (j) => j.resource.uuid === body.uuid && j.kind === 'revoke_credentials',
  )!;
  expect(revoke.params.revokeUser).toBe(new URL(before).username);
  const refreshes = sim.calls.filter(
    (c) =>
      c.path === '/oauth/token' &&
      JSON.stringify([c.body, c.query]).includes('refresh_token') &&
      c.status === 200,
  );
  expect(refreshes.length).toBeGreaterThanOrEqual(1);
  expect(sim.provisionActionCount(body.uuid)).toBe(1);
});

it('deprovision deletes the add-on’s Heroku tokens once nothing queued needs them', async () => {
  const body = sim.createAddon({ plan: 'standard', region: 'us' });
  await sim.provision(stack.url, body, auth);
  await waitFor(() => sim.addon(body.uuid)?.state === 'provisioned', 'provisioned', 15_000);
  const tokens = async (): Promise<number> =>
    (
      await stack.plane.pool.query('select 1 from heroku_tokens where resource_uuid = $1', [
        body.uuid,
      ])
    ).rowCount ?? 0;
  expect(await tokens()).toBe(1);
  expect((await sim.deprovision(stack.url, body.uuid, auth)).status).toBe(204);
  await waitFor(async () => (await tokens()) === 0, 'tokens deleted after deprovision', 15_000);
  const r = await stack.plane.pool.query('select state from resources where uuid = $1', [
    body.uuid,
  ]);
  expect(r.rows[0].state).toBe('deprovisioned');
});

it('no secret appears in the control plane logs', () => {
  const text = stack.logs.join('');
  const secrets = sim.calls
    .filter((c) => c.path === '/oauth/token' && c.status === 200)
    .flatMap((c) =>
      Object.values((c.body ?? {}) as Record<string, string>).concat(Object.values(c.query)),
    )
    .filter(
      (v) =>
        typeof v === 'string' &&
        v.length > 8 &&
        !['authorization_code', 'refresh_token'].includes(v),
    );
  expect(secrets.length).toBeGreaterThan(0);
  for (const s of secrets) expect(text).not.toContain(s);
  expect(text).not.toContain('dev-oauth-client-secret');
});
