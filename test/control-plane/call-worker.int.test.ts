/**
 * The Heroku call worker on a real Postgres against the Heroku simulator: rate limits are
 * scoped to what they limit (one add-on's token, or everything for the OAuth endpoint), and
 * the calls and tokens of an add-on Heroku has removed are removed too; a call in flight is
 * leased (never sent twice by live workers, due again when a dead worker's lease ends); what
 * Heroku refuses for good is not retried.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { createLogger } from '../../shared/src/logger.js';
import { waitFor } from '../../shared/src/ports.js';
import { createSealer } from '../../control-plane/src/crypto.js';
import {
  CALL_KINDS,
  claimDueCalls,
  enqueueCall,
  renewCallLeases,
  type CallKind,
} from '../../control-plane/src/db/calls.js';
import { insertOperation } from '../../control-plane/src/db/operations.js';
import { createPool, type Pool } from '../../control-plane/src/db/pool.js';
import type { PoolClient } from 'pg';
import { insertResource } from '../../control-plane/src/db/resources.js';
import {
  createCallWorker,
  type CallWorker,
  type CallWorkerDeps,
} from '../../control-plane/src/heroku/call-worker.js';
import { createHttpClient } from '../../control-plane/src/heroku/http-client.js';
import { createControlPlaneMetrics } from '../../control-plane/src/metrics/metrics.js';
import { createHerokuSim, type HerokuSim, type ProvisionBody } from '../heroku-sim/index.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';

const RETRY_AFTER_S = 3;
const sealer = createSealer({ keyId: 'test', key: randomBytes(32), old: [] });
const logs: string[] = [];
const log = createLogger({
  name: 'call-worker-test',
  level: 'info',
  destination: new Writable({
    write(chunk: Buffer, _enc, cb) {
      logs.push(chunk.toString());
      cb();
    },
  }),
});

let db: TestDatabase;
let pool: Pool;
let sim: HerokuSim;
const workers: CallWorker[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  pool = createPool(db.url, 10, log);
  sim = await createHerokuSim({ rateLimit: { retryAfterS: RETRY_AFTER_S } });
});

afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop()));
  sim.clearInjections();
});

const http = createHttpClient();
afterAll(async () => {
  await http.close();
  await pool.end();
  await db.drop();
  await sim.close();
});

function worker(overrides: Partial<CallWorkerDeps> = {}): CallWorker {
  const w = createCallWorker({
    pool,
    databaseUrl: db.url,
    sealer,
    keyId: 'test',
    log,
    apiUrl: sim.url,
    oauth: { idUrl: sim.url, clientSecret: 'dev-oauth-client-secret', timeoutMs: 5000, http },
    pollMs: 50,
    ...overrides,
  });
  workers.push(w);
  return w;
}

/** addon_heroku_calls_total by `call outcome` from a worker's own metrics. */
async function callCounts(
  metrics: ReturnType<typeof createControlPlaneMetrics>,
): Promise<Record<string, number>> {
  const { values } = await metrics.instruments.herokuCalls.get();
  return Object.fromEntries(values.map((v) => [`${v.labels.call} ${v.labels.outcome}`, v.value]));
}

async function drain(w: CallWorker): Promise<void> {
  while (await w.runOnce());
}

/** An add-on Heroku knows, with its resource row (as the provision handler stores it). */
async function addon(): Promise<ProvisionBody> {
  const body = sim.createAddon({ plan: 'standard', region: 'us' });
  await insertResource(pool, {
    uuid: body.uuid,
    name: body.name,
    plan: body.plan,
    regionValue: body.region,
    herokuRegion: 'us',
    privateSpace: false,
    agentRegion: 'us-east',
    callbackUrl: body.callback_url,
    logInputUrlEnc: sealer.seal(body.log_input_url),
    options: {},
    oauthGrantEnc: sealer.seal(body.oauth_grant.code),
    oauthGrantExpiresAt: body.oauth_grant.expires_at,
  });
  return body;
}

