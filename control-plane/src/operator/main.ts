/**
 * Operator commands, run against the control plane's database:
 *   npm run operator -- rotate-credentials <uuid>
 *   npm run operator -- show <uuid>
 */
import { createLogger } from '../../../shared/src/logger.js';
import { loadConfig } from '../config.js';
import { createSealer } from '../crypto.js';
import { listAudit } from '../db/audit.js';
import { listCalls } from '../db/calls.js';
import { createPool } from '../db/pool.js';
import { listOperations } from '../db/operations.js';
import { getResource } from '../db/resources.js';
import { startRotation } from '../ops/usecases/rotation.js';

const [command, uuid] = process.argv.slice(2);
const usage = 'usage: npm run operator -- rotate-credentials <uuid> | show <uuid>';
if (!command || !uuid) {
  process.stderr.write(`${usage}\n`);
  process.exit(2);
}
const config = loadConfig(process.env);
const log = createLogger({ name: 'operator', level: 'warn' });
const pool = createPool(config.databaseUrl, 2, log);
try {
  if (command === 'rotate-credentials') {
    const { operationId } = await startRotation(
      pool,
      createSealer(config.encryption),
      uuid,
      'operator',
    );
    process.stdout.write(
      `rotation started: operation ${operationId}; the old credentials are revoked ${config.rotationGraceS}s after the new ones are live\n`,
    );
  } else if (command === 'show') {
    const resource = await getResource(pool, uuid);
    if (!resource) throw new Error(`no resource ${uuid}`);
    const { config_enc: _c, oauth_grant_enc: _g, ...visible } = resource;
    process.stdout.write(
      `${JSON.stringify({ resource: visible, operations: await listOperations(pool, uuid), herokuCalls: (await listCalls(pool, uuid)).map(({ payload_enc: _p, ...c }) => c), audit: await listAudit(pool, uuid) }, null, 2)}\n`,
    );
  } else {
    throw new Error(usage);
  }
} catch (err) {
  process.stderr.write(`${(err as Error).message}\n`);
  process.exitCode = 1;
} finally {
  await pool.end();
}
