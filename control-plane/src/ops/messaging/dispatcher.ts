/**
 * The outbox dispatcher: publishes pending operations to JetStream with
 * `Nats-Msg-Id` = operation id, then marks them dispatched in the same transaction.
 * A crash between publish and commit re-publishes the same id, which JetStream's
 * duplicate window drops. Woken by LISTEN/NOTIFY, with a periodic sweep as a backstop.
 */
import { SpanKind } from '@opentelemetry/api';
import type { JetStreamClient } from 'nats';
import type { Logger } from '../../../../shared/src/logger.js';
import { encodeMessage } from '../../../../shared/src/messages.js';
import { jobSubject } from '../../../../shared/src/subjects.js';
import {
  activeTraceId,
  contextFromTraceparent,
  headersWithTrace,
  inSpan,
} from '../../../../shared/src/tracing/context.js';
import type { Catalog } from '../../catalog/schema.js';
import { audit } from '../../db/audit.js';
import { wakeups, type Listener } from '../../db/listen.js';
import type { Pool, PoolClient } from '../../db/pool.js';
import {
  markDispatched,
  withDispatchable,
  type DispatchableRow,
  OUTBOX_CHANNEL,
  type OperationRow,
} from '../../db/operations.js';
import { coalescing } from '../../coalescing.js';
import { buildJob } from './job.js';
import { failAndReport } from '../completion/failure.js';
import type { AsyncFailureAction } from '../completion/completion.js';
import type { Sealer } from '../../crypto.js';
import type { ControlPlaneMetrics } from '../../metrics/metrics.js';

export interface DispatcherDeps {
  pool: Pool;
  databaseUrl: string;
  js: JetStreamClient;
  catalog: Catalog;
  configVarsPrefix: string;
  log: Logger;
  /** Seals the app log lines and completion calls a timed-out operation leaves. */
  sealer: Sealer;
  failureAction: AsyncFailureAction;
  sweepMs: number;
  operationTimeoutMs: number;
  maxAttempts: number;
  batchSize?: number;
  /** Test hook: called after publishing, before commit (crash simulation). */
  afterPublish?: (ops: OperationRow[]) => void;
  metrics?: ControlPlaneMetrics;
}

export interface Dispatcher {
  start(): Promise<void>;
  /** Dispatch everything ready now; resolves with the number published. */
  runOnce(): Promise<number>;
  /** Run a pass soon (new work was committed on this replica). */
  kick(): void;
  stop(): Promise<void>;
}

/**
 * Out of attempts: the operation fails, its resource shows it (a plan change keeps the old
 * plan), and it is reported like any failure: to Heroku when we answered 202 (an async
 * provision follows ASYNC_FAILURE_ACTION) and in the app's log.
 */
async function giveUp(
  client: PoolClient,
  deps: DispatcherDeps,
  op: DispatchableRow,
  done: Batch,
): Promise<void> {
  const error = {
    code: 'timeout',
    message: `no result from the region agent after ${op.attempts} attempts`,
  };
  const failed = await failAndReport(client, deps, op, op.r, error);
  if (!failed) return; // a result finished it meanwhile
  done.timedOut.push(op);
  await audit(client, {
    uuid: op.resource_uuid,
    actor: 'system',
    action: 'operation_timed_out',
    detail: {
      operationId: op.id,
      kind: op.kind,
      attempts: op.attempts,
      reported: failed.answer_async,
    },
  });
  deps.log.error(
    { operationId: op.id, resourceId: op.resource_uuid, kind: op.kind, attempts: op.attempts },
    'operation failed: retry budget exhausted; reported to Heroku and the app log',
  );
}

/** Publishes the job in the trace of the request that created the operation (its traceparent). */
async function publish(deps: DispatcherDeps, op: DispatchableRow): Promise<void> {
  const subject = jobSubject(op.r.agent_region, op.kind);
  const attributes = {
    'messaging.system': 'nats',
    'messaging.destination.name': subject,
    'addon.operation.id': op.id,
    'addon.operation.attempt': op.attempts + 1,
  };
  const parent = contextFromTraceparent(op.traceparent);
  await inSpan(`publish ${subject}`, { kind: SpanKind.PRODUCER, attributes, parent }, async () => {
    const job = buildJob(deps.catalog, deps.configVarsPrefix, op, op.r, deps.operationTimeoutMs);
    job.traceId = activeTraceId() ?? job.traceId;
    // First dispatch: msgID = operation id. A redispatch (after a deadline, or a retry of a
    // failed deprovision) must not be deduplicated; a crash before the commit repeats the id.
    const msgID = op.attempts === 0 ? op.id : `${op.id}:${op.attempts + 1}`;
    await deps.js.publish(subject, encodeMessage(job), { msgID, headers: headersWithTrace() });
  });
}

/** What a batch did, counted once its transaction committed. */
interface Batch {
  published: OperationRow[];
  timedOut: OperationRow[];
}

/** One claimed batch, in the claim's transaction; resolves with the number claimed. */
async function dispatchBatch(
  client: PoolClient,
  deps: DispatcherDeps,
  ops: DispatchableRow[],
  done: Batch,
): Promise<number> {
  if (ops.length === 0) return 0;
  const toPublish: DispatchableRow[] = [];
  for (const op of ops) {
    if (op.state === 'dispatched' && op.attempts >= deps.maxAttempts)
      await giveUp(client, deps, op, done);
    else toPublish.push(op);
  }
  await Promise.all(toPublish.map((op) => publish(deps, op)));
  deps.afterPublish?.(toPublish);
  await markDispatched(
    client,
    toPublish.map((o) => o.id),
    deps.operationTimeoutMs,
  );
  done.published.push(...toPublish);
  for (const op of toPublish) {
    const fields = { operationId: op.id, resourceId: op.resource_uuid, kind: op.kind };
    deps.log.info({ ...fields, attempt: op.attempts + 1 }, 'operation dispatched');
  }
  return ops.length;
}

function countBatch(metrics: ControlPlaneMetrics | undefined, done: Batch): void {
  metrics?.dispatched(done.published);
  for (const op of done.timedOut) metrics?.operationFinished(op, 'timed_out');
}

/** Dispatch passes start at least this far apart (an accept after a quiet spell goes at once). */
const DISPATCH_GAP_MS = 5;

export function createDispatcher(deps: DispatcherDeps): Dispatcher {
  const batch = deps.batchSize ?? 100;
  let wake: Listener | undefined;

  async function runOnce(): Promise<number> {
    let total = 0;
    for (;;) {
      const done: Batch = { published: [], timedOut: [] };
      const n = await withDispatchable(deps.pool, batch, (c, ops) =>
        dispatchBatch(c, deps, ops, done),
      );
      countBatch(deps.metrics, done);
      total += n;
      if (n < batch) return total;
    }
  }

  // Passes at least DISPATCH_GAP_MS apart: under a stream of accepts each claims a batch.
  const runner = coalescing(
    async () => {
      await runOnce().catch((err: unknown) =>
        deps.log.error({ err }, 'outbox dispatch failed; will retry on the next sweep'),
      );
    },
    { minGapMs: DISPATCH_GAP_MS },
  );

  return {
    async start() {
      wake = await wakeups(
        {
          databaseUrl: deps.databaseUrl,
          channel: OUTBOX_CHANNEL,
          name: 'outbox',
          log: deps.log,
          sweepMs: deps.sweepMs,
        },
        runner.kick,
      );
    },
    runOnce,
    kick: runner.kick,
    async stop() {
      await wake?.close();
      await runner.stop();
    },
  };
}
