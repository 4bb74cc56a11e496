/**
 * One job from the consumer to its settlement: run in its instance's FIFO turn, the final
 * result published, then acked; a failure nak'd with backoff, or reported and terminated
 * when permanent or on the last attempt; a job whose deadline passed dropped unanswered.
 */
import type { JsMsg } from 'nats';
import type { Logger } from '../../../shared/src/logger.js';
import type { Job } from '../../../shared/src/messages.js';
import { SpanKind } from '@opentelemetry/api';
import {
  contextFromHeaders,
  failActiveSpan,
  inSpan,
  stepSpans,
} from '../../../shared/src/tracing/context.js';
import { PermanentError, applyJob, type Driver } from '../driver.js';
import type { KeyedQueue } from './fifo.js';
import type { ResultPublisher } from './results.js';
import type { AgentMetrics, JobResult } from '../metrics.js';

export interface JobContext {
  region: string;
  driver: Driver;
  queue: KeyedQueue;
  results: ResultPublisher | undefined;
  maxDeliver: number;
  /** Delay before a failed attempt is redelivered; attempt starts at 1. */
  backoff: (attempt: number) => number;
  ackWaitMs: number;
  metrics?: AgentMetrics;
}

/**
 * Kinds that create or grant something. Once their deadline has passed the control plane
 * has re-sent the operation (a new copy with a new deadline) or given up on it, so starting
 * a stale copy could only bring back an instance or credentials nobody waits for. Removals
 * (deprovision, revoke_credentials) always run.
 */
const EXPIRING_KINDS = new Set<Job['kind']>(['provision', 'change_plan', 'rotate_credentials']);
/** Tolerated clock difference between the control plane and the agent. */
const DEADLINE_GRACE_MS = 30_000;

export function isExpired(job: Job, now = Date.now()): boolean {
  return EXPIRING_KINDS.has(job.kind) && Date.parse(job.deadline) + DEADLINE_GRACE_MS < now;
}

async function fail(
  ctx: JobContext,
  m: JsMsg,
  job: Job,
  err: unknown,
  jlog: Logger,
): Promise<JobResult> {
  failActiveSpan(err); // this attempt's span, whether it is retried or reported
  const attempt = m.info.redeliveryCount;
  const permanent = err instanceof PermanentError;
  const message = err instanceof Error ? err.message : String(err);
  if (!permanent && attempt < ctx.maxDeliver) {
    jlog.warn({ attempt, err }, 'job attempt failed, will retry');
    ctx.results?.abandon(job);
    m.nak(ctx.backoff(attempt));
    return 'retried';
  }
  const code = err instanceof PermanentError ? err.code : 'agent_error';
  try {
    await ctx.results?.final(job, 'failed', { code, message, retryable: false });
    m.term();
    if (code === 'superseded') {
      jlog.warn({ attempt, code, message }, 'job superseded by a newer generation; not applied');
      return 'superseded';
    }
    jlog.error({ attempt, code, err }, 'job failed');
    return 'failed';
  } catch (publishErr) {
    jlog.error({ err: publishErr }, 'failed result not published');
    ctx.results?.abandon(job);
    m.nak(ctx.backoff(attempt));
    return 'retried';
  }
}

/** Runs the job in its turn; true when it was skipped because its deadline had passed. */
async function inTurn(ctx: JobContext, m: JsMsg, job: Job, jlog: Logger): Promise<boolean> {
  let expired = false;
  await ctx.queue.run(job.resource.uuid, async () => {
    if (job.resource.agentRegion !== ctx.region) {
      throw new PermanentError(
        'wrong_region',
        `job for region ${job.resource.agentRegion} reached ${ctx.region}`,
      );
    }
    // Checked when the job's turn comes: it may have waited behind a long one.
    if (isExpired(job)) {
      expired = true;
      return;
    }
    jlog.info({ attempt: m.info.redeliveryCount }, 'job started');
    // Each step the driver reports ("issuing certificate", "applying objects", "waiting for
    // TLS readiness"…) is a span of the job's trace, until the next step or the end.
    const steps = stepSpans('agent');
    const outcome = await applyJob(ctx.driver, job, (step) => {
      steps.step(step);
      return ctx.results?.progress(job, step) ?? Promise.resolve();
    }).then(
      (done) => (steps.end(), done),
      (err: unknown) => {
        steps.end(err);
        throw err;
      },
    );
    await ctx.results?.final(job, 'succeeded', outcome);
  });
  return expired;
}

/** runJob in the trace the job's headers carry (the control plane's dispatch). */
export function runJobTraced(ctx: JobContext, m: JsMsg, job: Job, log: Logger): Promise<void> {
  const attributes = {
    'messaging.system': 'nats',
    'messaging.destination.name': m.subject,
    'addon.operation.id': job.operationId,
    'addon.resource.id': job.resource.uuid,
    'addon.operation.attempt': m.info.redeliveryCount,
  };
  const parent = contextFromHeaders(m.headers);
  return inSpan(`job ${job.kind}`, { kind: SpanKind.CONSUMER, attributes, parent }, () =>
    runJob(ctx, m, job, log),
  );
}

export async function runJob(ctx: JobContext, m: JsMsg, job: Job, log: Logger): Promise<void> {
  const jlog = log.child({
    operationId: job.operationId,
    resourceId: job.resource.uuid,
    kind: job.kind,
    generation: job.generation,
    traceId: job.traceId,
  });
  // Keeps the message from being redelivered while it waits in the FIFO or runs long.
  const started = performance.now();
  const finished = (result: JobResult): void =>
    ctx.metrics?.jobFinished(job.kind, result, (performance.now() - started) / 1000);
  const keepAlive = setInterval(() => m.working(), Math.max(1_000, ctx.ackWaitMs / 3));
  let expired: boolean;
  try {
    expired = await inTurn(ctx, m, job, jlog);
  } catch (err) {
    finished(await fail(ctx, m, job, err, jlog));
    return;
  } finally {
    clearInterval(keepAlive);
  }
  if (expired) {
    // No result: a failure would end the operation its newer copy is about to complete.
    jlog.warn(
      { deadline: job.deadline },
      'job skipped: its deadline passed before it started (the control plane re-sends or has given up)',
    );
    m.term();
    finished('expired');
    return;
  }
  finished('succeeded');
  // The result is stored: a lost ack only means a redelivery, answered idempotently.
  await m.ackAck().then(
    () => jlog.info('job succeeded'),
    (err: unknown) => jlog.warn({ err }, 'job ack not confirmed'),
  );
}
