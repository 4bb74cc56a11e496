/** Building and publishing results on `results.<region>.<uuid>`, always with a msgID. */
import type { JetStreamClient } from 'nats';
import {
  MESSAGE_VERSION,
  encodeMessage,
  type Job,
  type JobEnvelope,
  type Result,
  type ResultError,
  type ResultStatus,
} from '../../../shared/src/messages.js';
import { randomUUID } from 'node:crypto';
import { resultSubject } from '../../../shared/src/subjects.js';
import { headersWithTrace } from '../../../shared/src/tracing/context.js';
import type { InstanceOutcome } from '../driver.js';

export interface ResultPublisher {
  /**
   * Sends the step at once and resolves without waiting for its PubAck: the job goes on while
   * it travels. Steps leave in order on one connection; `final` waits for their PubAcks first.
   */
  progress(job: Job, step: string): Promise<void>;
  /**
   * The attempt ends without a final result here (nak'd for a retry that may run on another
   * agent): its unconfirmed progress is dropped, so nothing is kept for the operation.
   */
  abandon(job: Job): void;
  /** A failed result for a job this agent cannot run (see JobEnvelopeSchema). */
  refuse(job: JobEnvelope, error: ResultError): Promise<void>;
  final(
    job: Job,
    status: Exclude<ResultStatus, 'progress'>,
    detail: InstanceOutcome | ResultError | undefined,
  ): Promise<void>;
}

export interface ResultPublisherDeps {
  js: JetStreamClient;
  region: string;
  agentId: string;
  now?: () => Date;
}

/** A later attempt of the same operation (a retried deprovision) reports anew. */
function finalMsgId(job: Job | JobEnvelope, status: ResultStatus): string {
  return job.attempt > 1
    ? `${job.operationId}:${job.attempt}:${status}`
    : `${job.operationId}:${status}`;
}

function isError(detail: InstanceOutcome | ResultError | undefined): detail is ResultError {
  return detail !== undefined && 'code' in detail;
}

export function createResultPublisher(deps: ResultPublisherDeps): ResultPublisher {
  const now = deps.now ?? ((): Date => new Date());
  // Progress msgIDs are unique to this publisher: an attempt retried here or elsewhere is not
  // deduplicated against the steps of an earlier one, and no count is kept per operation.
  const run = randomUUID().slice(0, 8);
  let seq = 0;
  /** Per operation: its progress publishes not yet confirmed, in the order they were sent. */
  const inFlight = new Map<string, Array<{ sent: Promise<unknown>; again: () => Promise<void> }>>();

  function base(job: Job | JobEnvelope, status: ResultStatus): Result {
    return {
      version: MESSAGE_VERSION,
      operationId: job.operationId,
      uuid: job.resource.uuid,
      // A refused job's kind may be one this build does not know: it is echoed as sent.
      kind: job.kind as Result['kind'],
      generation: job.generation,
      agentRegion: deps.region,
      agentId: deps.agentId,
      status,
      at: now().toISOString(),
    };
  }

  async function publish(result: Result, msgID: string): Promise<void> {
    // Awaiting the PubAck is what lets the caller ack the job afterwards. The headers carry
    // the job's trace on to the control plane's handling of the result.
    await deps.js.publish(resultSubject(deps.region, result.uuid), encodeMessage(result), {
      msgID,
      headers: headersWithTrace(),
    });
  }

  /**
   * Every progress of the operation confirmed before its final result is sent, so the final is
   * stored after them; one that failed is sent again (same msgID: JetStream drops a copy).
   */
  async function confirmProgress(operationId: string): Promise<void> {
    const sent = inFlight.get(operationId) ?? [];
    inFlight.delete(operationId);
    for (const p of sent) {
      const failed = await p.sent.then(
        () => false,
        () => true,
      );
      if (failed) await p.again();
    }
  }

  return {
    progress(job: Job, step: string): Promise<void> {
      const msgID = `${job.operationId}:progress:${run}:${++seq}`;
      const result = { ...base(job, 'progress'), step };
      const again = (): Promise<void> => publish(result, msgID);
      const sent = again();
      sent.catch(() => undefined); // confirmed (and re-sent if need be) by final()
      const list = inFlight.get(job.operationId) ?? [];
      list.push({ sent, again });
      inFlight.set(job.operationId, list);
      return Promise.resolve();
    },
    abandon(job: Job): void {
      inFlight.delete(job.operationId);
    },
    async final(job, status, detail): Promise<void> {
      await confirmProgress(job.operationId);
      const result = base(job, status);
      if (isError(detail)) result.error = detail;
      else if (detail) {
        result.config = detail.config;
        result.endpoint = detail.endpoint;
        if (detail.certificate) result.certificate = detail.certificate;
      }
      await publish(result, finalMsgId(job, status));
    },
    async refuse(job, error): Promise<void> {
      await publish({ ...base(job, 'failed'), error }, finalMsgId(job, 'failed'));
    },
  };
}
