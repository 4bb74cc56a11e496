/**
 * Create-or-verify the JetStream streams the agent uses and this region's durable consumer.
 * The stream settings are shared/src/streams.ts's, the same the control plane creates.
 */
import { AckPolicy, DeliverPolicy, nanos, type JetStreamManager } from 'nats';
import {
  ensureStreams,
  isJetStreamNotFound,
  type EnsureOptions,
} from '../../../shared/src/streams.js';
import {
  JOBS_STREAM,
  RESULTS_STREAM,
  jobsConsumerName,
  jobsFilter,
} from '../../../shared/src/subjects.js';

/** The agent consumes JOBS and publishes to RESULTS; heartbeats go over core NATS. */
export async function ensureAgentStreams(
  jsm: JetStreamManager,
  options: EnsureOptions = {},
): Promise<void> {
  await ensureStreams(jsm, [JOBS_STREAM, RESULTS_STREAM], options);
}

/**
 * The consumer's ack_wait unless AGENT_ACK_WAIT_MS says otherwise: how long a job held by an
 * agent that died, or delivered to a fetch closed while the agent was paused, stays invisible
 * before it is redelivered. A running job is kept with `working()` every third of it, so it
 * does not bound a job's length.
 */
export const DEFAULT_ACK_WAIT_MS = 15_000;

export interface ConsumerSettings {
  region: string;
  ackWaitMs: number;
  maxDeliver: number;
}

/** The region's durable pull consumer; mutable settings are brought up to date. */
export async function ensureJobsConsumer(
  jsm: JetStreamManager,
  s: ConsumerSettings,
): Promise<string> {
  const name = jobsConsumerName(s.region);
  const mutable = { ack_wait: nanos(s.ackWaitMs), max_deliver: s.maxDeliver };
  try {
    const info = await jsm.consumers.info(JOBS_STREAM, name);
    if (
      info.config.ack_wait !== mutable.ack_wait ||
      info.config.max_deliver !== mutable.max_deliver
    ) {
      await jsm.consumers.update(JOBS_STREAM, name, mutable);
    }
    return name;
  } catch (err) {
    if (!isJetStreamNotFound(err)) throw err;
  }
  await jsm.consumers.add(JOBS_STREAM, {
    durable_name: name,
    filter_subject: jobsFilter(s.region),
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ...mutable,
  });
  return name;
}
