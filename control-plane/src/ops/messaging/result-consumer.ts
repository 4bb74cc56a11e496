/**
 * Consumes agent results and applies them idempotently: a result for a finished
 * operation or an older generation changes nothing. Acked only after the commit.
 */
import {
  AckPolicy,
  DeliverPolicy,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
} from 'nats';
import type { Logger } from '../../../../shared/src/logger.js';
import type { MessageError } from '../../../../shared/src/messages.js';
import { decodeMessage, ResultSchema, type Result } from '../../../../shared/src/messages.js';
import { RESULTS_STREAM } from '../../../../shared/src/subjects.js';
import type { Sealer } from '../../crypto.js';
import { audit } from '../../db/audit.js';
import { withTransaction, type Pool, type Queryable } from '../../db/pool.js';
import {
  completeOperation,
  getOperation,
  recordProgress,
  rescheduleOperation,
  type OperationRow,
} from '../../db/operations.js';
import {
  applyResult,
  getResource,
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
  enqueueAppLog,
  enqueueCompletion,
  lifecycleLine,
  type AsyncFailureAction,
} from '../completion/completion.js';

export const RESULTS_CONSUMER = 'control-plane';
/** Deliveries of one result before it is dead-lettered (terminated and recorded). */
export const RESULT_MAX_DELIVER = 10;
const NAK_MAX_MS = 60_000;

export interface ResultRetry {
  /** Deliveries before a result that keeps failing is dead-lettered. */
  maxDeliver: number;
  /** First redelivery delay; doubles per delivery up to a minute. */
  baseDelayMs: number;
}

export interface DeprovisionRetry {
  /** Agent attempts before a failed deprovision is given up (OPERATION_MAX_ATTEMPTS). */
  maxAttempts: number;
  /** First retry delay; doubles per attempt, capped at 30 minutes. */
  baseDelayMs: number;
}

export interface ResultConsumerDeps {
  failureAction: AsyncFailureAction;
  rotationGraceS: number;
  deprovisionRetry: DeprovisionRetry;
  /** Defaults: RESULT_MAX_DELIVER deliveries, 2 s first delay. */
  retry?: ResultRetry;
  pool: Pool;
  js: JetStreamClient;
  jsm: JetStreamManager;
  sealer: Sealer;
  log: Logger;
}

export interface ResultCounts {
  applied: number;
  duplicate: number;
  progress: number;
  retryScheduled: number;
  /** Refused results by reason (security events). */
  rejected: Partial<Record<RejectReason, number>>;
  malformed: number;
  deadLettered: number;
}

export interface ResultConsumer {
  start(): Promise<void>;
  stop(): Promise<void>;
  counts(): ResultCounts;
}

export type ApplyOutcome =
  'applied' | 'duplicate' | 'progress' | 'retry_scheduled' | { rejected: RejectReason };

type ApplyDeps = Pick<
  ResultConsumerDeps,
  'pool' | 'sealer' | 'log' | 'failureAction' | 'rotationGraceS' | 'deprovisionRetry'
>;

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
  const op = await getOperation(deps.pool, result.operationId);
  const resource = op ? await getResource(deps.pool, op.resource_uuid) : undefined;
  const refused = checkAgainstState(origin, result, op, resource);
  if (refused) return reject(deps.pool, deps.log, subject, result, refused);
  await recordProgress(deps.pool, result.operationId, result.step ?? 'working');
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

