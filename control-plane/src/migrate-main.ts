/** Runs the migrations and exits (the Helm hook Job's entrypoint). */
import { createLogger } from '../../shared/src/logger.js';
import { migrate } from './db/migrate.js';
import { createPool } from './db/pool.js';

const log = createLogger({ name: 'migrate', level: process.env.LOG_LEVEL ?? 'info' });
const url = process.env.DATABASE_URL;
if (!url) {
  log.fatal('DATABASE_URL is required');
  process.exit(2);
}
const pool = createPool(url, 1, log);
const applied = await migrate(pool);
log.info({ applied }, 'migrations done');
await pool.end();
