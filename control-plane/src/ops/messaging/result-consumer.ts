/**
 * The durable JetStream consumer of agent results. Each result is applied by apply-result.ts
 * and acked only after that commits; one that can never apply (malformed, refused, or failing
 * past its delivery budget) is terminated once it is on record.
 */
import { SpanKind } from '@opentelemetry/api';
import {
  AckPolicy,
  DeliverPolicy,
  type Consumer,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
} from 'nats';
import type { MessageError, ResultEnvelope } from '../../../../shared/src/messages.js';
import { decodeMessage, ResultSchema, type Result } from '../../../../shared/src/messages.js';
import {
  CONSUME_TIMING,
  watchConsume,
  type ConsumerStanding,
} from '../../../../shared/src/consume.js';
import { RESULTS_STREAM } from '../../../../shared/src/subjects.js';
import { contextFromHeaders, inSpan } from '../../../../shared/src/tracing/context.js';
import { audit } from '../../db/audit.js';
import { applyAgentResult, type ApplyDeps, type ApplyOutcome } from './apply-result.js';
import type { RejectReason } from './result-trust.js';
import { foreignVersionResult, type ForeignResult } from './result-version.js';

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

export interface ResultConsumerDeps extends ApplyDeps {
  /** Defaults: RESULT_MAX_DELIVER deliveries, 2 s first delay. */
  retry?: ResultRetry;
  js: JetStreamClient;
  jsm: JetStreamManager;
}

export interface ResultCounts {
  applied: number;
  duplicate: number;
  progress: number;
  retryScheduled: number;
  /** Refused results by reason (security events). */
  rejected: Partial<Record<RejectReason, number>>;
  malformed: number;
  /** Results in a message version this control plane does not read (result-version.ts). */
  foreignVersion: number;
  deadLettered: number;
}

export interface ResultConsumer {
  start(): Promise<void>;
  stop(): Promise<void>;
  counts(): ResultCounts;
}

function count(h: Handling, outcome: ApplyOutcome): void {
  const { counts } = h;
  if (typeof outcome === 'object') {
    counts.rejected[outcome.rejected] = (counts.rejected[outcome.rejected] ?? 0) + 1;
    h.deps.metrics?.resultRejected(outcome.rejected);
  } else if (outcome === 'retry_scheduled') counts.retryScheduled += 1;
  else counts[outcome] += 1;
}

