/**
 * Job deadlines: a stale copy of a provision (its deadline passed before it started) must not
 * create an instance nobody waits for, and must not report a failure that would end the
 * operation its newer copy completes. Removals run whatever their deadline.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from 'nats';
import { createLogger } from '../../shared/src/logger.js';
import {
  ResultSchema,
  decodeMessage,
  encodeMessage,
  type Job,
  type Result,
} from '../../shared/src/messages.js';
import { jobSubject, resultSubject } from '../../shared/src/subjects.js';
import { createAgent, isExpired, type Agent } from '../../region-agent/src/agent/agent.js';
import { createLocalDriver } from '../../region-agent/src/drivers/local/driver.js';
import { createPrivateCa } from '../../region-agent/src/tls/private-ca.js';
import { startTestNats, type TestNats } from '../support/nats.js';
import { killRecorded, makeJob, recordedPids, redisEngines } from './support.js';

const REGION = 'us-east';
const dataDir = mkdtempSync(join(tmpdir(), 'ra-deadline-'));
const logLines: string[] = [];
const log = createLogger({
  name: 'deadline-test',
  level: 'debug',
  destination: { write: (line: string) => void logLines.push(line) },
});
let server: TestNats;
let nc: NatsConnection;
let agent: Agent;
const past = (): string => new Date(Date.now() - 5 * 60_000).toISOString();

beforeAll(async () => {
  server = await startTestNats();
  nc = await connect({ servers: server.url });
  const issuer = createPrivateCa({ dir: join(dataDir, 'ca'), region: REGION });
  const driver = createLocalDriver({
    dataDir,
    hostname: 'localhost',
    issuer,
    engines: redisEngines(),
    log,
  });
  agent = createAgent({
    nc,
    region: REGION,
    agentId: 'deadline-agent',
    driver,
    log,
    concurrency: 4,
    maxDeliver: 3,
    heartbeatMs: 60_000,
    inventoryMs: 60_000,
  });
  await agent.start();
});
afterAll(async () => {
  await agent.stop();
  await nc.close();
  await server.stop();
  killRecorded(dataDir);
  rmSync(dataDir, { recursive: true, force: true });
});

function collect(uuid: string): Result[] {
  const all: Result[] = [];
  const sub = nc.subscribe(resultSubject(REGION, uuid));
  void (async () => {
    for await (const m of sub) all.push(decodeMessage(ResultSchema, m.data));
  })();
  return all;
}

async function send(job: Job, msgID: string): Promise<void> {
  await nc.jetstream().publish(jobSubject(REGION, job.kind), encodeMessage(job), { msgID });
}

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('job deadlines', () => {
  it('treats only creating kinds as expiring, with a grace for clock skew', () => {
    const at = Date.parse('2026-01-01T00:00:00Z');
    const job = (kind: Job['kind'], deadline: string): Job =>
      makeJob(kind, randomUUID(), { deadline });
    expect(isExpired(job('provision', '2026-01-01T00:00:00Z'), at + 29_000)).toBe(false);
    expect(isExpired(job('provision', '2026-01-01T00:00:00Z'), at + 31_000)).toBe(true);
    expect(isExpired(job('rotate_credentials', '2026-01-01T00:00:00Z'), at + 31_000)).toBe(true);
    expect(isExpired(job('deprovision', '2026-01-01T00:00:00Z'), at + 3_600_000)).toBe(false);
    expect(isExpired(job('revoke_credentials', '2026-01-01T00:00:00Z'), at + 3_600_000)).toBe(
      false,
    );
  });

  it('skips a stale provision without a result, and the re-sent copy completes the operation', async () => {
    const uuid = randomUUID();
    const results = collect(uuid);
    const stale = makeJob('provision', uuid, { deadline: past() });
    await send(stale, stale.operationId);
    await until(
      () => logLines.some((l) => l.includes(stale.operationId) && l.includes('job skipped')),
      'the skip to be logged',
    );
    expect(recordedPids(join(dataDir, 'instances', uuid))).toEqual([]);
    expect(results).toEqual([]);
    // The control plane's redispatch: same operation, new deadline, new msgID.
    const fresh = { ...stale, deadline: new Date(Date.now() + 60_000).toISOString() };
    await send(fresh, `${stale.operationId}:2`);
    await until(() => results.some((r) => r.status === 'succeeded'), 'the re-sent copy to succeed');
    expect(
      results.filter((r) => r.status !== 'progress').map((r) => [r.operationId, r.status]),
    ).toEqual([[stale.operationId, 'succeeded']]);
    expect(recordedPids(join(dataDir, 'instances', uuid))).toHaveLength(1);
    // Nothing left pending or unacked for the skipped copy.
    const info = await (await nc.jetstreamManager()).consumers.info('JOBS', `agent-${REGION}`);
    expect([info.num_pending, info.num_ack_pending]).toEqual([0, 0]);
  });

  it('runs a deprovision whatever its deadline', async () => {
    const uuid = randomUUID();
    const results = collect(uuid);
    const provision = makeJob('provision', uuid);
    await send(provision, provision.operationId);
    await until(() => results.some((r) => r.status === 'succeeded'), 'the provision');
    const late = makeJob('deprovision', uuid, { generation: 2, deadline: past() });
    await send(late, late.operationId);
    await until(
      () => results.some((r) => r.operationId === late.operationId && r.status === 'succeeded'),
      'the late deprovision',
    );
    expect(recordedPids(join(dataDir, 'instances', uuid))).toEqual([]);
  });
});
