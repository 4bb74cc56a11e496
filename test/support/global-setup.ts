/** One private PostgreSQL per jest run with a migrated template database. */
import { chmodSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { startPostgres, type PostgresServer } from '../../deploy/local/postgres.js';
import { migrate } from '../../control-plane/src/db/migrate.js';

export const TEMPLATE_DB = 'cp_template';

declare global {
  var __PG_SERVER__: PostgresServer | undefined;
}

export default async function globalSetup(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'cp-test-pg-'));
  chmodSync(dir, 0o755); // the postgres user must reach the data dir inside
  const server = await startPostgres(join(dir, 'data'));
  globalThis.__PG_SERVER__ = server;
  const admin = new pg.Client({ connectionString: server.url() });
  await admin.connect();
  await admin.query(`create database ${TEMPLATE_DB}`);
  await admin.end();
  const pool = new pg.Pool({ connectionString: server.url(TEMPLATE_DB), max: 2 });
  await migrate(pool);
  await pool.end();
  process.env.TEST_PG_PORT = String(server.port);
}
