/**
 * The agent end to end: real nats-server with JetStream, real TLS redis-server processes.
 * Jobs go in on jobs.<region>.<kind>, results come back on results.<region>.<uuid>.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { connect, type JetStreamClient, type NatsConnection } from 'nats';
import { createLogger } from '../../shared/src/logger.js';
import { isPortOpen } from '../../shared/src/ports.js';
import {
  JobSchema,
  ResultSchema,
  decodeMessage,
  encodeMessage,
  type Job,
  type Result,
} from '../../shared/src/messages.js';
import {
  jobSubject,
  resultSubject,
  heartbeatSubject,
  inventoryRequestSubject,
} from '../../shared/src/subjects.js';
import { HeartbeatSchema, InventorySchema } from '../../shared/src/messages.js';
import { createAgent, type Agent } from '../../region-agent/src/agent/agent.js';
import { createLocalDriver } from '../../region-agent/src/drivers/local/driver.js';
import { createPrivateCa } from '../../region-agent/src/tls/private-ca.js';
import { startTestNats, type TestNats } from '../support/nats.js';
import { createAgentMetrics } from '../../region-agent/src/metrics.js';
import { killRecorded, makeJob, processExists, recordedPids, redisEngines } from './support.js';

const REGION = 'us-east';
const dataDir = mkdtempSync(join(tmpdir(), 'ra-agent-int-'));
const logLines: string[] = [];
const log = createLogger({
  name: 'agent-test',
  level: 'debug',
  destination: { write: (line: string) => void logLines.push(line) },
});
let server: TestNats;
let nc: NatsConnection;
let js: JetStreamClient;
let agent: Agent;
const metrics = createAgentMetrics();

/** agent_jobs_total of one kind and result. */
async function jobsCounted(kind: string, result: string): Promise<number> {
  const { values } = await metrics.registry.getSingleMetric('agent_jobs_total')!.get();
  return values.find((v) => v.labels.kind === kind && v.labels.result === result)?.value ?? 0;
}

function startAgent(): Agent {
  const issuer = createPrivateCa({ dir: join(dataDir, 'ca'), region: REGION });
  const driver = createLocalDriver({
    dataDir,
    hostname: 'localhost',
    issuer,
    engines: redisEngines(),
    log,
  });
  return createAgent({
    nc,
    region: REGION,
    agentId: 'test-agent',
    driver,
    log,
    metrics,
    concurrency: 4,
    maxDeliver: 2,
    heartbeatMs: 200,
    inventoryMs: 60_000,
    backoffMs: () => 100,
  });
}

/** Collects every result for a resource from now on. */
function watchResults(uuid: string): {
  all: Result[];
  final: (operationId: string) => Promise<Result>;
} {
  const all: Result[] = [];
  const sub = nc.subscribe(resultSubject(REGION, uuid));
  void (async () => {
    for await (const m of sub) all.push(decodeMessage(ResultSchema, m.data));
  })();
  return {
    all,
    final: async (operationId) => {
      for (let i = 0; i < 600; i++) {
        const found = all.find((r) => r.operationId === operationId && r.status !== 'progress');
        if (found) return found;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`no final result for ${operationId}`);
    },
  };
}

async function send(job: Job, msgID = job.operationId): Promise<void> {
  JobSchema.parse(job);
  await js.publish(jobSubject(REGION, job.kind), encodeMessage(job), { msgID });
}

async function redisFor(result: Result): Promise<Redis> {
  const config = result.config ?? {};
  const client = new Redis(config.MYREDIS_URL ?? '', {
    tls: { ca: config.MYREDIS_TLS_CA ?? '', servername: 'localhost' },
    lazyConnect: true,
    maxRetriesPerRequest: 0,
  });
  await client.connect();
  return client;
}

beforeAll(async () => {
  server = await startTestNats();
  nc = await connect({ servers: server.url });
  js = nc.jetstream();
  agent = startAgent();
  await agent.start();
});

afterAll(async () => {
  await agent.stop();
  await nc.drain();
  await server.stop();
  killRecorded(dataDir);
  rmSync(dataDir, { recursive: true, force: true });
});

