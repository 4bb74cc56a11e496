/** Resource-level consequences of an operation's outcome. */
import type { Queryable } from '../../db/pool.js';
import type { OperationRow } from '../../db/operations.js';

/** A failed operation leaves the resource in the state a customer would expect. */
export async function markOperationFailed(
  db: Queryable,
  op: OperationRow,
  _error: { code: string; message: string },
): Promise<void> {
  if (op.kind === 'provision') {
    await db.query(
      `update resources set state = 'failed', updated_at = now() where uuid = $1 and state = 'provisioning'`,
      [op.resource_uuid],
    );
  } else if (op.kind === 'deprovision') {
    // Heroku already had its 204: the add-on is gone for the customer, its instance may not be.
    await db.query(
      `update resources set state = 'failed', updated_at = now() where uuid = $1 and state = 'deprovisioning'`,
      [op.resource_uuid],
    );
  } else if (op.kind === 'change_plan' && typeof op.params.fromPlan === 'string') {
    // The instance still runs the old plan: say so.
    await db.query(
      `update resources set plan = $2, updated_at = now() where uuid = $1 and plan = $3`,
      [op.resource_uuid, op.params.fromPlan, op.plan],
    );
  }
}
