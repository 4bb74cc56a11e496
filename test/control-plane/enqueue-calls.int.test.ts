/**
 * The finishing writes a result makes, each in one statement: several calls enqueued at once
 * keep their order (a resource's calls are sent in id order: the config before the provision
 * action) and wake the call workers once per add-on at commit; finishing an operation wakes
 * the requests waiting on it, and only when it did finish it.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { createLogger } from '../../shared/src/logger.js';
import { enqueueCalls, HEROKU_CALLS_CHANNEL, listCalls } from '../../control-plane/src/db/calls.js';
import {
  completeOperation,
  insertOperation,
  OPERATION_DONE_CHANNEL,
} from '../../control-plane/src/db/operations.js';
import { createPool, withTransaction, type Pool } from '../../control-plane/src/db/pool.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';

const log = createLogger({ name: 'test', level: 'silent' });
let db: TestDatabase;
let pool: Pool;
let listener: pg.Client;
const heard: Array<{ channel: string; payload: string | undefined }> = [];

beforeAll(async () => {
  db = await createTestDatabase();
  pool = createPool(db.url, 4, log);
  listener = new pg.Client({ connectionString: db.url });
  await listener.connect();
  listener.on('notification', (n) => heard.push({ channel: n.channel, payload: n.payload }));
  await listener.query(`listen ${HEROKU_CALLS_CHANNEL}`);
  await listener.query(`listen ${OPERATION_DONE_CHANNEL}`);
});
afterAll(async () => {
  await listener.end();
  await pool.end();
  await db.drop();
});

async function resource(): Promise<string> {
  const uuid = randomUUID();
  await pool.query(
    `insert into resources (uuid, name, plan, region_value, heroku_region, agent_region, state)
     values ($1, 'app', 'standard', 'us', 'us', 'us-east', 'provisioning')`,
    [uuid],
  );
  return uuid;
}

/** Notifications heard on `channel` once the listener has caught up (a round trip on it). */
async function heardOn(channel: string): Promise<Array<string | undefined>> {
  await listener.query('select 1');
  return heard.filter((n) => n.channel === channel).map((n) => n.payload);
}

// What an earlier test's statements notified is let in first, then forgotten.
beforeEach(async () => {
  await heardOn(HEROKU_CALLS_CHANNEL);
  heard.length = 0;
});

it('enqueues several calls in the order given, once each, and wakes the workers once per add-on', async () => {
  const [a, b] = [await resource(), await resource()];
  const calls = [
    { uuid: a, kind: 'config_update' as const, dedupeKey: 'gen-1', payloadEnc: 'sealed' },
    { uuid: a, kind: 'provision_action' as const, dedupeKey: 'provision' },
    { uuid: b, kind: 'provision_action' as const, dedupeKey: 'provision' },
    { uuid: a, kind: 'app_log' as const, dedupeKey: 'op-1', payloadEnc: 'line' },
  ];
  await withTransaction(pool, (tx) => enqueueCalls(tx, calls));
  const queued = await listCalls(pool, a);
  expect(queued.map((c) => c.kind)).toEqual(['config_update', 'provision_action', 'app_log']);
  expect(queued[0]!.payload_enc).toBe('sealed');
  expect(queued[1]!.payload_enc).toBeNull();
  expect((await listCalls(pool, b)).map((c) => c.kind)).toEqual(['provision_action']);
  expect((await heardOn(HEROKU_CALLS_CHANNEL)).sort()).toEqual([a, b].sort());

  // The same calls again (a redelivered result): nothing new is queued.
  await enqueueCalls(pool, calls);
  expect((await listCalls(pool, a)).map((c) => c.id)).toEqual(queued.map((c) => c.id));
});

it('an empty list writes and wakes nothing', async () => {
  await enqueueCalls(pool, []);
  expect(await heardOn(HEROKU_CALLS_CHANNEL)).toEqual([]);
});

it('finishing an operation wakes its waiters once, and a second finish neither changes nor wakes', async () => {
  const uuid = await resource();
  const id = randomUUID();
  await insertOperation(pool, { id, uuid, kind: 'provision', generation: 1, plan: 'standard' });
  const done = await completeOperation(pool, id, 'succeeded', null);
  expect(done).toMatchObject({ id, state: 'succeeded' });
  expect(await heardOn(OPERATION_DONE_CHANNEL)).toEqual([id]);

  heard.length = 0;
  const again = await completeOperation(pool, id, 'failed', { code: 'x', message: 'late' });
  expect(again).toBeUndefined();
  expect(await heardOn(OPERATION_DONE_CHANNEL)).toEqual([]);
  const row = await pool.query('select state from operations where id = $1', [id]);
  expect(row.rows[0].state).toBe('succeeded');
});
