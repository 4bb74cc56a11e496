/**
 * Create-or-verify the JetStream streams and this region's durable consumer. The control
 * plane creates the streams too, so either side may win the race; both converge.
 */
import {
  AckPolicy,
  DeliverPolicy,
  nanos,
  RetentionPolicy,
  StorageType,
  type JetStreamManager,
  type StreamConfig,
} from 'nats';
import { JOBS_STREAM, JOBS_SUBJECTS, RESULTS_STREAM, RESULTS_SUBJECTS, jobsConsumerName, jobsFilter } from '../../../shared/src/subjects.js';

const DUPLICATE_WINDOW_MS = 120_000;

function isNotFound(err: unknown): boolean {
  const e = err as { code?: string; api_error?: { err_code?: number } };
  return e.code === '404' || e.api_error?.err_code === 10059 || e.api_error?.err_code === 10014;
}

async function ensureStream(jsm: JetStreamManager, want: Partial<StreamConfig> & { name: string }): Promise<void> {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const info = await jsm.streams.info(want.name);
      if (info.config.retention !== want.retention) {
        throw new Error(`stream ${want.name} has retention ${info.config.retention}, expected ${want.retention}`);
      }
      const window = want.duplicate_window ?? 0;
      if ((info.config.duplicate_window ?? 0) < window) {
        await jsm.streams.update(want.name, { ...info.config, duplicate_window: window });
      }
      return;
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    try {
      await jsm.streams.add(want);
      return;
    } catch {
      // Someone else created it between our info and add: verify on the next turn.
    }
  }
  throw new Error(`could not create or verify stream ${want.name}`);
}

export async function ensureStreams(jsm: JetStreamManager): Promise<void> {
  await ensureStream(jsm, {
    name: JOBS_STREAM,
    subjects: [JOBS_SUBJECTS],
    retention: RetentionPolicy.Workqueue,
    storage: StorageType.File,
    duplicate_window: nanos(DUPLICATE_WINDOW_MS),
  });
  await ensureStream(jsm, {
    name: RESULTS_STREAM,
    subjects: [RESULTS_SUBJECTS],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    duplicate_window: nanos(DUPLICATE_WINDOW_MS),
  });
}

export interface ConsumerSettings {
  region: string;
  ackWaitMs: number;
  maxDeliver: number;
}

/** The region's durable pull consumer; mutable settings are brought up to date. */
export async function ensureJobsConsumer(jsm: JetStreamManager, s: ConsumerSettings): Promise<string> {
  const name = jobsConsumerName(s.region);
  const mutable = { ack_wait: nanos(s.ackWaitMs), max_deliver: s.maxDeliver };
  try {
    const info = await jsm.consumers.info(JOBS_STREAM, name);
    if (info.config.ack_wait !== mutable.ack_wait || info.config.max_deliver !== mutable.max_deliver) {
      await jsm.consumers.update(JOBS_STREAM, name, mutable);
    }
    return name;
  } catch (err) {
    if (!isNotFound(err)) throw err;
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
