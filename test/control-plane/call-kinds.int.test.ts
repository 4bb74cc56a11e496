/**
 * Rolling upgrades: a call kind a replica does not know (as `app_log` was before migration
 * 006) is left pending for a newer replica, never marked done unsent.
 */
import { randomBytes } from 'node:crypto';
import { createLogger } from '../../shared/src/logger.js';
import { createSealer } from '../../control-plane/src/crypto.js';
import { CALL_KINDS, enqueueCall, listCalls } from '../../control-plane/src/db/calls.js';
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
