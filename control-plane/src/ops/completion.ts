/**
 * What Heroku must be told once an operation answered 202 finishes: config PATCH, then the
 * provision action (provisions), or the failure action. Enqueued exactly once per operation
 * whichever of the HTTP handler and the result consumer sees the outcome second.
 */
import type { Sealer } from '../crypto.js';
import { enqueueCall } from '../db/calls.js';
import type { Queryable } from '../db/pool.js';
import type { OperationRow } from '../db/operations.js';
import { getResource } from '../db/resources.js';

export type AsyncFailureAction = 'deprovision' | 'none';

export async function enqueueCompletion(
  db: Queryable,
  sealer: Sealer,
  op: Pick<OperationRow, 'resource_uuid' | 'kind' | 'generation' | 'state'>,
  failureAction: AsyncFailureAction,
): Promise<void> {
  const uuid = op.resource_uuid;
  if (op.state === 'failed') {
    if (op.kind === 'provision' && failureAction === 'deprovision') {
      await enqueueCall(db, { uuid, kind: 'deprovision_action', dedupeKey: 'failed-provision' });
    }
    return;
  }
  if (op.state !== 'succeeded' || op.kind === 'deprovision') return;
  const resource = await getResource(db, uuid);
  if (resource?.config_enc) {
    await enqueueCall(db, { uuid, kind: 'config_update', dedupeKey: `gen-${op.generation}`, payloadEnc: resource.config_enc });
  }
  if (op.kind === 'provision') await enqueueCall(db, { uuid, kind: 'provision_action', dedupeKey: 'provision' });
}

/** The handler answered 202: flag the operation, and enqueue now if it already finished. */
export async function markAnsweredAsync(db: Queryable, sealer: Sealer, operationId: string, failureAction: AsyncFailureAction): Promise<void> {
  const res = await db.query<OperationRow>(
    `update operations set answer_async = true, updated_at = now() where id = $1 returning *`,
    [operationId],
  );
  const op = res.rows[0];
  if (op && (op.state === 'succeeded' || op.state === 'failed')) await enqueueCompletion(db, sealer, op, failureAction);
}
