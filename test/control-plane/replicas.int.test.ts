/** Two replicas: migrations applied once when both start at once; no double dispatch. */
import { randomBytes, randomUUID } from 'node:crypto';
import { connect, type NatsConnection } from 'nats';
import pg from 'pg';
import { createSealer } from '../../control-plane/src/crypto.js';
import { createLogger } from '../../shared/src/logger.js';
import { loadCatalog } from '../../control-plane/src/catalog/load.js';
import { migrate } from '../../control-plane/src/db/migrate.js';
import { insertOperation } from '../../control-plane/src/db/operations.js';
import { createDispatcher } from '../../control-plane/src/ops/messaging/dispatcher.js';
import { ensureStreams } from '../../shared/src/streams.js';
import { createTestDatabase, testPgPort, type TestDatabase } from '../support/postgres.js';
import { startTestNats, type TestNats } from '../support/nats.js';

const log = createLogger({ name: 'test', level: 'silent' });
let nats: TestNats;
let nc: NatsConnection;
beforeAll(async () => {
  nats = await startTestNats();
  nc = await connect({ servers: nats.url });
  await ensureStreams(await nc.jetstreamManager());
});
afterAll(async () => {
  await nc.close();
  await nats.stop();
});

it('two replicas migrating an empty database at once apply each migration once', async () => {
  const admin = new pg.Client({
    connectionString: `postgres://postgres@127.0.0.1:${testPgPort()}/postgres`,
  });
  await admin.connect();
  const name = `fresh_${randomUUID().slice(0, 8)}`;
  await admin.query(`create database ${name}`);
  const url = `postgres://postgres@127.0.0.1:${testPgPort()}/${name}`;
  const pools = [new pg.Pool({ connectionString: url }), new pg.Pool({ connectionString: url })];
  // The forced drop below may reach a connection still closing; that is not a failure here.
  for (const p of pools) p.on('error', () => undefined);
  const [a, b] = await Promise.all(pools.map((p) => migrate(p)));
  expect([...a!, ...b!].sort()).toEqual(a!.length ? a : b);
  const rows = await pools[0]!.query('select count(*)::int as n from schema_migrations');
  expect(rows.rows[0].n).toBeGreaterThanOrEqual(3);
  await Promise.all(pools.map((p) => p.end()));
  await admin.query(`drop database ${name} with (force)`);
  await admin.end();
});

describe('dispatch', () => {
  let db: TestDatabase;
  let pool: pg.Pool;
  beforeAll(async () => {
    db = await createTestDatabase();
    pool = db.pool(10);
  });
  afterAll(async () => {
    await pool.end();
    await db.drop();
  });

  it('two dispatchers racing over 200 operations publish each exactly once', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 200; i++) {
      const uuid = randomUUID();
      await pool.query(
        `insert into resources (uuid, name, plan, region_value, heroku_region, agent_region, state) values ($1, 'n', 'standard', 'amazon-web-services::us-west-2', 'oregon', 'us-west', 'provisioning')`,
        [uuid],
      );
      const id = randomUUID();
      ids.push(id);
      await insertOperation(pool, { id, uuid, kind: 'provision', generation: 1, plan: 'standard' });
    }
    const published: string[] = [];
    const make = () =>
      createDispatcher({
        pool,
        databaseUrl: db.url,
        js: nc.jetstream(),
        catalog: loadCatalog(),
        configVarsPrefix: 'TLSREDIS',
        log,
        sealer: createSealer({ keyId: 'test', key: randomBytes(32), old: [] }),
        failureAction: 'deprovision',
        sweepMs: 50,
        operationTimeoutMs: 60_000,
        maxAttempts: 3,
        batchSize: 7,
        afterPublish: (ops) => published.push(...ops.map((o) => o.id)),
      });
    const [d1, d2] = [make(), make()];
    await Promise.all([d1.runOnce(), d2.runOnce(), d1.runOnce(), d2.runOnce()]);
    expect(published.sort()).toEqual([...ids].sort());
    const states = await pool.query(
      `select state, attempts, count(*)::int as n from operations group by 1, 2`,
    );
    expect(states.rows).toEqual([{ state: 'dispatched', attempts: 1, n: 200 }]);
  });
});
