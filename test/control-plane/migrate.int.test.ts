/**
 * A migration chosen as a deadlock's victim (it locks tables a live transaction holds and
 * wants) is rolled back and tried again, not left to stop the start-up.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { migrate } from '../../control-plane/src/db/migrate.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';

let db: TestDatabase;
let pool: pg.Pool;
let dir: string;
beforeAll(async () => {
  db = await createTestDatabase();
  pool = db.pool(4);
  await pool.query('create table dl_a (x int); create table dl_b (x int)');
  dir = mkdtempSync(join(tmpdir(), 'migrations-'));
  // A version past the real migrations (the database has them). Locks dl_b, then waits for dl_a, which the live transaction below holds.
  writeFileSync(
    join(dir, '900_deadlock.sql'),
    `lock table dl_b in access exclusive mode;
     lock table dl_a in access exclusive mode;
     create table dl_done (x int);`,
  );
});
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await pool.end();
  await db.drop();
});

it('retries a migration rolled back as a deadlock victim', async () => {
  const live = await pool.connect();
  try {
    await live.query('begin');
    await live.query('lock table dl_a in row exclusive mode');
    const migrating = migrate(pool, dir);
    // Once the migration waits for dl_a while holding dl_b, the live transaction asks for
    // dl_b: a cycle, broken by the migration's backend (it has waited longest).
    for (;;) {
      const waiting = await pool.query(
        `select 1 from pg_locks where not granted and relation = 'dl_a'::regclass`,
      );
      if (waiting.rowCount) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    await live.query('lock table dl_b in row exclusive mode');
    await live.query('commit');
    expect(await migrating).toEqual(['900_deadlock.sql']);
  } finally {
    live.release();
  }
  const done = await pool.query(`select to_regclass('dl_done') is not null as made`);
  expect(done.rows[0].made).toBe(true);
});
