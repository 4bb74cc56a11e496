/**
 * Applies one agent result idempotently: a result for a finished operation or an older
 * generation changes nothing. Only results the subject vouches for count (result-trust.ts);
 * a refused one changes nothing but the audit trail. The consumer (result-consumer.ts) acks
 * only after this commits.
 */
import type { Logger } from '../../../../shared/src/logger.js';
import type { Result } from '../../../../shared/src/messages.js';
import type { Sealer } from '../../crypto.js';
import { audit } from '../../db/audit.js';
import { withTransaction, type Pool, type Queryable } from '../../db/pool.js';
import {
  completeOperation,
  getOperation,
  recordProgressIfClaimed,
  rescheduleOperation,
  type OperationRow,
} from '../../db/operations.js';
import {
  applyResult,
  getResource,
  type AppliedResult,
  type ResourceRow,
  type ResourceState,
} from '../../db/resources.js';
import { deleteTokensIfGone } from '../../db/tokens.js';
import { markOperationFailed } from '../completion/failure.js';
import {
  checkAgainstState,
  checkEnvelope,
  type RejectReason,
  type ResultOrigin,
} from './result-trust.js';
import { scheduleRevocation } from '../usecases/rotation.js';
import {
  pushChangedConfig,
  tellOutcome,
  type AsyncFailureAction,
} from '../completion/completion.js';
import type { ControlPlaneMetrics } from '../../metrics/metrics.js';

export interface DeprovisionRetry {
  /** Agent attempts before a failed deprovision is given up (OPERATION_MAX_ATTEMPTS). */
  maxAttempts: number;
  /** First retry delay; doubles per attempt, capped at 30 minutes. */
  baseDelayMs: number;
}

export interface ApplyDeps {
  pool: Pool;
  sealer: Sealer;
  log: Logger;
  failureAction: AsyncFailureAction;
  rotationGraceS: number;
  deprovisionRetry: DeprovisionRetry;
  metrics?: ControlPlaneMetrics;
  /**
   * Wakes this replica's call worker once a finished operation's calls are committed: at once,
   * instead of when its NOTIFY comes back from Postgres (which still wakes the other replicas).
   */
  wakeCalls?: () => void;
}

export type ApplyOutcome =
  'applied' | 'duplicate' | 'progress' | 'retry_scheduled' | { rejected: RejectReason };

function stateAfter(result: Result, current: ResourceState): ResourceState {
  if (result.kind === 'deprovision')
    return result.status === 'succeeded' ? 'deprovisioned' : 'failed';
  if (result.kind === 'provision') return result.status === 'succeeded' ? 'provisioned' : 'failed';
  return current === 'provisioning' && result.status === 'succeeded' ? 'provisioned' : current;
}

/** A refused result is a security event: logged with who and where, and audited. */
async function reject(
  db: Queryable,
  log: Logger,
  subject: string,
  result: Result,
  reason: RejectReason,
): Promise<ApplyOutcome> {
  const detail = {
    subject,
    reason,
    agentId: result.agentId,
    agentRegion: result.agentRegion,
    operationId: result.operationId,
    status: result.status,
  };
  log.error(
    { securityEvent: 'agent_result_rejected', resourceId: result.uuid, ...detail },
    'agent result rejected',
  );
  await audit(db, { uuid: result.uuid, actor: 'agent', action: 'result_rejected', detail });
  return { rejected: reason };
}

async function applyProgress(
  deps: ApplyDeps,
  origin: ResultOrigin,
  subject: string,
  result: Result,
): Promise<ApplyOutcome> {
  const step = result.step ?? 'working';
  const claims = {
    uuid: result.uuid,
    region: origin.region,
    kind: result.kind,
    generation: result.generation,
  };
  // One statement when the result holds up (every step of every job); the reads only to say why not.
  if (!(await recordProgressIfClaimed(deps.pool, result.operationId, step, claims))) {
    const op = await getOperation(deps.pool, result.operationId);
    const resource = op ? await getResource(deps.pool, op.resource_uuid) : undefined;
    const refused = checkAgainstState(origin, result, op, resource);
    if (refused) return reject(deps.pool, deps.log, subject, result, refused);
  }
  deps.log.info(
    { operationId: result.operationId, resourceId: result.uuid, step: result.step },
    'provisioning progress',
  );
  return 'progress';
}

/** A failed deprovision is retried with backoff before it is given up (Heroku already has its 204). */
async function retryDeprovision(
  client: Queryable,
  deps: ApplyDeps,
  op: OperationRow,
  error: { code: string; message: string },
): Promise<boolean> {
  if (op.kind !== 'deprovision' || op.attempts >= deps.deprovisionRetry.maxAttempts) return false;
  const delayMs = Math.min(
    deps.deprovisionRetry.baseDelayMs * 2 ** Math.max(0, op.attempts - 1),
    30 * 60_000,
  );
  if (!(await rescheduleOperation(client, op.id, error, delayMs))) return false;
  await audit(client, {
    uuid: op.resource_uuid,
    actor: 'system',
    action: 'deprovision_retry_scheduled',
    detail: { operationId: op.id, attempts: op.attempts, delayMs, error },
  });
  deps.log.warn(
    { operationId: op.id, resourceId: op.resource_uuid, attempts: op.attempts, delayMs, error },
    'deprovision failed; retrying',
  );
  return true;
}

/**
 * What a finished operation sets in motion: Heroku's completion, the app log line, revocation.
 * `before` is the locked row as it was, `after` as the result left it.
 */
