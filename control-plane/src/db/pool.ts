/** Pools and transactions. Only db/ imports `pg` (this file and listen.ts). */
import pg from 'pg';
import type { Logger } from '../../../shared/src/logger.js';

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;
export type Queryable = Pick<pg.Pool, 'query'> | pg.PoolClient;

export function createPool(connectionString: string, max: number, log: Logger): pg.Pool {
  const pool = new pg.Pool({
    connectionString,
    max,
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: 10_000,
  });
  // An idle client losing its connection must not crash the process.
  pool.on('error', (err) => log.warn({ err }, 'postgres idle client error'));
  return pool;
}

/**
 * A statement for the hot paths, prepared once per connection under `name` and run by name
 * after: neither its parse nor, once Postgres settles on a generic plan (after five runs, when
 * that plan costs no more than the custom ones did), its planning is paid again. Planning was
 * half of the call finish's time and a third of the accepting insert's in the bench. Only for
 * statements whose plan is keyed lookups whatever their parameters.
 */
export function prepared(name: string, text: string): (values: unknown[]) => pg.QueryConfig {
  return (values) => ({ name, text, values });
}

/**
 * Run `fn` in a transaction on one checked-out client. `begin` may carry settings for the
 * transaction after the BEGIN (`begin; set local …`, no parameters): one round trip for both.
 */
export async function withTransaction<T>(
  pool: pg.Pool,
  fn: (client: pg.PoolClient) => Promise<T>,
  begin = 'begin',
): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query(begin);
    const result = await fn(client);
    await client.query('commit');
    return result;
  } catch (err) {
    await client.query('rollback').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

/** Cheap liveness check for readiness probes. */
export async function ping(db: Queryable): Promise<void> {
  await db.query('select 1');
}
