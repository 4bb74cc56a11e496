/**
 * The durable JetStream consumer of agent results. Each result is applied by apply-result.ts
 * and acked only after that commits; one that can never apply (malformed, refused, or failing
 * past its delivery budget) is terminated once it is on record.
 */
import {
  AckPolicy,
  DeliverPolicy,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
} from 'nats';
import type { MessageError } from '../../../../shared/src/messages.js';
import { decodeMessage, ResultSchema, type Result } from '../../../../shared/src/messages.js';
import { RESULTS_STREAM } from '../../../../shared/src/subjects.js';
import { audit } from '../../db/audit.js';
import { applyAgentResult, type ApplyDeps, type ApplyOutcome } from './apply-result.js';
import type { RejectReason } from './result-trust.js';

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
  deadLettered: number;
}

export interface ResultConsumer {
  start(): Promise<void>;
  stop(): Promise<void>;
  counts(): ResultCounts;
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
