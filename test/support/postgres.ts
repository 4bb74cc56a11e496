/** Per-test-file databases cloned from the migrated template (graphile-worker style). */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

const TEMPLATE_DB = 'cp_template';

export interface TestDatabase {
  url: string;
  name: string;
  /**
   * A pool on this database. pool.end() can resolve before an idle client's socket has
   * closed; drop()'s forced termination (57P01) of that client is then ignored, not an
   * unhandled error that fails the file (it failed CI).
   */
  pool(max?: number): pg.Pool;
  drop(): Promise<void>;
}

export function testPgPort(): number {
  const port = Number(process.env.TEST_PG_PORT);
  if (!port)
    throw new Error('TEST_PG_PORT unset: run through jest (globalSetup starts PostgreSQL)');
  return port;
}

export async function createTestDatabase(): Promise<TestDatabase> {
  const port = testPgPort();
  const name = `t_${randomBytes(6).toString('hex')}`;
  const adminUrl = `postgres://postgres@127.0.0.1:${port}/postgres`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    // Concurrent clones of one template can collide; retry briefly.
    for (let attempt = 0; ; attempt++) {
      try {
        await admin.query(`create database ${name} template ${TEMPLATE_DB}`);
        break;
      } catch (err) {
        if (attempt > 20) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  } finally {
    await admin.end();
  }
  const url = `postgres://postgres@127.0.0.1:${port}/${name}`;
  return {
    name,
    url,
    pool: (max = 10) => {
      const pool = new pg.Pool({ connectionString: url, max });
      pool.on('error', () => undefined);
      return pool;
    },
    drop: async () => {
      const c = new pg.Client({ connectionString: adminUrl });
      await c.connect();
      await c.query(`drop database if exists ${name} with (force)`);
      await c.end();
    },
  };
}