describe('region agent with the local driver', () => {
  const uuid = randomUUID();
  const results = (): ReturnType<typeof watchResults> => watcher;
  let watcher: ReturnType<typeof watchResults>;
  let provisionResult: Result;

  it('heartbeats and answers inventory requests', async () => {
    const hb = await new Promise<unknown>((resolve) => {
      const sub = nc.subscribe(heartbeatSubject(REGION), {
        max: 1,
        callback: (_e, m) => resolve(decodeMessage(HeartbeatSchema, m.data)),
      });
      void sub;
    });
    expect(hb).toMatchObject({ agentRegion: REGION, agentId: 'test-agent', driver: 'local' });
    const reply = await nc.request(inventoryRequestSubject(REGION), new Uint8Array(), {
      timeout: 5_000,
    });
    expect(decodeMessage(InventorySchema, reply.data).instances).toEqual([]);
  });

  it('provisions a TLS redis and reports its config after progress', async () => {
    watcher = watchResults(uuid);
    const job = makeJob('provision', uuid);
    await send(job);
    provisionResult = await results().final(job.operationId);
    expect(provisionResult).toMatchObject({
      status: 'succeeded',
      uuid,
      generation: 1,
      kind: 'provision',
      agentRegion: REGION,
    });
    expect(provisionResult.endpoint?.host).toBe('localhost');
    expect(provisionResult.certificate?.fingerprint).toMatch(/^[0-9A-F:]+$/);
    expect(
      results()
        .all.filter((r) => r.status === 'progress')
        .map((r) => r.step),
    ).toContain('issuing certificate');
    const client = await redisFor(provisionResult);
    await client.set('greeting', 'hello');
    expect(await client.get('greeting')).toBe('hello');
    client.disconnect();
  });

  it('answers a redelivered or duplicate provision with the same instance', async () => {
    const [pid] = recordedPids(dataDir);
    const again = makeJob('provision', uuid);
    await send(again);
    const second = await results().final(again.operationId);
    expect(second.config).toEqual(provisionResult.config);
    expect(recordedPids(dataDir)).toEqual([pid]);
  });

  it('changes the plan live and keeps the data', async () => {
    const job = makeJob('change_plan', uuid, { generation: 2, memoryMb: 64, plan: 'big' });
    await send(job);
    const result = await results().final(job.operationId);
    expect(result.status).toBe('succeeded');
    const client = await redisFor(result);
    expect(await client.get('greeting')).toBe('hello');
    expect(await client.config('GET', 'maxmemory')).toEqual([
      'maxmemory',
      String(64 * 1024 * 1024),
    ]);
    client.disconnect();
  });

  it('refuses a plan change older than the instance: reported superseded, counted apart from failures', async () => {
    const failedBefore = await jobsCounted('change_plan', 'failed');
    const late = makeJob('change_plan', uuid, { generation: 1, memoryMb: 48, plan: 'small' });
    await send(late);
    const result = await results().final(late.operationId);
    expect(result).toMatchObject({
      status: 'failed',
      error: { code: 'superseded', retryable: false },
    });
    expect(await jobsCounted('change_plan', 'superseded')).toBe(1);
    expect(await jobsCounted('change_plan', 'failed')).toBe(failedBefore);
    const client = await redisFor(provisionResult);
    expect(await client.config('GET', 'maxmemory')).toEqual([
      'maxmemory',
      String(64 * 1024 * 1024),
    ]);
    client.disconnect();
  });

  it('reports a failed, non-retryable result for an unknown instance and terminates the job', async () => {
    const other = randomUUID();
    const w = watchResults(other);
    const job = makeJob('change_plan', other, { generation: 2 });
    await send(job);
    const result = await w.final(job.operationId);
    expect(result).toMatchObject({
      status: 'failed',
      error: { code: 'instance_not_found', retryable: false },
    });
  });

  it('refuses a job for an engine it does not run: failed at once, not retryable, nothing made', async () => {
    const other = randomUUID();
    const w = watchResults(other);
    const job = makeJob('provision', other, { engine: 'memcached' });
    await send(job);
    const result = await w.final(job.operationId);
    expect(result).toMatchObject({
      status: 'failed',
      error: { code: 'unknown_engine', retryable: false },
    });
    expect(result.error?.message).toMatch(/"memcached".*redis/);
    // Refused before any work: no progress reported, no instance directory.
    expect(w.all.filter((r) => r.status === 'progress')).toEqual([]);
    expect(existsSync(join(dataDir, 'instances', other))).toBe(false);
  });

  it('refuses a job of a newer message version with a failed result that says why', async () => {
    const other = randomUUID();
    const w = watchResults(other);
    const job = { ...makeJob('provision', other), version: 2, newField: 'from a newer release' };
    await js.publish(
      jobSubject(REGION, 'provision'),
      new TextEncoder().encode(JSON.stringify(job)),
      {
        msgID: job.operationId,
      },
    );
    const result = await w.final(job.operationId);
    expect(result).toMatchObject({
      operationId: job.operationId,
      kind: 'provision',
      generation: job.generation,
      status: 'failed',
      error: { code: 'unsupported_job', retryable: false },
    });
    expect(result.error?.message).toMatch(/message version 1\b.*message version 2.*upgrade/);
    expect(existsSync(join(dataDir, 'instances', other))).toBe(false);
  });

  it('terminates unparseable jobs without stopping the loop', async () => {
    await js.publish(jobSubject(REGION, 'provision'), new TextEncoder().encode('{"nope":1}'), {
      msgID: randomUUID(),
    });
    const job = makeJob('provision', uuid);
    await send(job);
    expect((await results().final(job.operationId)).status).toBe('succeeded');
  });

  it('re-adopts the running instance after an agent restart, data intact', async () => {
    const [pid] = recordedPids(dataDir);
    await agent.stop();
    agent = startAgent();
    await agent.start();
    const job = makeJob('provision', uuid);
    await send(job);
    const result = await results().final(job.operationId);
    expect(result.config).toEqual(provisionResult.config);
    expect(recordedPids(dataDir)).toEqual([pid]);
    const client = await redisFor(result);
    expect(await client.get('greeting')).toBe('hello');
    client.disconnect();
  });

  it('never logs instance credentials', () => {
    const url = new URL(provisionResult.config?.MYREDIS_URL ?? '');
    expect(url.password.length).toBeGreaterThan(10);
    const text = logLines.join('');
    expect(text).toContain('job succeeded');
    expect(text).not.toContain(decodeURIComponent(url.password));
    expect(text).not.toContain('rediss://');
  });

  it('deprovisions: no process left and the port closed', async () => {
    const [pid] = recordedPids(dataDir);
    const job = makeJob('deprovision', uuid, { generation: 3 });
    await send(job);
    const result = await results().final(job.operationId);
    expect(result.status).toBe('succeeded');
    expect(processExists(pid ?? 0)).toBe(false);
    expect(await isPortOpen(provisionResult.endpoint?.port ?? 0)).toBe(false);
    expect(recordedPids(dataDir)).toEqual([]);
  });
});
