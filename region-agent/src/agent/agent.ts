/**
 * One region's agent: pulls jobs from its durable consumer with bounded concurrency, runs
 * them one resource at a time, publishes results, and acks only after the result's PubAck.
 */
import type { JetStreamClient, JetStreamManager, JsMsg, NatsConnection } from 'nats';
import type { Logger } from '../../../shared/src/logger.js';
import { JobSchema, decodeMessage, type Job } from '../../../shared/src/messages.js';
import { JOBS_STREAM } from '../../../shared/src/subjects.js';
import { PermanentError, applyJob, type Driver } from '../driver.js';
import { createKeyedQueue } from './fifo.js';
import { createReporter, type Reporter } from './reporter.js';
import { createResultPublisher, type ResultPublisher } from './results.js';
import { ensureAgentStreams, ensureJobsConsumer } from './streams.js';

export interface AgentDeps {
  nc: NatsConnection;
  region: string;
  agentId: string;
  driver: Driver;
  log: Logger;
  concurrency: number;
  maxDeliver: number;
  heartbeatMs: number;
  inventoryMs: number;
  ackWaitMs?: number;
  /** Delay before a failed attempt is redelivered; attempt starts at 1. */
  backoffMs?: (attempt: number) => number;
  /** How often every instance gets its upkeep (`Driver.maintain`); default 6 h, 0 = never. */
  upkeepMs?: number;
}

export interface Agent {
  start(): Promise<void>;
  /** Stops fetching, finishes in-flight work, stops heartbeats. Does not close `nc`. */
  stop(): Promise<void>;
  readonly inFlight: number;
  /** One upkeep pass over every instance now, each in its FIFO turn; resolves with the count. */
  upkeep(): Promise<number>;
}

const defaultBackoff = (attempt: number): number => Math.min(1_000 * 2 ** (attempt - 1), 30_000);

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

