/**
 * One region's agent: pulls jobs from its durable consumer with bounded concurrency, runs
 * them one resource at a time, publishes results, and acks only after the result's PubAck.
 */
import type { JetStreamClient, JetStreamManager, JsMsg, NatsConnection } from 'nats';
import type { Logger } from '../../../shared/src/logger.js';
import {
  JobEnvelopeSchema,
  JobSchema,
  MESSAGE_VERSION,
  decodeMessage,
  type Job,
  type JobEnvelope,
} from '../../../shared/src/messages.js';
import { JOBS_STREAM } from '../../../shared/src/subjects.js';
import type { Driver } from '../driver.js';
import { createKeyedQueue, type KeyedQueue } from './fifo.js';
import { createReporter, type Reporter } from './reporter.js';
import { createResultPublisher, type ResultPublisher } from './results.js';
import { isExpired, runJobTraced, type JobContext } from './run-job.js';
import { DEFAULT_ACK_WAIT_MS, ensureAgentStreams, ensureJobsConsumer } from './streams.js';
import { StreamConfigError } from '../../../shared/src/streams.js';
import type { AgentMetrics } from '../metrics.js';

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
  /** NATS_STREAM_REPLICAS for the streams the agent creates or verifies; default 1. */
  streamReplicas?: number;
  /** Delay before a failed attempt is redelivered; attempt starts at 1. */
  backoffMs?: (attempt: number) => number;
  /** How often every instance gets its upkeep (`Driver.maintain`); default 6 h, 0 = never. */
  upkeepMs?: number;
  metrics?: AgentMetrics;
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

export { isExpired };

/** What the agent's parts share while it runs. */
interface AgentState {
  deps: AgentDeps;
  log: Logger;
  ackWaitMs: number;
  queue: KeyedQueue;
  js?: JetStreamClient;
  results?: ResultPublisher;
  reporter?: Reporter;
  stopping: boolean;
  loop?: Promise<void>;
  current?: { stop(): void };
  /** Jobs taken from the consumer and not yet acked/nak'd/termed (waiting in the FIFO or running). */
  running: Set<Promise<void>>;
  upkeepTimer?: NodeJS.Timeout;
  upkeepPass?: Promise<number>;
}

/** Renewals and restarts between jobs: never alongside a job for the same instance. */
async function upkeepAll(a: AgentState): Promise<number> {
  let done = 0;
  for (const { uuid } of await a.deps.driver.inventory()) {
    if (a.stopping) break;
    try {
      await a.queue.run(uuid, () => a.deps.driver.maintain(uuid));
      done++;
    } catch (err) {
      a.log.error({ resourceId: uuid, err }, 'instance upkeep failed');
    }
  }
  a.log.info({ instances: done }, 'upkeep pass done');
  return done;
}

function upkeep(a: AgentState): Promise<number> {
  a.upkeepPass ??= upkeepAll(a).finally(() => {
    a.upkeepPass = undefined;
  });
  return a.upkeepPass;
}

function jobContext(a: AgentState): JobContext {
  return {
    region: a.deps.region,
    driver: a.deps.driver,
    queue: a.queue,
    results: a.results,
    maxDeliver: a.deps.maxDeliver,
    backoff: a.deps.backoffMs ?? defaultBackoff,
    ackWaitMs: a.ackWaitMs,
    metrics: a.deps.metrics,
  };
}

