/**
 * The real agent process SIGKILLed in the middle of a provision, then restarted: the job is
 * redelivered (after AGENT_ACK_WAIT_MS) and answered from what is on disk. Afterwards there is
 * exactly one redis-server for the instance (the recorded pid), exactly one `succeeded`
 * result stored for the operation, and the URL answers over verified TLS. Duplicate jobs
 * JetStream does not dedupe, and redeliveries, never create a second instance.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import {
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { connect, type JetStreamClient, type JetStreamManager, type NatsConnection } from 'nats';
import { isPortOpen, waitFor } from '../../shared/src/ports.js';
import {
  ResultSchema,
  decodeMessage,
  encodeMessage,
  type Job,
  type Result,
} from '../../shared/src/messages.js';
import {
  JOBS_STREAM,
  RESULTS_STREAM,
  jobSubject,
  jobsConsumerName,
  resultSubject,
} from '../../shared/src/subjects.js';
import { withRedis } from '../../region-agent/src/engines/redis/client.js';
import { startTestNats, type TestNats } from '../support/nats.js';
import { killRecorded, makeJob } from './support.js';

const REGION = 'us-east';
const ACK_WAIT_MS = 3_000;
// Starting the agent through tsx takes seconds on a busy machine.
const START_TIMEOUT_MS = 90_000;
const SETTLE_TIMEOUT_MS = 90_000;
const STEP_TIMEOUT_MS = 60_000;
const TEST_TIMEOUT_MS = 300_000;

const dataDir = realpathSync(mkdtempSync(join(tmpdir(), 'ra-crash-')));
const instancesDir = join(dataDir, REGION, 'instances');
let server: TestNats;
let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;

interface AgentProcess {
  child: ChildProcess;
  lines: string[];
  exited: Promise<void>;
}
const started: AgentProcess[] = [];
let agent: AgentProcess;

function isRunning(p: AgentProcess): boolean {
  return p.child.exitCode === null && p.child.signalCode === null;
}

/** `node --import tsx` keeps the agent one process, so SIGKILL reaches the agent itself. */
async function startAgent(): Promise<AgentProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'region-agent/src/main.ts'], {
    env: {
      ...process.env,
      AGENT_REGION: REGION,
      AGENT_ID: `crash-test-${started.length}`,
      AGENT_DRIVER: 'local',
      NATS_URL: server.url,
      AGENT_DATA_DIR: dataDir,
      AGENT_ACK_WAIT_MS: String(ACK_WAIT_MS),
      HEALTH_PORT: '0',
      LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const p: AgentProcess = {
    child,
    lines: [],
    exited: new Promise((resolve) => child.once('exit', () => resolve())),
  };
  createInterface({ input: child.stdout! }).on('line', (line) => p.lines.push(line));
  createInterface({ input: child.stderr! }).on('line', (line) => p.lines.push(line));
  started.push(p);
  await waitFor(
    () => {
      if (!isRunning(p)) throw new Error(`agent exited:\n${p.lines.join('\n')}`);
      return logged(p, 'agent started').length > 0;
    },
    'agent started',
    START_TIMEOUT_MS,
    100,
  ).catch((err: unknown) => {
    throw new Error(`${(err as Error).message}\n${p.lines.join('\n')}`);
  });
  return p;
}

function logged(p: AgentProcess, msg: string): Array<Record<string, unknown>> {
  return p.lines
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((entry) => entry.msg === msg);
}

async function kill(p: AgentProcess): Promise<void> {
  if (isRunning(p)) p.child.kill('SIGKILL');
  await p.exited;
}

/** SIGKILLs the agent from the result subscription's callback the moment `step` is reported. */
async function killAtStep(uuid: string, step: string): Promise<{ killed: Promise<void> }> {
  const victim = agent;
  let reached!: () => void;
  const done = new Promise<void>((resolve) => (reached = resolve));
  const sub = nc.subscribe(resultSubject(REGION, uuid), {
    callback: (_err, m) => {
      const r = decodeMessage(ResultSchema, m.data);
      if (r.status !== 'progress' || r.step !== step) return;
      victim.child.kill('SIGKILL');
      sub.unsubscribe();
      reached();
    },
  });
  await nc.flush();
  const timeout = new Promise<never>((_resolve, reject) => {
    setTimeout(
      () => reject(new Error(`no progress step "${step}" for ${uuid}`)),
      STEP_TIMEOUT_MS,
    ).unref();
  });
  // Wrapped: an async function returning the bare promise would wait for the kill itself.
  return { killed: Promise.race([done, timeout]).then(() => victim.exited) };
}

/** Every result published for the uuid from now on, as subscribers see them (not deduped). */
function observe(uuid: string): Result[] {
  const seen: Result[] = [];
  nc.subscribe(resultSubject(REGION, uuid), {
    callback: (_err, m) => seen.push(decodeMessage(ResultSchema, m.data)),
  });
  return seen;
}

async function publish(job: Job, msgID: string): Promise<void> {
  await js.publish(jobSubject(REGION, job.kind), encodeMessage(job), { msgID });
}

/** Every result the RESULTS stream stored for the uuid (JetStream dedupe applied). */
async function storedResults(uuid: string): Promise<Result[]> {
  const subject = resultSubject(REGION, uuid);
  const info = await jsm.streams.info(RESULTS_STREAM, { subjects_filter: subject });
  const count = info.state.subjects?.[subject] ?? 0;
  if (count === 0) return [];
  // One subject as a string: filter_subjects (a list) needs nats-server 2.10.
  const consumer = await js.consumers.get(RESULTS_STREAM, { filterSubjects: subject });
  const out: Result[] = [];
  for await (const m of await consumer.fetch({ max_messages: count, expires: 10_000 })) {
    out.push(decodeMessage(ResultSchema, m.data));
  }
  expect(out).toHaveLength(count);
  return out;
}

const finals = (results: Result[], operationId: string): Result[] =>
  results.filter((r) => r.operationId === operationId && r.status !== 'progress');

/** Waits until every job was acked (or terminated): nothing pending, nothing in flight. */
async function settled(): Promise<void> {
  await waitFor(
    async () => {
      const info = await jsm.consumers.info(JOBS_STREAM, jobsConsumerName(REGION));
      return info.num_pending === 0 && info.num_ack_pending === 0;
    },
    'jobs consumer settled',
    SETTLE_TIMEOUT_MS,
    200,
  );
}

/** Live redis-server processes working in a directory (redis chdirs to its `dir`). */
function redisProcessesIn(dir: string, prefix = false): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (!readFileSync(`/proc/${name}/cmdline`, 'utf8').includes('redis-server')) continue;
      const cwd = readlinkSync(`/proc/${name}/cwd`);
      if (cwd === dir || (prefix && cwd.startsWith(`${dir}/`))) pids.push(Number(name));
    } catch {
      // gone meanwhile, or not ours to look at
    }
  }
  return pids;
}

