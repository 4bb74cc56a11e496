/** The one LISTEN helper: notifications arrive, and a killed connection comes back by itself. */
import type pg from 'pg';
import { createLogger } from '../../shared/src/logger.js';
import { listen, type Listener } from '../../control-plane/src/db/listen.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';

const log = createLogger({ name: 'test', level: 'silent' });
let db: TestDatabase;
let pool: pg.Pool;
beforeAll(async () => {
  db = await createTestDatabase();
  pool = db.pool();
});
afterAll(async () => {
  await pool.end();
  await db.drop();
});

async function until(check: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

it('delivers notifications, and after the server kills its connection reconnects and says so', async () => {
  const got: string[] = [];
  let reconnects = 0;
  let listener: Listener | undefined;
  try {
    listener = await listen({
      databaseUrl: db.url,
      channel: 'test_channel',
      name: 'test',
      log,
      onNotify: (p) => got.push(p ?? ''),
      onReconnect: () => reconnects++,
      baseDelayMs: 20,
    });
    await pool.query(`select pg_notify('test_channel', 'one'), pg_notify('other', 'x')`);
    await until(() => got.length === 1);
    expect(got).toEqual(['one']);

    const killed = await pool.query(
      `select pg_terminate_backend(pid) from pg_stat_activity
        where datname = current_database() and query ilike 'listen%'`,
    );
    expect(killed.rowCount).toBe(1);
    await until(() => reconnects === 1);
    await pool.query(`select pg_notify('test_channel', 'two')`);
    await until(() => got.length === 2);
    expect(got).toEqual(['one', 'two']);
  } finally {
    await listener?.close();
  }
  // Closed: no connection left behind listening (the backend may take a moment to exit).
  const listening = async (): Promise<number> =>
    (
      await pool.query(
        `select 1 from pg_stat_activity where datname = current_database() and query ilike 'listen%'`,
      )
    ).rowCount ?? 0;
  const deadline = Date.now() + 5000;
  while ((await listening()) > 0 && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 20));
  expect(await listening()).toBe(0);
});