/** An add-on whose grant the worker has exchanged. */
async function addonWithTokens(): Promise<ProvisionBody> {
  const body = await addon();
  await enqueueCall(pool, { uuid: body.uuid, kind: 'exchange_grant', dedupeKey: 'grant' });
  await drain(worker());
  expect(await tokenCount(body.uuid)).toBe(1);
  return body;
}

async function enqueueConfig(uuid: string, value: string): Promise<void> {
  const payloadEnc = sealer.sealJson({ TLSREDIS_URL: value });
  await enqueueCall(pool, { uuid, kind: 'config_update', dedupeKey: value, payloadEnc });
}

async function tokenCount(uuid: string): Promise<number> {
  const r = await pool.query('select 1 from heroku_tokens where resource_uuid = $1', [uuid]);
  return r.rowCount ?? 0;
}

async function callStates(uuid: string): Promise<Array<{ kind: CallKind; state: string }>> {
  const r = await pool.query<{ kind: CallKind; state: string }>(
    'select kind, state from heroku_calls where resource_uuid = $1 order by id',
    [uuid],
  );
  return r.rows;
}

const patches = (uuid: string) =>
  sim.calls.filter((c) => c.method === 'PATCH' && c.path === `/addons/${uuid}/config`);
const configOf = (uuid: string) => sim.addon(uuid)?.config.get('TLSREDIS_URL');

