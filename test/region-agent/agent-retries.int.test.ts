/**
 * Delivery semantics of the agent loop with a scripted driver: nak with backoff, the last
 * attempt reported as failed, per-resource FIFO, bounded concurrency, graceful stop.
 */
import { randomUUID } from 'node:crypto';
import { connect, type JetStreamClient, type NatsConnection } from 'nats';
import { createLogger } from '../../shared/src/logger.js';
import {
  ResultSchema,
  decodeMessage,
  encodeMessage,
  type Job,
  type Result,
} from '../../shared/src/messages.js';
import { JOBS_STREAM, jobSubject, jobsConsumerName } from '../../shared/src/subjects.js';
import { createAgent, type Agent } from '../../region-agent/src/agent/agent.js';
import type { Driver, InstanceOutcome } from '../../region-agent/src/driver.js';
import { startTestNats, type TestNats } from '../support/nats.js';
import { makeJob } from './support.js';

const REGION = 'eu-west';
const log = createLogger({ name: 'agent-retries-test', level: 'silent' });
let server: TestNats;
let nc: NatsConnection;
let js: JetStreamClient;
let agent: Agent;
const results: Result[] = [];

/** Per-uuid scripts: how many attempts fail before success, and how long each takes. */
const failuresLeft = new Map<string, number>();
const calls: Array<{ uuid: string; event: 'start' | 'end' | 'maintain' }> = [];
const known = new Set<string>();
let running = 0;
let maxRunning = 0;

const outcome: InstanceOutcome = {
  config: { MYREDIS_URL: 'rediss://u:p@h:1' },
  endpoint: { host: 'h', port: 1 },
};

async function scripted(job: Job): Promise<InstanceOutcome> {
  known.add(job.resource.uuid);
  calls.push({ uuid: job.resource.uuid, event: 'start' });
  maxRunning = Math.max(maxRunning, ++running);
  try {
    await new Promise((r) => setTimeout(r, 100));
    const left = failuresLeft.get(job.resource.uuid) ?? 0;
    if (left > 0) {
      failuresLeft.set(job.resource.uuid, left - 1);
      throw new Error('transient failure');
    }
    return outcome;
  } finally {
    running--;
    calls.push({ uuid: job.resource.uuid, event: 'end' });
  }
}

const driver: Driver = {
  name: 'scripted',
  adopt: async () => {},
  provision: scripted,
  changePlan: scripted,
  deprovision: async (job) => {
    await scripted(job);
  },
  rotateCredentials: scripted,
  revokeCredentials: scripted,
  repair: scripted,
  inventory: async () =>
    [...known].map((uuid) => ({ uuid, generation: 1, plan: 'mini', ready: true })),
  maintain: async (uuid) => {
    calls.push({ uuid, event: 'maintain' });
  },
};

async function finalFor(operationId: string): Promise<Result> {
  for (let i = 0; i < 200; i++) {
    const found = results.find((r) => r.operationId === operationId && r.status !== 'progress');
    if (found) return found;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no final result for ${operationId}`);
}

async function send(job: Job): Promise<void> {
  await js.publish(
    jobSubject(REGION, job.kind),
    encodeMessage({ ...job, resource: { ...job.resource, agentRegion: REGION } }),
    {
      msgID: job.operationId,
    },
  );
}

beforeAll(async () => {
  server = await startTestNats();
  nc = await connect({ servers: server.url });
  js = nc.jetstream();
  nc.subscribe(`results.${REGION}.>`, {
    callback: (_e, m) => results.push(decodeMessage(ResultSchema, m.data)),
  });
  agent = createAgent({
    nc,
    region: REGION,
    agentId: 'a',
    driver,
    log,
    concurrency: 2,
    maxDeliver: 3,
    heartbeatMs: 60_000,
    inventoryMs: 60_000,
    backoffMs: () => 50,
  });
  await agent.start();
});

afterAll(async () => {
  await agent.stop();
  await nc.drain();
  await server.stop();
});

describe('agent delivery semantics', () => {
  it('retries a transient failure and succeeds', async () => {
    const job = makeJob('provision', randomUUID(), { region: REGION });
    failuresLeft.set(job.resource.uuid, 1);
    await send(job);
    const result = await finalFor(job.operationId);
    expect(result.status).toBe('succeeded');
    expect(calls.filter((c) => c.uuid === job.resource.uuid && c.event === 'start')).toHaveLength(
      2,
    );
  });

  it('reports failed, not retryable, on the last delivery and terminates', async () => {
    const job = makeJob('provision', randomUUID(), { region: REGION });
    failuresLeft.set(job.resource.uuid, 10);
    await send(job);
    const result = await finalFor(job.operationId);
    expect(result).toMatchObject({
      status: 'failed',
      error: { code: 'agent_error', message: 'transient failure', retryable: false },
    });
    expect(calls.filter((c) => c.uuid === job.resource.uuid && c.event === 'start')).toHaveLength(
      3,
    );
    const jsm = await nc.jetstreamManager();
    const info = await jsm.consumers.info(JOBS_STREAM, jobsConsumerName(REGION));
    expect(info.num_ack_pending).toBe(0);
    expect(info.num_pending).toBe(0);
  });

  it('runs one operation per resource at a time, within the concurrency bound', async () => {
    const uuid = randomUUID();
    const jobs = [1, 2, 3].map((generation) =>
      makeJob('change_plan', uuid, { region: REGION, generation }),
    );
    const others = [randomUUID(), randomUUID()].map((u) =>
      makeJob('provision', u, { region: REGION }),
    );
    maxRunning = 0;
    for (const job of [...jobs, ...others]) await send(job);
    for (const job of [...jobs, ...others])
      expect((await finalFor(job.operationId)).status).toBe('succeeded');
    const mine = calls.filter((c) => c.uuid === uuid).map((c) => c.event);
    expect(mine).toEqual(['start', 'end', 'start', 'end', 'start', 'end']);
    const order = results
      .filter((r) => r.uuid === uuid && r.status === 'succeeded')
      .map((r) => r.generation);
    expect(order).toEqual([1, 2, 3]);
    expect(maxRunning).toBeLessThanOrEqual(2);
  });

  it('runs upkeep for every instance, never while a job for it runs', async () => {
    const uuid = randomUUID();
    const job = makeJob('change_plan', uuid, { region: REGION });
    known.add(uuid);
    const slow = send(job);
    await slow;
    // Wait until the job has started, then ask for upkeep: it must queue behind the job.
    for (let i = 0; i < 100 && !calls.some((c) => c.uuid === uuid && c.event === 'start'); i++)
      await new Promise((r) => setTimeout(r, 10));
    const count = await agent.upkeep();
    expect(count).toBe(known.size);
    expect(calls.filter((c) => c.uuid === uuid).map((c) => c.event)).toEqual([
      'start',
      'end',
      'maintain',
    ]);
    expect((await finalFor(job.operationId)).status).toBe('succeeded');
  });
});