/** The envelope of a job this agent cannot parse, when it names itself and is for this region. */
function envelopeOf(a: AgentState, m: JsMsg): JobEnvelope | undefined {
  try {
    const env = decodeMessage(JobEnvelopeSchema, m.data);
    return env.resource.agentRegion === a.deps.region ? env : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A job this agent cannot run (a newer message version, a kind it does not know) is refused
 * with a failed result naming why, then terminated; when the result cannot be sent, it is
 * redelivered. Garbage, or a job for another region, is only logged and terminated.
 */
async function refuse(a: AgentState, m: JsMsg, err: unknown): Promise<void> {
  const env = envelopeOf(a, m);
  a.log.error(
    { subject: m.subject, seq: m.seq, operationId: env?.operationId, err },
    env ? 'job refused: this agent cannot run it' : 'job rejected as unparseable',
  );
  if (!env || !a.results) return void m.term();
  const why = err instanceof Error ? err.message.slice(0, 400) : String(err);
  const message =
    `agent ${a.deps.agentId} (message version ${MESSAGE_VERSION}) cannot run this ${env.kind} ` +
    `job of message version ${env.version}; upgrade the region's agents (${why})`;
  try {
    await a.results.refuse(env, { code: 'unsupported_job', message, retryable: false });
    m.term();
  } catch (publishErr) {
    a.log.error({ err: publishErr, operationId: env.operationId }, 'refusal not published');
    m.nak((a.deps.backoffMs ?? defaultBackoff)(m.info.redeliveryCount));
  }
}

function handle(a: AgentState, m: JsMsg): void {
  let job: Job;
  try {
    job = decodeMessage(JobSchema, m.data);
  } catch (err) {
    const task: Promise<void> = refuse(a, m, err).finally(() => a.running.delete(task));
    a.running.add(task);
    return;
  }
  const task: Promise<void> = runJobTraced(jobContext(a), m, job, a.log).finally(() =>
    a.running.delete(task),
  );
  a.running.add(task);
}

async function waitForSlot(a: AgentState): Promise<void> {
  while (!a.stopping && a.running.size >= a.deps.concurrency) await Promise.race(a.running);
}

/** A fetch's pull request lives this long on the server; nats.js closes it 5 % later. */
const FETCH_EXPIRES_MS = 2_000;

/**
 * A fetch that ended this long after it began means the process was paused (a long GC, a
 * starved or frozen VM): nats.js's own timer closed the fetch first, so jobs the server
 * delivered meanwhile were dropped unacked and come back only after ack_wait. Logged, so the
 * delay is not silent.
 */
function notePause(a: AgentState, startedAt: number): void {
  const tookMs = Date.now() - startedAt;
  if (tookMs < 2 * FETCH_EXPIRES_MS) return;
  a.log.warn(
    { pausedMs: tookMs - FETCH_EXPIRES_MS, redeliveryAfterMs: a.ackWaitMs },
    'agent was paused during a fetch; jobs delivered meanwhile are redelivered after ack_wait',
  );
}

async function pull(a: AgentState, consumerName: string): Promise<void> {
  const consumer = await a.js!.consumers.get(JOBS_STREAM, consumerName);
  while (!a.stopping) {
    await waitForSlot(a);
    if (a.stopping) break;
    const startedAt = Date.now();
    try {
      const batch = await consumer.fetch({
        max_messages: a.deps.concurrency - a.running.size,
        expires: FETCH_EXPIRES_MS,
      });
      a.current = batch;
      for await (const m of batch) handle(a, m);
      notePause(a, startedAt);
    } catch (err) {
      if (a.stopping) break;
      a.log.warn({ err }, 'fetch failed');
      await new Promise((r) => setTimeout(r, 1_000));
    } finally {
      a.current = undefined;
    }
  }
}

const SETUP_ATTEMPTS = 12;

/**
 * Streams and the region's consumer, retried while JetStream cannot answer yet (a stream
 * electing a leader after a node restart times out for a few seconds); a configuration the
 * server refuses (StreamConfigError) fails at once.
 */
async function setUp(a: AgentState): Promise<string> {
  const { deps } = a;
  for (let attempt = 1; ; attempt++) {
    try {
      const jsm: JetStreamManager = await deps.nc.jetstreamManager();
      await ensureAgentStreams(jsm, { replicas: deps.streamReplicas });
      return await ensureJobsConsumer(jsm, {
        region: deps.region,
        ackWaitMs: a.ackWaitMs,
        maxDeliver: deps.maxDeliver,
      });
    } catch (err) {
      if (err instanceof StreamConfigError || attempt >= SETUP_ATTEMPTS) throw err;
      const delayMs = Math.min(500 * 2 ** (attempt - 1), 5_000);
      a.log.warn({ err, attempt, delayMs }, 'JetStream not ready for the agent yet; retrying');
      await new Promise((r) => setTimeout(r, delayMs));
    }
  }
}

async function start(a: AgentState): Promise<void> {
  const { deps } = a;
  const consumerName = await setUp(a);
  a.js = deps.nc.jetstream();
  a.results = createResultPublisher({ js: a.js, region: deps.region, agentId: deps.agentId });
  await deps.driver.adopt();
  a.reporter = createReporter({ ...deps, log: a.log, inFlight: () => a.running.size });
  a.reporter.start();
  const upkeepMs = deps.upkeepMs ?? 6 * 3_600_000;
  if (upkeepMs > 0) {
    a.upkeepTimer = setInterval(() => {
      upkeep(a).catch((err: unknown) => a.log.error({ err }, 'upkeep pass failed'));
    }, upkeepMs);
    a.upkeepTimer.unref();
  }
  a.loop = pull(a, consumerName);
  a.log.info({ consumer: consumerName, driver: deps.driver.name }, 'agent started');
}

async function stop(a: AgentState): Promise<void> {
  a.stopping = true;
  clearInterval(a.upkeepTimer);
  a.current?.stop();
  await a.loop;
  await Promise.all(a.running);
  await a.upkeepPass?.catch(() => undefined);
  await a.reporter?.stop();
  a.log.info('agent stopped');
}

export function createAgent(deps: AgentDeps): Agent {
  const a: AgentState = {
    deps,
    log: deps.log.child({ region: deps.region, agentId: deps.agentId }),
    ackWaitMs: deps.ackWaitMs ?? DEFAULT_ACK_WAIT_MS,
    queue: createKeyedQueue(),
    stopping: false,
    running: new Set(),
  };
  return {
    start: () => start(a),
    stop: () => stop(a),
    get inFlight(): number {
      return a.running.size;
    },
    upkeep: () => upkeep(a),
  };
}