const instanceDir = (uuid: string): string => join(instancesDir, uuid);
const statePath = (uuid: string): string => join(instanceDir(uuid), 'state.json');
const recordedPid = (uuid: string): number | undefined =>
  (JSON.parse(readFileSync(statePath(uuid), 'utf8')) as { pid?: number }).pid;

/** AUTH + SET/GET over TLS that verifies the CA chain and the URL's host name. */
async function expectUrlWorks(result: Result): Promise<void> {
  const url = new URL(result.config?.MYREDIS_URL ?? '');
  expect(url.protocol).toBe('rediss:');
  const target = {
    host: url.hostname,
    port: Number(url.port),
    servername: url.hostname,
    ca: result.config?.MYREDIS_TLS_CA ?? '',
  };
  const auth = {
    user: decodeURIComponent(url.username),
    password: decodeURIComponent(url.password),
  };
  const value = randomUUID();
  const reply = await withRedis({ ...target, ...auth }, async (c) => {
    await c.set('crash-test', value);
    return c.get('crash-test');
  });
  expect(reply).toBe(value);
}

/** One instance, the recorded pid, one stored success, a working URL; then a clean deprovision. */
async function expectOneHealthyInstance(uuid: string, operationId: string): Promise<Result> {
  await settled();
  const stored = await storedResults(uuid);
  const success = finals(stored, operationId);
  expect(success.map((r) => r.status)).toEqual(['succeeded']);
  expect(redisProcessesIn(instanceDir(uuid))).toEqual([recordedPid(uuid)]);
  await expectUrlWorks(success[0]!);
  return success[0]!;
}

async function deprovision(uuid: string, port: number): Promise<void> {
  const job = makeJob('deprovision', uuid, { generation: 2 });
  await publish(job, job.operationId);
  await settled();
  expect(finals(await storedResults(uuid), job.operationId).map((r) => r.status)).toEqual([
    'succeeded',
  ]);
  expect(redisProcessesIn(instanceDir(uuid))).toEqual([]);
  expect(await isPortOpen(port)).toBe(false);
}

/**
 * Provisions and kills the agent at `step`, then restarts it. An agent faster than the kill
 * (its final result already stored) makes the attempt worthless: try again with a new uuid.
 */
async function provisionAndKill(
  step: string,
  onKilled?: (uuid: string) => Promise<void>,
): Promise<{ uuid: string; job: Job }> {
  for (let attempt = 1; attempt <= 3; attempt++) {
    const uuid = randomUUID();
    const job = makeJob('provision', uuid);
    const { killed } = await killAtStep(uuid, step);
    await publish(job, job.operationId);
    await killed;
    const inTime = finals(await storedResults(uuid), job.operationId).length === 0;
    if (inTime) await onKilled?.(uuid);
    agent = await startAgent();
    if (inTime) return { uuid, job };
  }
  throw new Error(`the agent finished before the kill at "${step}" three times`);
}

