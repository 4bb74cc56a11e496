/**
 * What an operator may do to one operation (npm run operator -- retry | fail), so that no
 * failure needs a manual database edit. Each is checked against the operation's state,
 * runs in one transaction, and is audited with the operator as actor (and the OS user who ran
 * the command in the detail).
 */
import { ConflictError, NotFoundError } from '../../../../shared/src/errors.js';
import type { Sealer } from '../../crypto.js';
import { audit } from '../../db/audit.js';
import { getOperation, reopenOperation, type OperationRow } from '../../db/operations.js';
import { withTransaction, type Pool, type Queryable } from '../../db/pool.js';
import { getResource, markDeprovisioningAgain, type ResourceRow } from '../../db/resources.js';
import { failAndReport } from '../completion/failure.js';
import type { AsyncFailureAction } from '../completion/completion.js';

export interface OperatorDeps {
  pool: Pool;
  sealer: Sealer;
  failureAction: AsyncFailureAction;
}

const who = (): string => process.env.USER ?? process.env.LOGNAME ?? 'unknown';

const isOpen = (op: OperationRow): boolean => op.state === 'pending' || op.state === 'dispatched';

async function locked(
  db: Queryable,
  id: string,
): Promise<{ op: OperationRow; resource: ResourceRow }> {
  const op = await getOperation(db, id, true);
  if (!op) throw new NotFoundError('no_operation', `no operation ${id}`);
  const resource = await getResource(db, op.resource_uuid, true);
  if (!resource) throw new NotFoundError('no_resource', `operation ${id} has no resource`);
  return { op, resource };
}

/**
 * Dispatch again now. Allowed for an open operation (stuck past its deadline, or waiting for
 * a backoff) and for a failed deprovision (the instance may still run). A failed provision,
 * plan change or rotation was already reported; Heroku or the operator starts a new one.
 */
export async function retryOperation(deps: OperatorDeps, id: string): Promise<string> {
  return withTransaction(deps.pool, async (db) => {
    const { op } = await locked(db, id);
    const failedDeprovision = op.kind === 'deprovision' && op.state === 'failed';
    if (!isOpen(op) && !failedDeprovision)
      throw new ConflictError(
        'not_retryable',
        `operation ${id} (${op.kind}) is ${op.state}: only open operations and failed deprovisions can be retried`,
      );
    await reopenOperation(db, id);
    if (failedDeprovision) await markDeprovisioningAgain(db, op.resource_uuid);
    await audit(db, {
      uuid: op.resource_uuid,
      actor: 'operator',
      action: 'operation_retried_by_operator',
      detail: { operationId: id, kind: op.kind, was: op.state, attempts: op.attempts, by: who() },
    });
    return `operation ${id} (${op.kind}) will be dispatched again on the next pass`;
  });
}

/** Fail an open operation now, reported as any failure is (failAndReport). */
export async function failOperationNow(
  deps: OperatorDeps,
  id: string,
  reason: string,
): Promise<string> {
  return withTransaction(deps.pool, async (db) => {
    const { op, resource } = await locked(db, id);
    if (!isOpen(op))
      throw new ConflictError('not_open', `operation ${id} (${op.kind}) is already ${op.state}`);
    const failed = (await failAndReport(db, deps, op, resource, {
      code: 'operator',
      message: reason,
    }))!;
    await audit(db, {
      uuid: op.resource_uuid,
      actor: 'operator',
      action: 'operation_failed_by_operator',
      detail: { operationId: id, kind: op.kind, reason, reported: failed.answer_async, by: who() },
    });
    return `operation ${id} (${op.kind}) failed: ${reason}${failed.answer_async ? '; Heroku and the app log are told' : ''}`;
  });
}
