/**
 * The JetStream streams and their settings: the one place they are defined. The control
 * plane and the region agent both create-or-verify them at start, so whichever starts first
 * makes the same streams.
 */
import {
  nanos,
  RetentionPolicy,
  StorageType,
  type JetStreamManager,
  type StreamConfig,
} from 'nats';
import {
  AGENTS_STREAM,
  AGENTS_SUBJECTS,
  JOBS_STREAM,
  JOBS_SUBJECTS,
  RESULTS_STREAM,
  RESULTS_SUBJECTS,
} from './subjects.js';

export type StreamName = typeof JOBS_STREAM | typeof RESULTS_STREAM | typeof AGENTS_STREAM;

export type StreamSettings = Partial<StreamConfig> & {
  name: StreamName;
  subjects: string[];
  retention: RetentionPolicy;
};

const MINUTE_MS = 60_000;
const DAY_MS = 24 * 60 * MINUTE_MS;
// Agents publish results with msgIDs and the control plane publishes jobs with them; a
// redelivered job may be re-run minutes later, so the dedupe window must cover that.
const DUPLICATE_WINDOW = nanos(10 * MINUTE_MS);

export const STREAMS: Readonly<Record<StreamName, StreamSettings>> = {
  [JOBS_STREAM]: {
    name: JOBS_STREAM,
    subjects: [JOBS_SUBJECTS],
    retention: RetentionPolicy.Workqueue,
    storage: StorageType.File,
    duplicate_window: DUPLICATE_WINDOW,
  },
  [RESULTS_STREAM]: {
    name: RESULTS_STREAM,
    subjects: [RESULTS_SUBJECTS],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    duplicate_window: DUPLICATE_WINDOW,
    max_age: nanos(7 * DAY_MS),
  },
  [AGENTS_STREAM]: {
    name: AGENTS_STREAM,
    subjects: AGENTS_SUBJECTS,
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    max_msgs_per_subject: 5,
    max_age: nanos(DAY_MS),
  },
};

const ALL_STREAMS: readonly StreamName[] = [JOBS_STREAM, RESULTS_STREAM, AGENTS_STREAM];

/** An existing stream cannot be made to fit ours in place (retention is immutable). */
export class StreamConfigError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'StreamConfigError';
  }
}

/** JetStream's "stream not found" / "consumer not found" answers. */
export function isJetStreamNotFound(err: unknown): boolean {
  const e = err as { code?: string; api_error?: { err_code?: number } };
  return e.code === '404' || e.api_error?.err_code === 10059 || e.api_error?.err_code === 10014;
}

async function findStream(jsm: JetStreamManager, name: string): Promise<StreamConfig | undefined> {
  try {
    return (await jsm.streams.info(name)).config;
  } catch (err) {
    if (isJetStreamNotFound(err)) return undefined;
    throw err;
  }
}

/**
 * Brings an existing stream to our replica count, or says why it cannot: a refused update,
 * or one a single server accepts and ignores (it stores the count, keeps one copy).
 */
async function setReplicas(
  jsm: JetStreamManager,
  name: string,
  have: number,
  want: number,
): Promise<void> {
  const refused = (why: string, cause?: unknown): StreamConfigError =>
    new StreamConfigError(
      `stream ${name} has ${have} replica(s) and NATS_STREAM_REPLICAS asks for ${want}, but the ` +
        `server ${why}; a replica count needs a JetStream cluster of at least that many servers: ` +
        'fix NATS_STREAM_REPLICAS or the cluster',
      { cause },
    );
  const info = await jsm.streams.update(name, { num_replicas: want }).catch((err: unknown) => {
    throw refused(`refused the change (${(err as Error).message})`, err);
  });
  if (want > 1 && !info.cluster) {
    // A lone server stores the count without holding the replicas: put the config back.
    await jsm.streams.update(name, { num_replicas: have });
    throw refused('is not clustered');
  }
  await waitForLeader(jsm, name);
}

const LEADER_WAIT_MS = 30_000;

/**
 * A stream whose replica set changed elects a leader again; until then publishes get 503 and
 * info requests time out. Start-up waits for it rather than failing the next caller.
 */
async function waitForLeader(jsm: JetStreamManager, name: string): Promise<void> {
  const deadline = Date.now() + LEADER_WAIT_MS;
  for (;;) {
    const info = await jsm.streams.info(name).catch(() => undefined);
    if (info && (!info.cluster || info.cluster.leader)) return;
    if (Date.now() > deadline) {
      throw new StreamConfigError(
        `stream ${name} has no leader ${LEADER_WAIT_MS} ms after its replica change`,
      );
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function verifyStream(
  jsm: JetStreamManager,
  want: StreamSettings,
  have: StreamConfig,
): Promise<void> {
  if (have.retention !== want.retention) {
    throw new StreamConfigError(
      `stream ${want.name} exists with retention "${have.retention}" but must have "${want.retention}"; ` +
        'retention cannot be changed in place: delete the stream or recreate it with the settings of shared/src/streams.ts',
    );
  }
  const window = want.duplicate_window;
  if (window !== undefined && (have.duplicate_window ?? 0) < window) {
    await jsm.streams.update(want.name, { duplicate_window: window });
  }
  const replicas = want.num_replicas ?? 1;
  if ((have.num_replicas || 1) !== replicas) {
    await setReplicas(jsm, want.name, have.num_replicas || 1, replicas);
  }
}

async function ensureStream(jsm: JetStreamManager, want: StreamSettings): Promise<void> {
  const existing = await findStream(jsm, want.name);
  if (existing) return verifyStream(jsm, want, existing);
  try {
    // A copy: the client writes into the config it is given.
    await jsm.streams.add({ ...want, subjects: [...want.subjects] });
  } catch (err) {
    // Another creator may have won the race between our info and add: verify theirs.
    const raced = await findStream(jsm, want.name);
    if (!raced && (want.num_replicas ?? 1) > 1) {
      throw new StreamConfigError(
        `stream ${want.name} cannot be created with ${want.num_replicas} replicas ` +
          `(${(err as Error).message}): NATS_STREAM_REPLICAS needs a JetStream cluster of at least that many servers`,
        { cause: err },
      );
    }
    if (!raced) throw err;
    await verifyStream(jsm, want, raced);
  }
}

export interface EnsureOptions {
  /** NATS_STREAM_REPLICAS: 1 for one server, 3 on a production cluster. */
  replicas?: number;
}

/**
 * Create the named streams, or verify existing ones: a wrong retention is refused, a smaller
 * duplicate window is raised to ours, a different replica count is changed to ours (refused
 * with a StreamConfigError when the server cannot), anything else is left alone.
 */
export async function ensureStreams(
  jsm: JetStreamManager,
  names: readonly StreamName[] = ALL_STREAMS,
  options: EnsureOptions = {},
): Promise<void> {
  const num_replicas = options.replicas ?? 1;
  for (const name of names) await ensureStream(jsm, { ...STREAMS[name], num_replicas });
}