describe('rate limits', () => {
  it("a 429 on one add-on's token leaves other add-ons' calls flowing; that add-on's call is retried after Retry-After", async () => {
    const a = await addonWithTokens();
    const b = await addonWithTokens();
    sim.setRateLimitRemaining(a.uuid, 0);
    await enqueueConfig(a.uuid, 'rediss://a');
    const metrics = createControlPlaneMetrics();
    const w = worker({ metrics });
    expect(await w.runOnce()).toBe(true);
    expect(patches(a.uuid).map((c) => c.status)).toEqual([429]);
    const limitedAt = Date.now();

    await enqueueConfig(b.uuid, 'rediss://b');
    await w.start();
    await waitFor(() => configOf(b.uuid) === 'rediss://b', "B's config at Heroku", 10_000);
    expect(Date.now() - limitedAt).toBeLessThan(1500);
    expect(patches(b.uuid).map((c) => c.status)).toEqual([200]);

    await waitFor(() => configOf(a.uuid) === 'rediss://a', "A's config after the back-off", 15_000);
    const [limited, retried] = patches(a.uuid);
    expect(retried!.status).toBe(200);
    expect(retried!.time.getTime() - limited!.time.getTime()).toBeGreaterThanOrEqual(
      RETRY_AFTER_S * 1000,
    );
    expect(logs.join('')).toContain('heroku rate limit: calls with this add-on token paused');
    // Heroku holds the config before the worker has recorded (and counted) its success.
    const ok = async (): Promise<boolean> => (await callCounts(metrics))['config_update ok'] === 2;
    await waitFor(ok, 'both successes counted', 5_000);
    expect(await callCounts(metrics)).toEqual({
      'config_update rate_limited': 1,
      'config_update ok': 2,
    });
  });

  it("a 429 that also says RateLimit-Remaining: 0, as Heroku's do, holds the add-on for its Retry-After, not a minute", async () => {
    const a = await addonWithTokens();
    sim.setRateLimitRemaining(a.uuid, 0);
    await enqueueConfig(a.uuid, 'rediss://a1');
    await enqueueConfig(a.uuid, 'rediss://a2');
    await worker().start();
    await waitFor(() => configOf(a.uuid) === 'rediss://a2', "A's second config", 15_000);
    const [limited, first, second] = patches(a.uuid);
    expect([limited!.status, first!.status, second!.status]).toEqual([429, 200, 200]);
    expect(first!.time.getTime() - limited!.time.getTime()).toBeGreaterThanOrEqual(
      RETRY_AFTER_S * 1000,
    );
  });

  it("a call queued while its add-on's token is paused waits out the pause instead of spending a request", async () => {
    const a = await addonWithTokens();
    const b = await addonWithTokens();
    sim.setRateLimitRemaining(a.uuid, 1);
    await enqueueConfig(a.uuid, 'rediss://a1');
    const w = worker({ exhaustedPauseMs: 2000 });
    expect(await w.runOnce()).toBe(true);
    expect(patches(a.uuid).map((c) => c.status)).toEqual([200]); // and RateLimit-Remaining: 0
    const exhaustedAt = Date.now();

    await enqueueConfig(a.uuid, 'rediss://a2');
    await enqueueConfig(b.uuid, 'rediss://b1');
    await w.start();
    await waitFor(() => configOf(b.uuid) === 'rediss://b1', "B's config at Heroku", 10_000);
    expect(Date.now() - exhaustedAt).toBeLessThan(1500);

    await waitFor(() => configOf(a.uuid) === 'rediss://a2', "A's second config", 15_000);
    const [first, second] = patches(a.uuid);
    expect(second!.status).toBe(200);
    expect(second!.time.getTime() - first!.time.getTime()).toBeGreaterThanOrEqual(2000);
  });

  it('a 429 from the OAuth endpoint pauses every call on the replica until its Retry-After', async () => {
    const b = await addonWithTokens();
    const c = await addon();
    await enqueueCall(pool, { uuid: c.uuid, kind: 'exchange_grant', dedupeKey: 'grant' });
    sim.inject({
      method: 'POST',
      path: /^\/oauth\/token$/,
      status: 429,
      headers: { 'Retry-After': '2', 'RateLimit-Remaining': '0' },
    });
    const w = worker();
    expect(await w.runOnce()).toBe(true);
    const limited = sim.calls.filter((x) => x.path === '/oauth/token').at(-1)!;
    expect(limited.status).toBe(429);

    await enqueueConfig(b.uuid, 'rediss://b-after-oauth-limit');
    await w.start();
    await waitFor(() => configOf(b.uuid) === 'rediss://b-after-oauth-limit', "B's config", 10_000);
    const sent = patches(b.uuid).at(-1)!;
    expect(sent.time.getTime() - limited.time.getTime()).toBeGreaterThanOrEqual(2000);
    await waitFor(async () => (await tokenCount(c.uuid)) === 1, "C's grant exchanged", 10_000);
    expect(logs.join('')).toContain('heroku rate limit: all calls on this replica paused');
  });
});

describe('add-ons that are gone', () => {
  it("drops a gone add-on's queued Platform API calls unsent, still writes its log lines, and deletes its tokens", async () => {
    const a = await addonWithTokens();
    await enqueueConfig(a.uuid, 'rediss://never-sent');
    await enqueueCall(pool, {
      uuid: a.uuid,
      kind: 'app_log',
      dedupeKey: 'bye',
      payloadEnc: sealer.sealJson({ message: 'last line' }),
    });
    await pool.query(
      `update resources set state = 'deprovisioned', deprovisioned_at = now() where uuid = $1`,
      [a.uuid],
    );
    await drain(worker());
    expect(patches(a.uuid)).toEqual([]);
    expect(sim.logLines(a.uuid).map((l) => l.message)).toEqual(['last line']);
    expect(await callStates(a.uuid)).toEqual([
      { kind: 'exchange_grant', state: 'succeeded' },
      { kind: 'config_update', state: 'dropped' },
      { kind: 'app_log', state: 'succeeded' },
    ]);
    expect(await tokenCount(a.uuid)).toBe(0);
    const audit = await pool.query(
      `select action from audit_events where resource_uuid = $1 and action like '%dropped'`,
      [a.uuid],
    );
    expect(audit.rows).toEqual([{ action: 'heroku_config_update_dropped' }]);
  });

  it('deletes tokens left by add-ons that are gone (deprovisioned, or deprovision given up) when it starts', async () => {
    const gone = await addonWithTokens();
    const givenUp = await addonWithTokens();
    const live = await addonWithTokens();
    await pool.query(`update resources set state = 'deprovisioned' where uuid = $1`, [gone.uuid]);
    await insertOperation(pool, {
      id: randomUUID(),
      uuid: givenUp.uuid,
      kind: 'deprovision',
      generation: 2,
      plan: givenUp.plan,
    });
    await pool.query(
      `update operations set state = 'failed' where resource_uuid = $1 and kind = 'deprovision'`,
      [givenUp.uuid],
    );
    await pool.query(`update resources set state = 'failed' where uuid = $1`, [givenUp.uuid]);
    await worker().start();
    await waitFor(
      async () => (await tokenCount(gone.uuid)) + (await tokenCount(givenUp.uuid)) === 0,
      'tokens of gone add-ons deleted',
      5000,
    );
    expect(await tokenCount(live.uuid)).toBe(1);
  });
});