export function createAgent(deps: AgentDeps): Agent {
  const log = deps.log.child({ region: deps.region, agentId: deps.agentId });
  const ackWaitMs = deps.ackWaitMs ?? 60_000;
  const backoff = deps.backoffMs ?? defaultBackoff;
  const queue = createKeyedQueue();
  let js: JetStreamClient | undefined;
  let results: ResultPublisher | undefined;
  let reporter: Reporter | undefined;
  let stopping = false;
  let loop: Promise<void> | undefined;
  let current: { stop(): void } | undefined;
  // Jobs taken from the consumer and not yet acked/nak'd/termed (waiting in the FIFO or running).
  const running = new Set<Promise<void>>();
  let upkeepTimer: NodeJS.Timeout | undefined;
  let upkeepPass: Promise<number> | undefined;

  /** Renewals and restarts between jobs: never alongside a job for the same instance. */
  async function upkeepAll(): Promise<number> {
    let done = 0;
    for (const { uuid } of await deps.driver.inventory()) {
      if (stopping) break;
      try {
        await queue.run(uuid, () => deps.driver.maintain(uuid));
        done++;
      } catch (err) {
        log.error({ resourceId: uuid, err }, 'instance upkeep failed');
      }
    }
    log.info({ instances: done }, 'upkeep pass done');
    return done;
  }

  function upkeep(): Promise<number> {
    upkeepPass ??= upkeepAll().finally(() => {
      upkeepPass = undefined;
    });
    return upkeepPass;
  }

  async function fail(m: JsMsg, job: Job, err: unknown, jlog: Logger): Promise<void> {
    const attempt = m.info.redeliveryCount;
    const permanent = err instanceof PermanentError;
    const message = err instanceof Error ? err.message : String(err);
    if (!permanent && attempt < deps.maxDeliver) {
      jlog.warn({ attempt, err }, 'job attempt failed, will retry');
      m.nak(backoff(attempt));
      return;
    }
    const code = err instanceof PermanentError ? err.code : 'agent_error';
    try {
      await results?.final(job, 'failed', { code, message, retryable: false });
      m.term();
      jlog.error({ attempt, code, err }, 'job failed');
    } catch (publishErr) {
      jlog.error({ err: publishErr }, 'failed result not published');
      m.nak(backoff(attempt));
    }
  }

  async function run(m: JsMsg, job: Job): Promise<void> {
    const jlog = log.child({
      operationId: job.operationId,
      resourceId: job.resource.uuid,
      kind: job.kind,
      generation: job.generation,
      traceId: job.traceId,
    });
    // Keeps the message from being redelivered while it waits in the FIFO or runs long.
    const keepAlive = setInterval(() => m.working(), Math.max(1_000, ackWaitMs / 3));
    let expired = false;
    try {
      await queue.run(job.resource.uuid, async () => {
        if (job.resource.agentRegion !== deps.region) {
          throw new PermanentError(
            'wrong_region',
            `job for region ${job.resource.agentRegion} reached ${deps.region}`,
          );
        }
        // Checked when the job's turn comes: it may have waited behind a long one.
        if (isExpired(job)) {
          expired = true;
          return;
        }
        jlog.info({ attempt: m.info.redeliveryCount }, 'job started');
        const outcome = await applyJob(
          deps.driver,
          job,
          (step) => results?.progress(job, step) ?? Promise.resolve(),
        );
        await results?.final(job, 'succeeded', outcome);
      });
    } catch (err) {
      await fail(m, job, err, jlog);
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
      return;
    }
    // The result is stored: a lost ack only means a redelivery, answered idempotently.
    await m.ackAck().then(
      () => jlog.info('job succeeded'),
      (err: unknown) => jlog.warn({ err }, 'job ack not confirmed'),
    );
  }

  function handle(m: JsMsg): void {
    let job: Job;
    try {
      job = decodeMessage(JobSchema, m.data);
    } catch (err) {
      log.error({ subject: m.subject, seq: m.seq, err }, 'job rejected as unparseable');
      m.term();
      return;
    }
    const task: Promise<void> = run(m, job).finally(() => running.delete(task));
    running.add(task);
  }

  async function waitForSlot(): Promise<void> {
    while (!stopping && running.size >= deps.concurrency) await Promise.race(running);
  }

  async function pull(consumerName: string): Promise<void> {
    const consumer = await js!.consumers.get(JOBS_STREAM, consumerName);
    while (!stopping) {
      await waitForSlot();
      if (stopping) break;
      try {
        const batch = await consumer.fetch({
          max_messages: deps.concurrency - running.size,
          expires: 2_000,
        });
        current = batch;
        for await (const m of batch) handle(m);
      } catch (err) {
        if (stopping) break;
        log.warn({ err }, 'fetch failed');
        await new Promise((r) => setTimeout(r, 1_000));
      } finally {
        current = undefined;
      }
    }
  }

  return {
    async start(): Promise<void> {
      const jsm: JetStreamManager = await deps.nc.jetstreamManager();
      await ensureAgentStreams(jsm);
      const consumerName = await ensureJobsConsumer(jsm, {
        region: deps.region,
        ackWaitMs,
        maxDeliver: deps.maxDeliver,
      });
      js = deps.nc.jetstream();
      results = createResultPublisher({ js, region: deps.region, agentId: deps.agentId });
      await deps.driver.adopt();
      reporter = createReporter({ ...deps, log, inFlight: () => running.size });
      reporter.start();
      const upkeepMs = deps.upkeepMs ?? 6 * 3_600_000;
      if (upkeepMs > 0) {
        upkeepTimer = setInterval(() => {
          upkeep().catch((err: unknown) => log.error({ err }, 'upkeep pass failed'));
        }, upkeepMs);
        upkeepTimer.unref();
      }
      loop = pull(consumerName);
      log.info({ consumer: consumerName, driver: deps.driver.name }, 'agent started');
    },
    async stop(): Promise<void> {
      stopping = true;
      clearInterval(upkeepTimer);
      current?.stop();
      await loop;
      await Promise.all(running);
      await upkeepPass?.catch(() => undefined);
      await reporter?.stop();
      log.info('agent stopped');
    },
    get inFlight(): number {
      return running.size;
    },
    upkeep,
  };
}
