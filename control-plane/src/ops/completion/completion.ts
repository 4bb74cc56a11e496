/**
 * What Heroku must be told once an operation answered 202 finishes: config PATCH, then the
 * provision action (provisions), or the failure action. Enqueued exactly once per operation
 * whichever of the HTTP handler and the result consumer sees the outcome second.
 */
import type { Sealer } from '../../crypto.js';
import { enqueueCall, enqueueCalls, type NewCall } from '../../db/calls.js';
import { withTransaction, type Pool, type Queryable } from '../../db/pool.js';
import { flagAnswerAsync, type OperationRow } from '../../db/operations.js';
import { getResource, hasLogInput, type ResourceRow } from '../../db/resources.js';

export type AsyncFailureAction = 'deprovision' | 'none';

/** The app log line of a provision Heroku got a 202 for. */
export const STARTED_LINE = 'add-on provisioning started';

/** A lifecycle line for the app's log stream, when Heroku gave us a log_input_url. */
export async function enqueueAppLog(
  db: Queryable,
  sealer: Sealer,
  uuid: string,
  key: string,
  message: string,
): Promise<void> {
  if (!(await hasLogInput(db, uuid))) return;
  await enqueueCall(db, appLogCall(sealer, uuid, key, message));
}

const appLogCall = (sealer: Sealer, uuid: string, key: string, message: string): NewCall => ({
  uuid,
  kind: 'app_log',
  dedupeKey: key,
  payloadEnc: sealer.sealJson({ message }),
});

/** Where an add-on runs, as customers read it: "eu" or "the virginia Private Space". */
export function regionLabel(r: Pick<ResourceRow, 'heroku_region' | 'private_space'>): string {
  return r.private_space ? `the ${r.heroku_region} Private Space` : r.heroku_region;
}

type LineOp = Pick<OperationRow, 'kind' | 'state' | 'plan' | 'last_error' | 'params'>;

/** Per kind: the app log line when it succeeded, and when it failed (`failed` is ": why"). */
const LINES: Partial<
  Record<
    OperationRow['kind'],
    [(op: LineOp, where: string) => string, (op: LineOp, failed: string) => string]
  >
> = {
  provision: [
    (op, where) => `add-on ready in ${where} (plan ${op.plan})`,
    (_op, failed) => `add-on provisioning failed${failed}`,
  ],
  change_plan: [
    (op) => `plan changed to ${op.plan}`,
    (op, failed) => {
      const from =
        typeof op.params.fromPlan === 'string' ? `; still on plan ${op.params.fromPlan}` : '';
      return `plan change to ${op.plan} failed${failed}${from}`;
    },
  ],
  repair: [
    (op) => `add-on instance repaired (${String(op.params.reason ?? 'drift')})`,
    (_op, failed) => `add-on instance repair failed${failed}`,
  ],
  rotate_credentials: [
    () => 'credentials rotated; the previous credentials stop working after the grace period',
    (_op, failed) => `credential rotation failed${failed}`,
  ],
};

/** The line an operation's outcome writes into the app's log. */
export function lifecycleLine(op: LineOp, where: string): string | undefined {
  const lines = LINES[op.kind];
  if (!lines) return undefined;
  if (op.state === 'succeeded') return lines[0](op, where);
  return lines[1](op, `: ${op.last_error?.message ?? 'unknown error'}`);
}

type CompletedOp = Pick<OperationRow, 'resource_uuid' | 'kind' | 'generation' | 'state'>;

/** What tells Heroku an operation it got a 202 for finished; only a success reads the resource. */
const needsResource = (op: CompletedOp): boolean =>
  op.state === 'succeeded' && op.kind !== 'deprovision';

/**
 * The calls that tell Heroku an operation it got a 202 for finished: the config PATCH and the
 * provision action, or ASYNC_FAILURE_ACTION's for a failed provision. `resource` as the
 * operation left it (its config), when needsResource.
 */
