/** Resource-level consequences of an operation's failure. */
import type { Sealer } from '../../crypto.js';
import type { Queryable } from '../../db/pool.js';
import { failOperation, type OperationRow } from '../../db/operations.js';
import { markResourceFailed, restorePlan, type ResourceRow } from '../../db/resources.js';
import { tellOutcome, type AsyncFailureAction } from './completion.js';

/** A failed operation leaves the resource in the state a customer would expect. */
export async function markOperationFailed(db: Queryable, op: OperationRow): Promise<void> {
  if (op.kind === 'provision') await markResourceFailed(db, op.resource_uuid, 'provisioning');
  // Heroku already had its 204: the add-on is gone for the customer, its instance may not be.
  else if (op.kind === 'deprovision')
    await markResourceFailed(db, op.resource_uuid, 'deprovisioning');
  // The instance still runs the old plan: say so.
  else if (op.kind === 'change_plan' && typeof op.params.fromPlan === 'string')
    await restorePlan(db, op.resource_uuid, op.params.fromPlan, op.plan);
}

/**
 * Fail an open operation that no agent result finished (out of time, or an operator's call)
 * with every consequence a failed result has: the resource's state, and Heroku and the app's
 * log told (tellOutcome). The failed row; undefined when it had already finished.
 */
export async function failAndReport(
  db: Queryable,
  deps: { sealer: Sealer; failureAction: AsyncFailureAction },
  op: OperationRow,
  resource: Pick<
    ResourceRow,
    'heroku_region' | 'private_space' | 'config_enc' | 'log_input_url_enc'
  >,
  error: { code: string; message: string },
): Promise<OperationRow | undefined> {
  const failed = await failOperation(db, op.id, error);
  if (!failed) return undefined;
  await markOperationFailed(db, op);
  await tellOutcome(db, deps, failed, resource);
  return failed;
}