beforeAll(async () => {
  server = await startTestNats();
  nc = await connect({ servers: server.url });
  js = nc.jetstream();
  jsm = await nc.jetstreamManager();
  agent = await startAgent();
}, START_TIMEOUT_MS + 30_000);

// A failed test must not leave the next one without an agent.
beforeEach(async () => {
  if (!isRunning(agent)) agent = await startAgent();
}, START_TIMEOUT_MS + 30_000);

afterAll(async () => {
  for (const p of started) await kill(p);
  killRecorded(dataDir);
  for (const pid of redisProcessesIn(dataDir, true)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await nc?.drain();
  await server?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('region agent killed in the middle of a provision', () => {
  it.each([
    ['while the certificate is issued', 'issuing certificate', false],
    ['after the certificate is written, before redis-server starts', 'starting instance', false],
    [
      'after redis-server is spawned and recorded, before it is ready or reported',
      'waiting for TLS readiness',
      true,
    ],
  ])(
    '%s: one instance, one success, a working URL',
    async (_name, step, spawned) => {
      let survivor: number[] = [];
      const { uuid, job } = await provisionAndKill(step, async (id) => {
        if (!spawned) return;
        await waitFor(
          () => redisProcessesIn(instanceDir(id)).length === 1,
          'spawned redis-server outliving the agent',
          10_000,
        );
        survivor = redisProcessesIn(instanceDir(id));
      });
      const success = await expectOneHealthyInstance(uuid, job.operationId);
      // The process that outlived the agent is adopted, not replaced.
      if (spawned) expect(redisProcessesIn(instanceDir(uuid))).toEqual(survivor);
      expect(
        logged(agent, 'job started').some(
          (e) => e.operationId === job.operationId && Number(e.attempt) >= 2,
        ),
      ).toBe(true);
      await deprovision(uuid, success.endpoint?.port ?? 0);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'between the spawn and the pid record: the orphan is adopted, not doubled',
    async () => {
      // Too narrow to hit with a signal from outside: kill just after it, then put state.json
      // back to what it held before the pid was written.
      const { uuid, job } = await provisionAndKill('waiting for TLS readiness', async (id) => {
        await waitFor(
          () => redisProcessesIn(instanceDir(id)).length === 1,
          'spawned redis-server outliving the agent',
          10_000,
        );
        const state = JSON.parse(readFileSync(statePath(id), 'utf8')) as Record<string, unknown>;
        delete state.pid;
        delete state.everReady;
        writeFileSync(statePath(id), JSON.stringify(state, null, 2));
      });
      const orphan = redisProcessesIn(instanceDir(uuid));
      const success = await expectOneHealthyInstance(uuid, job.operationId);
      expect(redisProcessesIn(instanceDir(uuid))).toEqual(orphan);
      expect(logged(agent, 'unrecorded instance process adopted').map((e) => e.resourceId)).toEqual(
        [uuid],
      );
      await deprovision(uuid, success.endpoint?.port ?? 0);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'duplicates JetStream does not dedupe and a redelivery share one instance and its credentials',
    async () => {
      const uuid = randomUUID();
      const seen = observe(uuid);
      const job = makeJob('provision', uuid);
      const { killed } = await killAtStep(uuid, 'issuing certificate');
      await publish(job, `${job.operationId}:first`);
      await killed;
      // While the agent is down: the same job again under another msgID, and a re-dispatch of
      // the provision as a new operation (what a control plane retry after a timeout sends).
      await publish(job, `${job.operationId}:second`);
      const redispatch = makeJob('provision', uuid);
      await publish(redispatch, redispatch.operationId);
      agent = await startAgent();

      const success = await expectOneHealthyInstance(uuid, job.operationId);
      const stored = await storedResults(uuid);
      expect(finals(stored, redispatch.operationId).map((r) => r.status)).toEqual(['succeeded']);
      // The killed delivery came back (attempt 2) besides the fresh copy (attempt 1).
      const starts = logged(agent, 'job started').filter((e) => e.operationId === job.operationId);
      expect(starts.map((e) => e.attempt).sort()).toEqual([1, 2]);
      const successes = seen.filter((r) => r.status === 'succeeded');
      expect(successes.length).toBeGreaterThanOrEqual(3);
      for (const r of successes) expect(r.config).toEqual(success.config);
      await deprovision(uuid, success.endpoint?.port ?? 0);
    },
    TEST_TIMEOUT_MS,
  );

  it('leaves no redis-server behind', () => {
    expect(redisProcessesIn(dataDir, true)).toEqual([]);
  });
});