function completionCalls(
  op: CompletedOp,
  failureAction: AsyncFailureAction,
  resource: Pick<ResourceRow, 'config_enc'> | undefined,
): NewCall[] {
  const uuid = op.resource_uuid;
  if (op.state === 'failed') {
    return op.kind === 'provision' && failureAction === 'deprovision'
      ? [{ uuid, kind: 'deprovision_action', dedupeKey: 'failed-provision' }]
      : [];
  }
  if (!needsResource(op)) return [];
  const calls: NewCall[] = [];
  if (resource?.config_enc) {
    const dedupeKey = `gen-${op.generation}`;
    calls.push({ uuid, kind: 'config_update', dedupeKey, payloadEnc: resource.config_enc });
  }
  if (op.kind === 'provision')
    calls.push({ uuid, kind: 'provision_action', dedupeKey: 'provision' });
  return calls;
}

export async function enqueueCompletion(
  db: Queryable,
  op: CompletedOp,
  failureAction: AsyncFailureAction,
): Promise<void> {
  const resource = needsResource(op) ? await getResource(db, op.resource_uuid) : undefined;
  await enqueueCalls(db, completionCalls(op, failureAction, resource));
}

/**
 * A 202 is about to be sent: flag the operation, and enqueue now if it already finished.
 * One transaction, so the flag never commits without the enqueue it implies. The flag's row
 * lock orders this against the result applier's completeOperation: whichever commits second
 * sees the other's write and enqueues (both may; the dedupe keys keep one call).
 */
export async function markAnsweredAsync(
  pool: Pool,
  sealer: Sealer,
  operationId: string,
  failureAction: AsyncFailureAction,
): Promise<void> {
  await withTransaction(pool, async (db) => {
    const op = await flagAnswerAsync(db, operationId);
    if (!op) throw new Error(`operation ${operationId} not found`);
    if (op.kind === 'provision')
      await enqueueAppLog(db, sealer, op.resource_uuid, 'started', STARTED_LINE);
    if (op.state === 'succeeded' || op.state === 'failed')
      await enqueueCompletion(db, op, failureAction);
  });
}

/**
 * A finished operation, told to those who wait for it: Heroku, when we answered 202 (the
 * config PATCH and provision action, or ASYNC_FAILURE_ACTION for a failed provision), and
 * the app's log. The same for an agent's result and for an operation that ran out of time.
 * `resource` is the row as the operation left it, read in this transaction: its config and
 * where its app logs go are taken from it, and every call is enqueued in one statement.
 */
export async function tellOutcome(
  db: Queryable,
  deps: { sealer: Sealer; failureAction: AsyncFailureAction },
  op: OperationRow,
  resource: Pick<
    ResourceRow,
    'heroku_region' | 'private_space' | 'config_enc' | 'log_input_url_enc'
  >,
): Promise<void> {
  const calls = op.answer_async ? completionCalls(op, deps.failureAction, resource) : [];
  const line = lifecycleLine(op, regionLabel(resource));
  if (line && resource.log_input_url_enc)
    calls.push(appLogCall(deps.sealer, op.resource_uuid, `op-${op.generation}`, line));
  await enqueueCalls(db, calls);
}

/**
 * A repair that came back with other connection details (the instance was re-created): the
 * new config goes to Heroku, which restarts the app onto it. Unchanged details send nothing.
 */
export async function pushChangedConfig(
  db: Queryable,
  sealer: Sealer,
  before: Pick<ResourceRow, 'uuid' | 'config_enc'>,
  generation: number,
  config: Record<string, string>,
): Promise<boolean> {
  const old = before.config_enc ? sealer.openJson<Record<string, string>>(before.config_enc) : {};
  const keys = new Set([...Object.keys(old), ...Object.keys(config)]);
  if ([...keys].every((k) => old[k] === config[k])) return false;
  await enqueueCall(db, {
    uuid: before.uuid,
    kind: 'config_update',
    dedupeKey: `gen-${generation}`,
    payloadEnc: sealer.sealJson(config),
  });
  return true;
}