/** What a finished operation sets in motion: Heroku's completion, the app log line, revocation. */
async function enqueueFollowUps(
  client: Queryable,
  deps: ApplyDeps,
  changed: OperationRow,
  resource: ResourceRow,
): Promise<void> {
  if (changed.answer_async)
    await enqueueCompletion(client, deps.sealer, changed, deps.failureAction);
  const line = lifecycleLine(
    changed,
    resource.private_space ? `the ${resource.heroku_region} Private Space` : resource.heroku_region,
  );
  if (line)
    await enqueueAppLog(
      client,
      deps.sealer,
      changed.resource_uuid,
      `op-${changed.generation}`,
      line,
    );
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
  return withTransaction(deps.pool, async (client) => {
    // Locked, so a dispatch still committing is seen with its attempt count: the retry
    // decision below must not run on a stale row (a fast agent answers before that commit).
    const op = await getOperation(client, result.operationId, true);
    const resource = op ? await getResource(client, op.resource_uuid, true) : undefined;
    const refused = checkAgainstState(origin, result, op, resource);
    if (refused || !op || !resource)
      return reject(client, deps.log, subject, result, refused ?? 'unknown_operation');
    const error = result.error ? { code: result.error.code, message: result.error.message } : null;
    if (
      result.status === 'failed' &&
      (await retryDeprovision(
        client,
        deps,
        op,
        error ?? { code: 'failed', message: 'deprovision failed' },
      ))
    ) {
      return 'retry_scheduled';
    }
    const changed = await completeOperation(
      client,
      op.id,
      result.status === 'succeeded' ? 'succeeded' : 'failed',
      error,
    );
    if (!changed) {
      deps.log.info({ operationId: op.id }, 'duplicate result ignored');
      return 'duplicate';
    }
    if (result.status === 'failed') {
      await markOperationFailed(client, op, error!);
    }
    const applied = await applyResult(client, {
      uuid: op.resource_uuid,
      generation: op.generation,
      state: stateAfter(result, resource.state),
      configEnc:
        result.status === 'succeeded' && result.config ? deps.sealer.sealJson(result.config) : null,
      endpoint: result.endpoint,
      certificate: result.certificate,
      deprovisioned: result.kind === 'deprovision' && result.status === 'succeeded',
    });
    await enqueueFollowUps(client, deps, changed, resource);
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
      deps.log.error({ ...fields, error }, 'deprovision failed: retry budget exhausted');
    else deps.log.info(fields, 'operation finished');
    return 'applied';
  });
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

export function createResultConsumer(deps: ResultConsumerDeps): ResultConsumer {
  let stopped = false;
  let loop: Promise<void> | undefined;
  let stopIter: (() => void) | undefined;

  const retry = deps.retry ?? { maxDeliver: RESULT_MAX_DELIVER, baseDelayMs: 2_000 };
  const counts: ResultCounts = {
    applied: 0,
    duplicate: 0,
    progress: 0,
    retryScheduled: 0,
    rejected: {},
    malformed: 0,
    deadLettered: 0,
  };

  function count(outcome: ApplyOutcome): void {
    if (typeof outcome === 'object')
      counts.rejected[outcome.rejected] = (counts.rejected[outcome.rejected] ?? 0) + 1;
    else if (outcome === 'retry_scheduled') counts.retryScheduled += 1;
    else counts[outcome] += 1;
  }

  /** Terminate a message that can never be applied, once it is on record (never before). */
  async function terminate(
    msg: JsMsg,
    action: 'result_malformed' | 'result_dead_lettered',
    detail: Record<string, unknown>,
    uuid: string | null,
  ): Promise<void> {
    const fields = {
      subject: msg.subject,
      streamSequence: msg.seq,
      deliveries: msg.info.deliveryCount,
      ...detail,
    };
    await audit(deps.pool, { uuid, actor: 'system', action, detail: fields });
    deps.log.error(
      fields,
      action === 'result_malformed'
        ? 'malformed result terminated'
        : 'result dead-lettered after repeated failures',
    );
    msg.term();
  }

  async function handle(msg: JsMsg): Promise<void> {
    let result: Result;
    try {
      result = decodeMessage(ResultSchema, msg.data);
    } catch (err) {
      await terminate(msg, 'result_malformed', { error: (err as MessageError).message }, null).then(
        () => void (counts.malformed += 1),
        () => msg.nak(NAK_MAX_MS), // not on record yet: keep it
      );
      return;
    }
    try {
      const outcome = await applyAgentResult(deps, msg.subject, result);
      count(outcome);
      if (typeof outcome === 'object') msg.term();
      else msg.ack();
    } catch (err) {
      const deliveries = msg.info.deliveryCount;
      if (deliveries >= retry.maxDeliver) {
        // Recording needs Postgres: while it is down this is an outage, not a poison message,
        // so the result stays in the stream and is retried.
        const recorded = await terminate(
          msg,
          'result_dead_lettered',
          { operationId: result.operationId, error: (err as Error).message },
          result.uuid,
        ).then(
          () => true,
          () => false,
        );
        if (recorded) {
          counts.deadLettered += 1;
          return;
        }
      }
      deps.log.error(
        { err, operationId: result.operationId, deliveries },
        'applying result failed; will retry',
      );
      msg.nak(Math.min(retry.baseDelayMs * 2 ** (deliveries - 1), NAK_MAX_MS));
    }
  }

  return {
    async start() {
      await deps.jsm.consumers
        .add(RESULTS_STREAM, {
          durable_name: RESULTS_CONSUMER,
          ack_policy: AckPolicy.Explicit,
          deliver_policy: DeliverPolicy.All,
          ack_wait: 30_000_000_000,
          max_ack_pending: 1000,
        })
        .catch(async (err) => {
          await deps.jsm.consumers.info(RESULTS_STREAM, RESULTS_CONSUMER).catch(() => {
            throw err;
          });
        });
      const consumer = await deps.js.consumers.get(RESULTS_STREAM, RESULTS_CONSUMER);
      loop = (async () => {
        while (!stopped) {
          try {
            const messages = await consumer.consume({ max_messages: 256 });
            stopIter = () => void messages.close();
            const inflight = new Set<Promise<void>>();
            for await (const msg of messages) {
              const p = handle(msg).finally(() => inflight.delete(p));
              inflight.add(p);
              if (inflight.size >= 32) await Promise.race(inflight);
              if (stopped) break;
            }
            await Promise.all(inflight);
          } catch (err) {
            if (!stopped) deps.log.warn({ err }, 'result consumer interrupted; resuming');
            await new Promise((r) => setTimeout(r, 500));
          }
        }
      })();
    },
    async stop() {
      stopped = true;
      stopIter?.();
      await loop;
    },
    counts: () => structuredClone(counts),
  };
}
