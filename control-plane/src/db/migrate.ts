/**
 * Numbered migrations (`NNN_name.sql`), applied in order at start-up under an advisory
 * lock so two replicas starting at once apply each exactly once. Never edit a landed file.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Pool, PoolClient } from './pool.js';

export const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations', import.meta.url));
const LOCK_KEY = 7_242_001; // arbitrary, constant: the migration lock

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export function readMigrations(dir = MIGRATIONS_DIR): Migration[] {
  return readdirSync(dir)
    .filter((f) => /^\d{3}_[a-z0-9_]+\.sql$/.test(f))
    .sort()
    .map((f) => ({
      version: Number(f.slice(0, 3)),
      name: f,
      sql: readFileSync(`${dir}/${f}`, 'utf8'),
    }));
}

/**
 * A migration that takes a table lock while the previous release serves can be chosen as a
 * deadlock's victim (it waits for a live transaction that waits on one queued behind it); it
 * is rolled back whole, so it is tried again (SQLSTATE 40P01, and 55P03 when lock_timeout is
 * set), after a growing pause.
 */
const LOCK_RETRIES = 8;
const RETRIED_CODES = new Set(['40P01', '55P03']);

async function applyWithRetries(client: PoolClient, m: Migration): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    await client.query('begin');
    try {
      await client.query(m.sql);
      await client.query('insert into schema_migrations (version, name) values ($1, $2)', [
        m.version,
        m.name,
      ]);
      await client.query('commit');
      return;
    } catch (err) {
      await client.query('rollback');
      const code = (err as { code?: string }).code;
      if (attempt < LOCK_RETRIES && code !== undefined && RETRIED_CODES.has(code)) {
        await new Promise((r) => setTimeout(r, 100 * attempt));
        continue;
      }
      throw new Error(`migration ${m.name} failed`, { cause: err });
    }
  }
}

export async function migrate(pool: Pool, dir = MIGRATIONS_DIR): Promise<string[]> {
  const client = await pool.connect();
  const applied: string[] = [];
  try {
    await client.query('select pg_advisory_lock($1)', [LOCK_KEY]);
    await client.query(
      'create table if not exists schema_migrations (version integer primary key, name text not null, applied_at timestamptz not null default now())',
    );
    const done = new Set(
      (await client.query<{ version: number }>('select version from schema_migrations')).rows.map(
        (r) => r.version,
      ),
    );
    for (const m of readMigrations(dir)) {
      if (done.has(m.version)) continue;
      await applyWithRetries(client, m);
      applied.push(m.name);
    }
  } finally {
    await client.query('select pg_advisory_unlock($1)', [LOCK_KEY]).catch(() => undefined);
    client.release();
  }
  return applied;
}