/** Terminate a message that can never be applied, once it is on record (never before). */
async function terminate(
  deps: ResultConsumerDeps,
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

interface Handling {
  deps: ResultConsumerDeps;
  retry: ResultRetry;
  counts: ResultCounts;
}

async function handle(h: Handling, msg: JsMsg): Promise<void> {
  const result = await readResult(h, msg);
  if (!result) return;
  try {
    const outcome = await applyTraced(h, msg, result);
    count(h, outcome);
    if (typeof outcome === 'object') msg.term();
    else msg.ack();
  } catch (err) {
    await failedToApply(h, msg, result, err);
  }
}

/**
 * The result a message carries, or undefined once the message is dealt with: a malformed one
 * is terminated on record, a progress result of another message version is dropped. A final
 * result of another version stands in as a failed result that says why (result-version.ts).
 */
async function readResult(h: Handling, msg: JsMsg): Promise<Result | undefined> {
  try {
    return decodeMessage(ResultSchema, msg.data);
  } catch (err) {
    const foreign = foreignVersionResult(msg.data);
    if (foreign) return foreignResult(h, msg, foreign);
    const detail = { error: (err as MessageError).message };
    await terminate(h.deps, msg, 'result_malformed', detail, null).then(
      () => {
        h.counts.malformed += 1;
        h.deps.metrics?.resultRejected('malformed');
      },
      () => msg.nak(NAK_MAX_MS), // not on record yet: keep it
    );
    return undefined;
  }
}

/** Redelivery delay of a result before its `deliveries`+1-th attempt. */
const backoffMs = (h: Handling, deliveries: number): number =>
  Math.min(h.retry.baseDelayMs * 2 ** (deliveries - 1), NAK_MAX_MS);

/**
 * A result of an operation kind this release does not know is a newer replica's (a rolling
 * upgrade): redelivered so one of those takes it, dead-lettered past the delivery budget.
 */
async function leaveForNewerReplica(h: Handling, msg: JsMsg, e: ResultEnvelope): Promise<void> {
  const deliveries = msg.info.deliveryCount;
  const fields = { operationId: e.operationId, kind: e.kind, agentId: e.agentId, deliveries };
  if (deliveries >= h.retry.maxDeliver) {
    const detail = { ...fields, error: `operation kind ${e.kind} unknown to this release` };
    await terminate(h.deps, msg, 'result_dead_lettered', detail, e.uuid).then(
      () => {
        h.counts.deadLettered += 1;
        h.deps.metrics?.resultRejected('dead_lettered');
      },
      () => msg.nak(NAK_MAX_MS),
    );
    return;
  }
  h.deps.log.warn(fields, 'result of an operation kind this release does not know: left to others');
  msg.nak(backoffMs(h, deliveries));
}

async function foreignResult(
  h: Handling,
  msg: JsMsg,
  foreign: ForeignResult,
): Promise<Result | undefined> {
  if (foreign.unknownKind) return void (await leaveForNewerReplica(h, msg, foreign.envelope));
  const { version, operationId, uuid, agentId, agentRegion, status } = foreign.envelope;
  h.counts.foreignVersion += 1;
  h.deps.metrics?.resultRejected('unsupported_version');
  h.deps.log.warn(
    { subject: msg.subject, operationId, resourceId: uuid, agentId, agentRegion, version, status },
    foreign.progress
      ? 'progress result of another message version ignored'
      : 'result of another message version: its operation fails; upgrade the control plane',
  );
  if (!foreign.progress) return foreign.result;
  msg.term();
  return undefined;
}

/**
 * Applied in the trace the agent's headers carry: what the result enqueues (the config PATCH,
 * the provision action) stores this span's context and continues the same trace.
 */
function applyTraced(h: Handling, msg: JsMsg, result: Result): Promise<ApplyOutcome> {
  const attributes = {
    'messaging.system': 'nats',
    'messaging.destination.name': msg.subject,
    'addon.operation.id': result.operationId,
    'addon.result.status': result.status,
  };
  const parent = contextFromHeaders(msg.headers);
  return inSpan(
    `process results ${result.status}`,
    { kind: SpanKind.CONSUMER, attributes, parent },
    () => applyAgentResult(h.deps, msg.subject, result),
  );
}

/** Redelivered with backoff; past the delivery budget, dead-lettered once on record. */
async function failedToApply(h: Handling, msg: JsMsg, result: Result, err: unknown): Promise<void> {
  const deliveries = msg.info.deliveryCount;
  if (deliveries >= h.retry.maxDeliver) {
    // Recording needs Postgres: while it is down this is an outage, not a poison message,
    // so the result stays in the stream and is retried.
    const detail = { operationId: result.operationId, error: (err as Error).message };
    const recorded = await terminate(h.deps, msg, 'result_dead_lettered', detail, result.uuid).then(
      () => true,
      () => false,
    );
    if (recorded) {
      h.counts.deadLettered += 1;
      h.deps.metrics?.resultRejected('dead_lettered');
      return;
    }
  }
  h.deps.log.error(
    { err, operationId: result.operationId, deliveries },
    'applying result failed; will retry',
  );
  msg.nak(backoffMs(h, deliveries));
}

/** The durable consumer, created once; another replica creating it first is fine. */
async function ensureConsumer(jsm: JetStreamManager): Promise<void> {
  await jsm.consumers
    .add(RESULTS_STREAM, {
      durable_name: RESULTS_CONSUMER,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: 30_000_000_000,
      max_ack_pending: 1000,
    })
    .catch(async (err) => {
      await jsm.consumers.info(RESULTS_STREAM, RESULTS_CONSUMER).catch(() => {
        throw err;
      });
    });
}

/** The consumer's standing on the server, for the stall watchdog. */
async function standing(consumer: Consumer): Promise<ConsumerStanding> {
  const info = await consumer.info();
  return {
    pending: info.num_pending,
    waiting: info.num_waiting,
    atAckLimit: info.num_ack_pending >= (info.config.max_ack_pending ?? Infinity),
  };
}

export function createResultConsumer(deps: ResultConsumerDeps): ResultConsumer {
  let stopped = false;
  let loop: Promise<void> | undefined;
  let stopIter: (() => void) | undefined;
  const h: Handling = {
    deps,
    retry: deps.retry ?? { maxDeliver: RESULT_MAX_DELIVER, baseDelayMs: 2_000 },
    counts: {
      applied: 0,
      duplicate: 0,
      progress: 0,
      retryScheduled: 0,
      rejected: {},
      malformed: 0,
      foreignVersion: 0,
      deadLettered: 0,
    },
  };

  /** A stall an iterator left open when it was restarted: its resume is still to be logged. */
  let openStall: number | undefined;

  async function consumeOnce(consumer: Consumer): Promise<void> {
    const messages = await consumer.consume({ max_messages: 256, ...CONSUME_TIMING });
    stopIter = () => void messages.close();
    const watch = watchConsume(messages, deps.log, RESULTS_CONSUMER, {
      stalledBefore: openStall,
      probe: () => standing(consumer),
    });
    const inflight = new Set<Promise<void>>();
    for await (const msg of messages) {
      watch.received();
      const p = handle(h, msg).finally(() => inflight.delete(p));
      inflight.add(p);
      if (inflight.size >= 32) await watch.busy(Promise.race(inflight));
      if (stopped) break;
    }
    await Promise.all(inflight);
    await watch.done;
    openStall = watch.stalledSince();
  }

  /** The consumer again, made again when it was lost (a stream recreated, a node's store lost). */
  async function reopen(): Promise<Consumer> {
    await ensureConsumer(deps.jsm);
    return deps.js.consumers.get(RESULTS_STREAM, RESULTS_CONSUMER);
  }

  return {
    async start() {
      await ensureConsumer(deps.jsm);
      let consumer: Consumer | undefined = await deps.js.consumers.get(
        RESULTS_STREAM,
        RESULTS_CONSUMER,
      );
      loop = (async () => {
        while (!stopped) {
          try {
            consumer ??= await reopen();
            await consumeOnce(consumer);
            consumer = undefined;
          } catch (err) {
            consumer = undefined;
            if (!stopped) deps.log.warn({ err }, 'result consumer interrupted; resuming');
          }
          if (!stopped) await new Promise((r) => setTimeout(r, 500));
        }
      })();
    },
    async stop() {
      stopped = true;
      stopIter?.();
      await loop;
    },
    counts: () => structuredClone(h.counts),
  };
}
