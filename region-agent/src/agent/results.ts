/** Building and publishing results on `results.<region>.<uuid>`, always with a msgID. */
import type { JetStreamClient } from 'nats';
import {
  MESSAGE_VERSION,
  encodeMessage,
  type Job,
  type Result,
  type ResultError,
  type ResultStatus,
} from '../../../shared/src/messages.js';
import { resultSubject } from '../../../shared/src/subjects.js';
import type { InstanceOutcome } from '../driver.js';

export interface ResultPublisher {
  progress(job: Job, step: string): Promise<void>;
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

function isError(detail: InstanceOutcome | ResultError | undefined): detail is ResultError {
  return detail !== undefined && 'code' in detail;
}

export function createResultPublisher(deps: ResultPublisherDeps): ResultPublisher {
  const now = deps.now ?? ((): Date => new Date());
  const steps = new Map<string, number>();

  function base(job: Job, status: ResultStatus): Result {
    return {
      version: MESSAGE_VERSION,
      operationId: job.operationId,
      uuid: job.resource.uuid,
      kind: job.kind,
      generation: job.generation,
      agentRegion: deps.region,
      agentId: deps.agentId,
      status,
      at: now().toISOString(),
    };
  }

  async function publish(result: Result, msgID: string): Promise<void> {
    // Awaiting the PubAck is what lets the caller ack the job afterwards.
    await deps.js.publish(resultSubject(deps.region, result.uuid), encodeMessage(result), {
      msgID,
    });
  }

  return {
    async progress(job: Job, step: string): Promise<void> {
      const n = (steps.get(job.operationId) ?? 0) + 1;
      steps.set(job.operationId, n);
      await publish({ ...base(job, 'progress'), step }, `${job.operationId}:progress:${n}`);
    },
    async final(job, status, detail): Promise<void> {
      steps.delete(job.operationId);
      const result = base(job, status);
      if (isError(detail)) result.error = detail;
      else if (detail) {
        result.config = detail.config;
        result.endpoint = detail.endpoint;
        if (detail.certificate) result.certificate = detail.certificate;
      }
      // A later attempt of the same operation (a retried deprovision) reports anew.
      await publish(
        result,
        job.attempt > 1
          ? `${job.operationId}:${job.attempt}:${status}`
          : `${job.operationId}:${status}`,
      );
    },
  };
}