async function callRow(uuid: string, kind: CallKind) {
  const r = await pool.query<{
    state: string;
    attempts: number;
    last_status: number | null;
    last_error: string | null;
    leased_until: Date | null;
  }>(
    'select state, attempts, last_status, last_error, leased_until from heroku_calls where resource_uuid = $1 and kind = $2',
    [uuid, kind],
  );
  return r.rows[0]!;
}

it('its sweep removes tokens a Private Space lookup stored for a provision that never got a resource, after a day', async () => {
  const old = randomUUID();
  const fresh = randomUUID();
  for (const [uuid, age] of [
    [old, '25 hours'],
    [fresh, '1 hour'],
  ] as const) {
    await pool.query(
      `insert into heroku_tokens (resource_uuid, access_token_enc, expires_at, key_id, created_at)
       values ($1, $2, now() + interval '1 hour', 'test', now() - $3::interval)`,
      [uuid, sealer.seal('t'), age],
    );
  }
  await worker().start();
  await waitFor(async () => (await tokenCount(old)) === 0, 'abandoned tokens removed', 5000);
  expect(await tokenCount(fresh)).toBe(1);
});

describe('leases', () => {
  it('a call in flight stays leased to its live worker past the lease length: no other worker sends it', async () => {
    const a = await addonWithTokens();
    sim.inject({ method: 'PATCH', path: new RegExp(`^/addons/${a.uuid}/config$`), delayMs: 1500 });
    await enqueueConfig(a.uuid, 'rediss://slow');
    const first = worker({ leaseMs: 300 });
    await first.start();
    await waitFor(
      async () => (await callRow(a.uuid, 'config_update')).leased_until !== null,
      'leased',
      5000,
    );
    const other = worker({ leaseMs: 300 });
    for (let i = 0; i < 6; i++) {
      expect(await other.runOnce()).toBe(false); // renewed every 100 ms by the first worker
      await new Promise((r) => setTimeout(r, 150));
    }
    await waitFor(
      async () => (await callRow(a.uuid, 'config_update')).state === 'succeeded',
      'sent',
      5000,
    );
    expect(patches(a.uuid)).toHaveLength(1);
    expect((await callRow(a.uuid, 'config_update')).leased_until).toBeNull();
  });

  it("a dead worker's lease ends and the call is sent by another worker", async () => {
    const a = await addonWithTokens();
    await enqueueConfig(a.uuid, 'rediss://orphaned');
    // A worker that leased the call and died before sending it.
    const leased = await claimDueCalls(pool, CALL_KINDS, 10, 400);
    expect(leased.map((c) => c.kind)).toEqual(['config_update']);
    const w = worker();
    expect(await w.runOnce()).toBe(false);
    await new Promise((r) => setTimeout(r, 500));
    expect(await w.runOnce()).toBe(true);
    expect(patches(a.uuid)).toHaveLength(1);
    expect(configOf(a.uuid)).toBe('rediss://orphaned');
  });
});

