/**
 * Rolling upgrades: a call kind a replica does not know (as `app_log` was before migration
 * 006) is left pending for a newer replica, never marked done unsent; so is an operation kind
 * (as `repair` was before migration 013), which also holds back the operations behind it.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createLogger } from '../../shared/src/logger.js';
import { createSealer } from '../../control-plane/src/crypto.js';
import { CALL_KINDS, enqueueCall, listCalls } from '../../control-plane/src/db/calls.js';
import { claimDispatchable, insertOperation } from '../../control-plane/src/db/operations.js';
import { createPool, type Pool } from '../../control-plane/src/db/pool.js';
import { createCallWorker } from '../../control-plane/src/heroku/call-worker.js';
import { createHttpClient } from '../../control-plane/src/heroku/http-client.js';
import { createHerokuSim, type HerokuSim } from '../heroku-sim/index.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';

const log = createLogger({ name: 'test', level: 'silent' });
const sealer = createSealer({ keyId: 'k1', key: randomBytes(32), old: [] });
let db: TestDatabase;
let pool: Pool;
let sim: HerokuSim;

beforeAll(async () => {
  [db, sim] = await Promise.all([createTestDatabase(), createHerokuSim()]);
  pool = createPool(db.url, 4, log);
});
const http = createHttpClient();
afterAll(async () => {
  await http.close();
  await pool.end();
  await Promise.all([db.drop(), sim.close()]);
});

function worker(knownKinds?: (typeof CALL_KINDS)[number][]): ReturnType<typeof createCallWorker> {
  return createCallWorker({
    pool,
    databaseUrl: db.url,
    sealer,
    keyId: 'k1',
    log,
    apiUrl: sim.url,
    oauth: { idUrl: sim.url, clientSecret: 'x', timeoutMs: 2_000, http },
    ...(knownKinds ? { knownKinds } : {}),
  });
}

it('an older worker leaves a kind it does not know for a newer one, which sends it', async () => {
  const addon = sim.createAddon({ plan: 'standard', region: 'us' });
  const uuid = addon.uuid;
  await pool.query(
    `insert into resources (uuid, name, plan, region_value, heroku_region, agent_region, state, log_input_url_enc)
     values ($1, 'app', 'standard', 'amazon-web-services::us-east-1', 'us', 'us-east', 'provisioned', $2)`,
    [uuid, sealer.seal(addon.log_input_url)],
  );
  await enqueueCall(pool, {
    uuid,
    kind: 'app_log',
    dedupeKey: 'k',
    payloadEnc: sealer.sealJson({ message: 'hello from the new release' }),
  });

  const old = worker(CALL_KINDS.filter((k) => k !== 'app_log'));
  expect(await old.runOnce()).toBe(false); // nothing it may claim
  expect((await listCalls(pool, uuid)).map((c) => [c.kind, c.state, c.attempts])).toEqual([
    ['app_log', 'pending', 0],
  ]);
  expect(sim.logLines(uuid)).toEqual([]);

  expect(await worker().runOnce()).toBe(true);
  expect((await listCalls(pool, uuid)).map((c) => [c.kind, c.state])).toEqual([
    ['app_log', 'succeeded'],
  ]);
  expect(sim.logLines(uuid).map((l) => l.message)).toEqual(['hello from the new release']);
});

it('the dispatcher leaves an operation kind it does not know, and what queues behind it, to a newer release', async () => {
  // What a newer release's expand migration would do to admit its new kind.
  await pool.query('alter table operations drop constraint operations_kind_check');
  const uuid = randomUUID();
  await pool.query(
    `insert into resources (uuid, name, plan, region_value, heroku_region, agent_region, state)
     values ($1, 'app', 'standard', 'amazon-web-services::us-east-1', 'us', 'us-east', 'provisioned')`,
    [uuid],
  );
  const future = randomUUID();
  const behind = randomUUID();
  await pool.query(
    `insert into operations (id, resource_uuid, kind, generation, state, plan, params)
     values ($1, $2, 'snapshot', 2, 'pending', 'standard', '{}')`,
    [future, uuid],
  );
  await insertOperation(pool, {
    id: behind,
    uuid,
    kind: 'change_plan',
    generation: 3,
    plan: 'premium',
  });
  const claimable = async (kinds?: string[]): Promise<string[]> => {
    const client = await pool.connect();
    try {
      await client.query('begin');
      const ids = (await claimDispatchable(client, 10, kinds)).map((o) => o.id);
      await client.query('rollback');
      return ids;
    } finally {
      client.release();
    }
  };
  expect(await claimable()).toEqual([]);
  // A release that knows the kind claims it first; the plan change waits for it.
  expect(await claimable(['snapshot', 'change_plan'])).toEqual([future]);
  await pool.query("update operations set state = 'succeeded' where id = $1", [future]);
  expect(await claimable()).toEqual([behind]);
});
