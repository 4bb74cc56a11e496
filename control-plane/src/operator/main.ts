/**
 * Operator commands, run against the control plane's database (no NATS needed):
 *   npm run operator -- show <uuid>
 *   npm run operator -- rotate-credentials <uuid>
 *   npm run operator -- regions [--json]
 *   npm run operator -- stuck [--older-than 10m] [--json]
 *   npm run operator -- retry <operation-id> [--json]
 *   npm run operator -- fail <operation-id> --reason "why" [--json]
 *   npm run operator -- drift [--region R] [--json]
 *   npm run operator -- reconcile [--region R] [--dry-run] [--json]   (the one that needs NATS)
 *   npm run operator -- remove-unknown <uuid> --region R --yes [--json]
 * Variables the environment leaves unset come from the local stack's settings file
 * (.local/stack.json, written by `npm start`), so these work against `npm start` as they are.
 */
import { withLocalStack } from '../../../shared/src/local-stack.js';
import { createLogger } from '../../../shared/src/logger.js';
import { loadConfig } from '../config.js';
import { createSealer } from '../crypto.js';
import { listAudit } from '../db/audit.js';
import { listCalls } from '../db/calls.js';
import { createPool } from '../db/pool.js';
import { listOperations } from '../db/operations.js';
import { getResource } from '../db/resources.js';
import { startRotation } from '../ops/usecases/rotation.js';
import { loadCatalog } from '../catalog/load.js';
import { connectNats } from '../../../shared/src/nats.js';
import { fail, parseArgs, regions, retry, stuck } from './commands.js';
import { drift, reconcileNow, removeUnknownInstance } from './drift-commands.js';

const { positional, flags } = (() => {
  try {
    return parseArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    return process.exit(2);
  }
})();
const [command, uuid] = positional;
const usage =
  'usage: npm run operator -- show <uuid> | rotate-credentials <uuid> | regions | stuck [--older-than 10m] | retry <operation-id> | fail <operation-id> --reason "why" | drift [--region R] | reconcile [--region R] [--dry-run] | remove-unknown <uuid> --region R --yes  (add --json for scripts)';
const NO_ARGUMENT = new Set(['stuck', 'regions', 'drift', 'reconcile']);
if (!command || (!uuid && !NO_ARGUMENT.has(command))) {
  process.stderr.write(`${usage}\n`);
  process.exit(2);
}
const { env, from } = withLocalStack(process.env);
if (from) process.stderr.write(`using the local stack's settings from ${from}\n`);
if (!env.DATABASE_URL) {
  process.stderr.write(
    'DATABASE_URL is not set and no local stack is running (no .local/stack.json): start one with `npm start`, or set DATABASE_URL\n',
  );
  process.exit(2);
}
// Only `reconcile` connects to NATS; the shared config schema requires a value.
const config = loadConfig({ ...env, NATS_URL: env.NATS_URL || 'nats://unused.invalid:4222' });
const log = createLogger({ name: 'operator', level: 'warn' });
const pool = createPool(config.databaseUrl, 2, log);
const deps = {
  pool,
  sealer: createSealer(config.encryption),
  failureAction: config.asyncFailureAction,
};
/** The one command that talks to the agents: it asks them for their inventories over NATS. */
async function reconcile(): Promise<string> {
  if (!env.NATS_URL) throw new Error('reconcile asks the agents over NATS: set NATS_URL');
  const nc = await connectNats(config.nats);
  try {
    const reconcileDeps = {
      ...config.reconcile,
      pool,
      nc,
      log,
      catalog: loadCatalog(config.catalogPath),
      deadAfterS: config.agentDeadAfterS,
      holder: `operator-${process.pid}`,
    };
    return await reconcileNow(reconcileDeps, flags);
  } finally {
    await nc.close();
  }
}

try {
  if (command === 'stuck') process.stdout.write(await stuck(pool, flags));
  else if (command === 'regions') {
    const names = loadCatalog(config.catalogPath).agentRegions.map((a) => a.name);
    process.stdout.write(await regions(pool, names, config.agentDeadAfterS, flags));
  } else if (command === 'retry') process.stdout.write(await retry(deps, uuid, flags));
  else if (command === 'fail') process.stdout.write(await fail(deps, uuid, flags));
  else if (command === 'drift') process.stdout.write(await drift(pool, flags));
  else if (command === 'reconcile') process.stdout.write(await reconcile());
  else if (command === 'remove-unknown') {
    const catalog = loadCatalog(config.catalogPath);
    process.stdout.write(await removeUnknownInstance(pool, catalog, uuid, flags));
  } else if (command === 'rotate-credentials') {
    const { operationId } = await startRotation(pool, deps.sealer, uuid!, 'operator');
    process.stdout.write(
      `rotation started: operation ${operationId}; the old credentials are revoked ${config.rotationGraceS}s after the new ones are live\n`,
    );
  } else if (command === 'show') {
    const resource = await getResource(pool, uuid!);
    if (!resource) throw new Error(`no resource ${uuid}`);
    const { config_enc: _c, oauth_grant_enc: _g, ...visible } = resource;
    process.stdout.write(
      `${JSON.stringify({ resource: visible, operations: await listOperations(pool, uuid!), herokuCalls: (await listCalls(pool, uuid!)).map(({ payload_enc: _p, ...c }) => c), audit: await listAudit(pool, uuid!) }, null, 2)}\n`,
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