describe('lease renewal', () => {
  it('renews the leases it can at once, skipping a call another statement holds locked (its finish), never waiting for it', async () => {
    const a = await addonWithTokens();
    const b = await addonWithTokens();
    await enqueueConfig(a.uuid, 'rediss://a');
    await enqueueConfig(b.uuid, 'rediss://b');
    const leased = await claimDueCalls(pool, CALL_KINDS, 10, 60_000);
    const idOf = (uuid: string): string => leased.find((c) => c.resource_uuid === uuid)!.id;
    const holder = await pool.connect();
    try {
      await holder.query('begin');
      await holder.query('select 1 from heroku_calls where id = $1 for update', [idOf(a.uuid)]);
      const renewed = await Promise.race([
        renewCallLeases(pool, [idOf(a.uuid), idOf(b.uuid)], 120_000),
        new Promise<'waited'>((r) => setTimeout(() => r('waited'), 2_000)),
      ]);
      expect(renewed).toBe(1);
      await holder.query('rollback');
    } finally {
      holder.release();
    }
    const until = async (uuid: string): Promise<number> =>
      (await callRow(uuid, 'config_update')).leased_until!.getTime();
    expect((await until(b.uuid)) - Date.now()).toBeGreaterThan(90_000);
    expect((await until(a.uuid)) - Date.now()).toBeLessThan(61_000);
    await pool.query(`delete from heroku_calls where resource_uuid = any($1::uuid[])`, [
      [a.uuid, b.uuid],
    ]);
  });
});

describe('access tokens', () => {
  const tokenRefreshes = () =>
    sim.calls.filter(
      (c) =>
        c.path === '/oauth/token' &&
        (c.body as { grant_type?: string }).grant_type === 'refresh_token',
    ).length;

  it('a Platform API call sends with the token its claim read, and refreshes one about to expire first', async () => {
    const a = await addonWithTokens();
    const { rows } = await pool.query<{ access_token_enc: string }>(
      'select access_token_enc from heroku_tokens where resource_uuid = $1',
      [a.uuid],
    );
    const stored = sealer.open(rows[0]!.access_token_enc);
    const refreshesBefore = tokenRefreshes();
    await enqueueConfig(a.uuid, 'rediss://fresh');
    await drain(worker());
    expect(patches(a.uuid).at(-1)!.headers.authorization).toBe(`Bearer ${stored}`);
    expect(tokenRefreshes()).toBe(refreshesBefore);

    // A minute left: refreshed (and stored) before the call, which goes with the new token.
    await pool.query(
      "update heroku_tokens set expires_at = now() + interval '1 minute' where resource_uuid = $1",
      [a.uuid],
    );
    await enqueueConfig(a.uuid, 'rediss://refreshed');
    await drain(worker());
    expect(tokenRefreshes()).toBe(refreshesBefore + 1);
    const after = await pool.query<{ access_token_enc: string; expires_at: Date }>(
      'select access_token_enc, expires_at from heroku_tokens where resource_uuid = $1',
      [a.uuid],
    );
    const refreshed = sealer.open(after.rows[0]!.access_token_enc);
    expect(refreshed).not.toBe(stored);
    expect(after.rows[0]!.expires_at.getTime()).toBeGreaterThan(Date.now() + 120_000);
    expect(patches(a.uuid).at(-1)!.headers.authorization).toBe(`Bearer ${refreshed}`);
    expect(configOf(a.uuid)).toBe('rediss://refreshed');
  });
});

