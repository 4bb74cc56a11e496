/** One definition of the streams: whichever side starts first, the streams come out the same. */
import {
  connect,
  nanos,
  RetentionPolicy,
  StorageType,
  type JetStreamManager,
  type NatsConnection,
  type StreamConfig,
} from 'nats';
import { ensureAgentStreams } from '../../region-agent/src/agent/streams.js';
import { ensureStreams, StreamConfigError } from '../../shared/src/streams.js';
import {
  JOBS_STREAM,
  JOBS_SUBJECTS,
  RESULTS_STREAM,
  RESULTS_SUBJECTS,
} from '../../shared/src/subjects.js';
import { startTestNats, type TestNats } from '../support/nats.js';

const ensureControlPlaneStreams = (jsm: JetStreamManager): Promise<void> => ensureStreams(jsm);

let nats: TestNats;
let nc: NatsConnection;
let jsm: JetStreamManager;
beforeAll(async () => {
  nats = await startTestNats();
  nc = await connect({ servers: nats.url });
  jsm = await nc.jetstreamManager();
});
afterAll(async () => {
  await nc.drain();
  await nats.stop();
});
beforeEach(async () => {
  for (const name of await jsm.streams.names().next()) await jsm.streams.delete(name);
});

async function configs(): Promise<Record<string, StreamConfig>> {
  const out: Record<string, StreamConfig> = {};
  for (const info of await jsm.streams.list().next()) out[info.config.name] = info.config;
  return out;
}

it('agent first or control plane first, the streams come out the same', async () => {
  await ensureAgentStreams(jsm);
  await ensureControlPlaneStreams(jsm);
  const agentFirst = await configs();
  for (const name of await jsm.streams.names().next()) await jsm.streams.delete(name);

  await ensureControlPlaneStreams(jsm);
  await ensureAgentStreams(jsm);
  const controlPlaneFirst = await configs();

  expect(agentFirst).toEqual(controlPlaneFirst);
  expect(Object.keys(agentFirst).sort()).toEqual(['AGENTS', 'JOBS', 'RESULTS']);
  expect(agentFirst[JOBS_STREAM]).toMatchObject({
    retention: RetentionPolicy.Workqueue,
    duplicate_window: nanos(10 * 60_000),
  });
  expect(agentFirst[RESULTS_STREAM]).toMatchObject({
    retention: RetentionPolicy.Limits,
    duplicate_window: nanos(10 * 60_000),
    max_age: nanos(7 * 24 * 3600_000),
  });
});

it('both sides starting at once converge without an error', async () => {
  const other = await connect({ servers: nats.url });
  try {
    await Promise.all([
      ensureAgentStreams(await other.jetstreamManager()),
      ensureControlPlaneStreams(jsm),
    ]);
  } finally {
    await other.drain();
  }
  expect(Object.keys(await configs()).sort()).toEqual(['AGENTS', 'JOBS', 'RESULTS']);
});

it('raises a smaller duplicate window and leaves the other settings alone', async () => {
  await jsm.streams.add({
    name: JOBS_STREAM,
    subjects: [JOBS_SUBJECTS],
    retention: RetentionPolicy.Workqueue,
    storage: StorageType.File,
    duplicate_window: nanos(2 * 60_000),
  });
  await jsm.streams.add({
    name: RESULTS_STREAM,
    subjects: [RESULTS_SUBJECTS],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    duplicate_window: nanos(20 * 60_000),
    max_age: nanos(24 * 3600_000),
  });

  await ensureAgentStreams(jsm);

  const after = await configs();
  expect(after[JOBS_STREAM]!.duplicate_window).toBe(nanos(10 * 60_000));
  expect(after[RESULTS_STREAM]).toMatchObject({
    duplicate_window: nanos(20 * 60_000),
    max_age: nanos(24 * 3600_000),
  });
});

it('refuses a stream with the wrong retention, saying which and why', async () => {
  await jsm.streams.add({
    name: JOBS_STREAM,
    subjects: [JOBS_SUBJECTS],
    retention: RetentionPolicy.Limits,
  });

  const err = await ensureControlPlaneStreams(jsm).catch((e: unknown) => e);

  expect(err).toBeInstanceOf(StreamConfigError);
  expect((err as Error).message).toMatch(
    /stream JOBS exists with retention "limits" but must have "workqueue"/,
  );
  expect((await jsm.streams.info(JOBS_STREAM)).config.retention).toBe(RetentionPolicy.Limits);
});

it('refuses a replica count one server cannot hold, new stream or existing, saying what to fix', async () => {
  const create = await ensureStreams(jsm, undefined, { replicas: 3 }).catch((e: unknown) => e);
  expect(create).toBeInstanceOf(StreamConfigError);
  expect((create as Error).message).toMatch(
    /stream JOBS cannot be created with 3 replicas .*NATS_STREAM_REPLICAS needs a JetStream cluster/,
  );

  await ensureControlPlaneStreams(jsm);
  const update = await ensureStreams(jsm, undefined, { replicas: 3 }).catch((e: unknown) => e);
  expect(update).toBeInstanceOf(StreamConfigError);
  expect((update as Error).message).toMatch(
    /stream JOBS has 1 replica\(s\) and NATS_STREAM_REPLICAS asks for 3, but the server (refused|is not clustered)/,
  );
  expect((await jsm.streams.info(JOBS_STREAM)).config.num_replicas).toBe(1);
});
