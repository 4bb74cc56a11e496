/** JetStream streams the control plane relies on; created or updated idempotently. */
import { RetentionPolicy, StorageType, type JetStreamManager, type StreamConfig } from 'nats';
import {
  AGENTS_STREAM, AGENTS_SUBJECTS, JOBS_STREAM, JOBS_SUBJECTS, RESULTS_STREAM, RESULTS_SUBJECTS,
} from '../../../shared/src/subjects.js';

const SECOND_NS = 1_000_000_000;

export const STREAMS: Array<Partial<StreamConfig> & { name: string; subjects: string[] }> = [
  {
    name: JOBS_STREAM,
    subjects: [JOBS_SUBJECTS],
    retention: RetentionPolicy.Workqueue,
    storage: StorageType.File,
    duplicate_window: 10 * 60 * SECOND_NS,
  },
  {
    name: RESULTS_STREAM,
    subjects: [RESULTS_SUBJECTS],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    duplicate_window: 10 * 60 * SECOND_NS,
    max_age: 7 * 24 * 3600 * SECOND_NS,
  },
  {
    name: AGENTS_STREAM,
    subjects: AGENTS_SUBJECTS,
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    max_msgs_per_subject: 5,
    max_age: 24 * 3600 * SECOND_NS,
  },
];

export async function ensureStreams(jsm: JetStreamManager): Promise<void> {
  for (const stream of STREAMS) {
    try {
      await jsm.streams.info(stream.name);
    } catch {
      try {
        await jsm.streams.add(stream);
      } catch (err) {
        // Another replica or an agent created it between our info and add.
        await jsm.streams.info(stream.name).catch(() => {
          throw err;
        });
      }
    }
  }
}