describe('chained calls', () => {
  it("an add-on's next due call is leased by its predecessor's finish and sent at once, in order", async () => {
    const a = await addonWithTokens();
    const b = await addonWithTokens();
    for (const v of ['one', 'two', 'three']) await enqueueConfig(a.uuid, `rediss://${v}`);
    await enqueueConfig(b.uuid, 'rediss://b');
    const w = worker();
    // One claim: a's first PATCH and b's; a's second and third follow their predecessors.
    expect(await w.runOnce()).toBe(true);
    expect(
      patches(a.uuid).map((c) => (c.body as { config: Array<{ value: string }> }).config[0]!.value),
    ).toEqual(['rediss://one', 'rediss://two', 'rediss://three']);
    expect(configOf(a.uuid)).toBe('rediss://three');
    expect(configOf(b.uuid)).toBe('rediss://b');
    expect((await callStates(a.uuid)).map((c) => c.state)).toEqual([
      'succeeded',
      'succeeded',
      'succeeded',
      'succeeded',
    ]);
    expect(await w.runOnce()).toBe(false);
  });

  it('chains no call that is not due, nor one of a kind the worker does not know', async () => {
    const a = await addonWithTokens();
    await enqueueConfig(a.uuid, 'rediss://now');
    await enqueueConfig(a.uuid, 'rediss://later');
    await pool.query(
      `update heroku_calls set next_attempt_at = now() + interval '1 hour'
        where resource_uuid = $1 and dedupe_key = 'rediss://later'`,
      [a.uuid],
    );
    const c = await addonWithTokens();
    await enqueueConfig(c.uuid, 'rediss://known');
    await enqueueCall(pool, { uuid: c.uuid, kind: 'provision_action', dedupeKey: 'provision' });
    const older = worker({ knownKinds: ['exchange_grant', 'config_update'] });
    expect(await older.runOnce()).toBe(true);
    expect(configOf(a.uuid)).toBe('rediss://now');
    expect(configOf(c.uuid)).toBe('rediss://known');
    const left = await pool.query<{ kind: string; leased_until: Date | null }>(
      `select kind, leased_until from heroku_calls
        where resource_uuid = any($1::uuid[]) and state = 'pending' order by id`,
      [[a.uuid, c.uuid]],
    );
    expect(left.rows).toEqual([
      { kind: 'config_update', leased_until: null },
      { kind: 'provision_action', leased_until: null },
    ]);
    expect(sim.provisionActionCount(c.uuid)).toBe(0);
    // Nothing left for the next tests' workers.
    await pool.query(`delete from heroku_calls where resource_uuid = any($1::uuid[])`, [
      [a.uuid, c.uuid],
    ]);
  });
});

