/** Resource-level consequences of an operation's failure. */
import type { Queryable } from '../../db/pool.js';
import type { OperationRow } from '../../db/operations.js';
import { markResourceFailed, restorePlan } from '../../db/resources.js';

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