async function enqueueFollowUps(
  client: Queryable,
  deps: ApplyDeps,
  changed: OperationRow,
  { before: resource, after }: { before: ResourceRow; after: ResourceRow },
  result: Result,
): Promise<void> {
  await tellOutcome(client, deps, changed, after);
  if (changed.kind === 'repair' && changed.state === 'succeeded' && result.config)
    await pushChangedConfig(client, deps.sealer, resource, changed.generation, result.config);
  if (changed.kind === 'rotate_credentials' && changed.state === 'succeeded') {
    await scheduleRevocation(client, changed, deps.rotationGraceS);
  }
  // The add-on is gone: Heroku removed our authorization, so its tokens go, and queued calls
  // that needed them are dropped (db/tokens.ts forgetGoneAddons; log lines are kept).
  if (changed.kind === 'deprovision' && changed.state === 'succeeded')
    await deleteTokensIfGone(client, changed.resource_uuid);
}

async function applyFinal(
  deps: ApplyDeps,
  origin: ResultOrigin,
  subject: string,
  result: Result,
): Promise<ApplyOutcome> {
  let finished: OperationRow | undefined;
  const outcome = await withTransaction(deps.pool, async (client): Promise<ApplyOutcome> => {
    const target = await lockTarget(client, origin, result);
    if ('refused' in target) return reject(client, deps.log, subject, result, target.refused);
    const { op, resource } = target;
    const error = result.error ? { code: result.error.code, message: result.error.message } : null;
    const failed = result.status === 'failed';
    const fallback = { code: 'failed', message: 'deprovision failed' };
    if (failed && (await retryDeprovision(client, deps, op, error ?? fallback)))
      return 'retry_scheduled';
    const changed = await completeOperation(client, op.id, failed ? 'failed' : 'succeeded', error);
    if (!changed) {
      deps.log.info({ operationId: op.id }, 'duplicate result ignored');
      return 'duplicate';
    }
    if (failed) await markOperationFailed(client, op);
    const update = resourceUpdate(deps, op, resource, result);
    const applied = await applyResult(client, update);
    // The row is locked: what it holds now is what it held plus this update, when applied.
    const after = { ...resource, config_enc: (applied && update.configEnc) || resource.config_enc };
    await enqueueFollowUps(client, deps, changed, { before: resource, after }, result);
    await recordFinish(client, deps.log, op, result, { applied, error });
    finished = changed;
    return 'applied';
  });
  if (finished) {
    deps.wakeCalls?.();
    deps.metrics?.operationFinished(finished, result.status === 'failed' ? 'failed' : 'succeeded');
  }
  return outcome;
}

/**
 * The operation and resource the result is about, locked, if the result may speak of them.
 * Locked, so a dispatch still committing is seen with its attempt count: the retry decision
 * must not run on a stale row (a fast agent answers before that commit).
 */
async function lockTarget(
  client: Queryable,
  origin: ResultOrigin,
  result: Result,
): Promise<{ op: OperationRow; resource: ResourceRow } | { refused: RejectReason }> {
  const op = await getOperation(client, result.operationId, true);
  const resource = op ? await getResource(client, op.resource_uuid, true) : undefined;
  const refused = checkAgainstState(origin, result, op, resource);
  if (refused || !op || !resource) return { refused: refused ?? 'unknown_operation' };
  return { op, resource };
}

/** What the result changes on the resource row (applied unless a newer generation was). */
function resourceUpdate(
  deps: ApplyDeps,
  op: OperationRow,
  resource: ResourceRow,
  result: Result,
): AppliedResult {
  const succeeded = result.status === 'succeeded';
  return {
    uuid: op.resource_uuid,
    generation: op.generation,
    state: stateAfter(result, resource.state),
    configEnc: succeeded && result.config ? deps.sealer.sealJson(result.config) : null,
    endpoint: result.endpoint,
    certificate: result.certificate,
    deprovisioned: result.kind === 'deprovision' && succeeded,
  };
}

async function recordFinish(
  client: Queryable,
  log: Logger,
  op: OperationRow,
  result: Result,
  outcome: { applied: boolean; error: { code: string; message: string } | null },
): Promise<void> {
  const { applied, error } = outcome;
  await audit(client, {
    uuid: op.resource_uuid,
    actor: 'agent',
    action: `${op.kind}_${result.status}`,
    detail: {
      operationId: op.id,
      generation: op.generation,
      agentId: result.agentId,
      applied,
      error,
    },
  });
  const fields = {
    operationId: op.id,
    resourceId: op.resource_uuid,
    kind: op.kind,
    status: result.status,
    applied,
  };
  if (op.kind === 'deprovision' && result.status === 'failed')
    log.error({ ...fields, error }, 'deprovision failed: retry budget exhausted');
  else log.info(fields, 'operation finished');
}

/**
 * Apply one result that arrived on `subject`. Only results the subject vouches for count
 * (result-trust.ts); a refused one changes nothing but the audit trail.
 */
export async function applyAgentResult(
  deps: ApplyDeps,
  subject: string,
  result: Result,
): Promise<ApplyOutcome> {
  const envelope = checkEnvelope(subject, result);
  if ('reject' in envelope) return reject(deps.pool, deps.log, subject, result, envelope.reject);
  return result.status === 'progress'
    ? applyProgress(deps, envelope.origin, subject, result)
    : applyFinal(deps, envelope.origin, subject, result);
}