/** The pool, with a count of the claim statements run through it. */
function countingClaims(p: Pool): { pool: Pool; claims: () => number } {
  let claims = 0;
  const counted = (client: PoolClient): PoolClient =>
    new Proxy(client, {
      get(target, key) {
        const value = Reflect.get(target, key, target) as unknown;
        if (key !== 'query' || typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          const text = typeof args[0] === 'string' ? args[0] : '';
          if (text.includes('with page as materialized') && text.includes('heroku_calls')) claims++;
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
  const pool = new Proxy(p, {
    get(target, key) {
      if (key === 'connect') return async () => counted(await target.connect());
      const value = Reflect.get(target, key, target) as unknown;
      return typeof value === 'function' ? (value as () => unknown).bind(target) : value;
    },
  });
  return { pool, claims: () => claims };
}

describe('claims', () => {
  it('a finished call claims again only when more may be due: not after a short claim, at once after a full one', async () => {
    const a = await addonWithTokens();
    const others = [await addonWithTokens(), await addonWithTokens(), await addonWithTokens()];
    // No sweep during the test: only wake-ups and completions claim.
    const counting = countingClaims(pool);
    const w = worker({ pool: counting.pool, pollMs: 60_000 });
    await w.start();
    await new Promise((r) => setTimeout(r, 100));
    const before = counting.claims();
    await enqueueConfig(a.uuid, 'rediss://alone'); // its NOTIFY wakes the worker
    await waitFor(async () => configOf(a.uuid) === 'rediss://alone', 'sent', 5000);
    await new Promise((r) => setTimeout(r, 200));
    // The wake-up's claim asked for 32 and got 1: nothing more was due when that one finished.
    expect(counting.claims() - before).toBe(1);
    await w.stop();

    // One slot, three add-ons' calls: each claim comes back full, so each completion claims.
    const single = countingClaims(pool);
    const one = worker({ pool: single.pool, pollMs: 60_000, concurrency: 1 });
    for (const o of others) await enqueueConfig(o.uuid, `rediss://${o.uuid}`);
    await one.start();
    await waitFor(
      async () => others.every((o) => configOf(o.uuid) === `rediss://${o.uuid}`),
      'all sent without a sweep',
      5000,
    );
    await new Promise((r) => setTimeout(r, 200));
    const settled = single.claims();
    expect(settled).toBeLessThanOrEqual(5); // the start's, one per completion, one that found none
    await new Promise((r) => setTimeout(r, 200));
    expect(single.claims()).toBe(settled); // and then it rests
  });
});

describe('refusals that are final', () => {
  it("a grant code Heroku's identity service refuses fails for good after one attempt, with Heroku's reason", async () => {
    const a = await addon();
    await pool.query('update resources set oauth_grant_enc = $2 where uuid = $1', [
      a.uuid,
      sealer.seal('not-a-grant-heroku-issued'),
    ]);
    await enqueueCall(pool, { uuid: a.uuid, kind: 'exchange_grant', dedupeKey: 'grant' });
    const metrics = createControlPlaneMetrics();
    await drain(worker({ metrics }));
    const row = await callRow(a.uuid, 'exchange_grant');
    expect(row).toMatchObject({ state: 'failed', attempts: 1, last_status: 401 });
    expect(await callCounts(metrics)).toEqual({ 'exchange_grant failed': 1 });
    expect(row.last_error).toMatch(/answered 401: .*already used authorization code/);
    expect(logs.some((l) => l.includes('heroku call failed for good') && l.includes(a.uuid))).toBe(
      true,
    );
  });

  it('a grant refused by a 5xx is retried, and the warning says what Heroku answered', async () => {
    const a = await addon();
    sim.inject({ method: 'POST', path: /^\/oauth\/token$/, status: 503 });
    await enqueueCall(pool, { uuid: a.uuid, kind: 'exchange_grant', dedupeKey: 'grant' });
    const metrics = createControlPlaneMetrics();
    await worker({ metrics }).runOnce();
    const row = await callRow(a.uuid, 'exchange_grant');
    expect(row).toMatchObject({ state: 'pending', attempts: 1, last_status: 503 });
    expect(await callCounts(metrics)).toEqual({ 'exchange_grant retry': 1 });
    const warning = logs.find(
      (l) => l.includes('heroku call will be retried') && l.includes(a.uuid),
    );
    expect(JSON.parse(warning!)).toMatchObject({
      status: 503,
      err: expect.stringMatching(/answered 503/),
    });
  });

  it('a provision action for an add-on Heroku no longer waits for fails for good; one still provisioning is retried', async () => {
    const gone = await addonWithTokens();
    sim.addon(gone.uuid)!.state = 'deprovisioned';
    await enqueueCall(pool, { uuid: gone.uuid, kind: 'provision_action', dedupeKey: 'p' });
    await drain(worker());
    const row = await callRow(gone.uuid, 'provision_action');
    expect(row).toMatchObject({ state: 'failed', attempts: 1, last_status: 422 });
    expect(row.last_error).toMatch(/deprovisioned at Heroku/);

    const busy = await addonWithTokens();
    sim.inject({
      method: 'POST',
      path: new RegExp(`^/addons/${busy.uuid}/actions/provision$`),
      status: 422,
    });
    await enqueueCall(pool, { uuid: busy.uuid, kind: 'provision_action', dedupeKey: 'p' });
    await worker().runOnce();
    expect(await callRow(busy.uuid, 'provision_action')).toMatchObject({
      state: 'pending',
      attempts: 1,
      last_status: 422,
    });
  });
});
