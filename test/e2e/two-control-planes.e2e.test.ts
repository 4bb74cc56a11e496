/**
 * Two full control planes on one Postgres and one nats-server, a local-driver agent process
 * (real TLS Redis) and the Heroku simulator. Heroku's requests alternate between the replicas:
 * whichever replica answers, whichever consumes the agent's result and whichever call worker
 * sends the Heroku call, every add-on gets one instance, one grant exchange and (when answered
 * 202) one provision action. A replica whose dispatcher and results consumer are gone still
 * answers within its sync budget: the other dispatches on its sweep and applies the result,
 * and the first one's waiter wakes from Postgres. The reconciler across replicas is in
 * reconcile.e2e.test.ts, NATS failover under two replicas in nats-cluster.e2e.test.ts.
 */
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { createControlPlane, type ControlPlane } from '../../control-plane/src/composition-root.js';
import { stopChild } from '../../deploy/local/postgres.js';
import { createLogger } from '../../shared/src/logger.js';
import { freePort, waitFor } from '../../shared/src/ports.js';
import type { HerokuSim, ProvisionBody } from '../heroku-sim/index.js';
import { DEV_ADDON, startStackWithSim, type TestStack } from '../support/control-plane.js';
import { killInstances, spawnLocalAgent, withTlsRedis } from '../support/local-agent.js';

let sim: HerokuSim;
let stack: TestStack;
let stopStack: () => Promise<void>;
let b: ControlPlane;
let agent: ChildProcess;
const agentLogs: string[] = [];
let dataDir: string;

beforeAll(async () => {
  ({ sim, stack, stop: stopStack } = await startStackWithSim({ SYNC_BUDGET_MS: '2000' }));
  b = await createControlPlane(stack.config, createLogger({ name: 'cp-b', level: 'silent' }));
  await b.start();
  dataDir = mkdtempSync(join(tmpdir(), 'cp-two-planes-agent-'));
  const healthPort = await freePort();
  // A short ack_wait: jobs delivered while the agent is stopped (below) come back sooner.
  agent = spawnLocalAgent(
    stack.nats.url,
    dataDir,
    { HEALTH_PORT: String(healthPort), AGENT_ACK_WAIT_MS: '5000' },
    agentLogs,
  );
  await waitFor(
    async () => (await fetch(`http://127.0.0.1:${healthPort}/readyz`)).ok,
    'agent ready',
    30_000,
    200,
  );
}, 60_000);

afterAll(async () => {
  if (agent) {
    agent.kill('SIGCONT');
    await stopChild(agent, 'SIGTERM');
  }
  await b?.stop();
  await stopStack?.();
  if (dataDir) killInstances(dataDir);
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
}, 60_000);

const urls = (): [string, string] => [stack.url, b.url()];
const instanceDir = (uuid: string): string => join(dataDir, 'eu-west', 'instances', uuid);

/** Heroku's successful exchanges of this add-on's grant code. */
const exchanges = (body: ProvisionBody): number =>
  sim.calls.filter(
    (c) =>
      c.path === '/oauth/token' &&
      c.status === 200 &&
      JSON.stringify(c.body ?? c.query).includes(body.oauth_grant.code),
  ).length;

async function connects(uuid: string): Promise<void> {
  const config = sim.addon(uuid)!.config;
  const pong = await withTlsRedis(
    config.get('TLSREDIS_URL')!,
    config.get('TLSREDIS_TLS_CA')!,
    (client) => client.ping(),
  );
  expect(pong).toBe('PONG');
}

/** Results each replica's consumer has applied. */
function applied(): [number, number] {
  return [stack.plane.results.counts().applied, b.results.counts().applied];
}

const provisioned: ProvisionBody[] = [];

it('provisions alternate between the replicas: each is answered 200, once, with config that connects', async () => {
  const bodies = Array.from({ length: 8 }, () =>
    sim.createAddon({ plan: 'standard', region: 'eu' }),
  );
  const answers = await Promise.all(
    bodies.map((body, i) => sim.provision(urls()[i % 2]!, body, DEV_ADDON)),
  );
  expect(answers.map((a) => a.status)).toEqual(bodies.map(() => 200));
  for (const body of bodies) {
    expect(sim.addon(body.uuid)!.state).toBe('provisioned');
    await connects(body.uuid);
    // The grant exchange is queued once and sent by one of the two call workers.
    await waitFor(() => exchanges(body) === 1, 'grant exchanged', 15_000, 100);
    expect(sim.provisionActionCount(body.uuid)).toBe(0);
  }
  provisioned.push(...bodies);
  expect(readdirSync(join(dataDir, 'eu-west', 'instances')).sort()).toEqual(
    bodies.map((x) => x.uuid).sort(),
  );
  // Both replicas consume results (one shared durable consumer); the counts add up.
  const [a, other] = applied();
  expect(a + other).toBeGreaterThanOrEqual(8);
});

it('ten duplicates of one provision spread over both replicas create one resource and one answer', async () => {
  const body = sim.createAddon({ plan: 'standard', region: 'eu' });
  const answers = await Promise.all(
    Array.from({ length: 10 }, (_, i) => sim.provision(urls()[i % 2]!, body, DEV_ADDON)),
  );
  expect(new Set(answers.map((a) => a.status))).toEqual(new Set([200]));
  const configs = answers.map((a) => JSON.stringify((a.body as { config: unknown }).config));
  expect(new Set(configs).size).toBe(1);
  const rows = await stack.plane.pool.query(
    "select count(*)::int as n from operations where resource_uuid = $1 and kind = 'provision'",
    [body.uuid],
  );
  expect(rows.rows[0].n).toBe(1);
  await waitFor(() => exchanges(body) === 1, 'grant exchanged once', 15_000, 100);
  provisioned.push(body);
});

it('a plan change and a deprovision are served by the replica that did not provision', async () => {
  const [first, second] = provisioned;
  // first was provisioned through A (index 0), second through B.
  expect((await sim.changePlan(b.url(), first!.uuid, 'premium', DEV_ADDON)).status).toBe(200);
  expect((await sim.changePlan(stack.url, second!.uuid, 'premium', DEV_ADDON)).status).toBe(200);
  for (const body of [first!, second!]) {
    const r = await stack.plane.pool.query('select plan from resources where uuid = $1', [
      body.uuid,
    ]);
    expect(r.rows[0].plan).toBe('premium');
    await connects(body.uuid);
  }
  const third = provisioned[2]!;
  expect((await sim.deprovision(b.url(), third.uuid, DEV_ADDON)).status).toBe(204);
  // The agent removes the instance, then its result is applied by either replica.
  const state = async (): Promise<string> =>
    (await stack.plane.pool.query('select state from resources where uuid = $1', [third.uuid]))
      .rows[0].state;
  await waitFor(async () => (await state()) === 'deprovisioned', 'deprovisioned', 15_000, 100);
  expect(existsSync(instanceDir(third.uuid))).toBe(false);
});

it('an SSO login on one replica is a session on the other, and its replay is refused there', async () => {
  const uuid = provisioned[0]!.uuid;
  const form = sim.ssoForm(uuid, {
    email: 'dev@example.com',
    userId: randomUUID(),
    salt: stack.config.addon.ssoSalt,
    timestamp: Math.floor(Date.now() / 1000),
  });
  const login = (url: string) =>
    request(url).post('/sso/login').type('form').send(form).redirects(0);
  const res = await login(stack.url);
  expect(res.status).toBe(302);
  const cookie = (res.headers['set-cookie'] as unknown as string[])[0]!.split(';')[0]!;
  expect((await request(b.url()).get(`/dashboard/${uuid}`).set('Cookie', cookie)).status).toBe(200);
  expect((await login(b.url())).status).toBe(403);
});

it('provisions answered 202 while the agent is stopped finish once each, whichever call worker sends them', async () => {
  agent.kill('SIGSTOP');
  const stoppedAt = Date.now();
  const bodies = Array.from({ length: 4 }, () =>
    sim.createAddon({ plan: 'standard', region: 'eu' }),
  );
  let answers: Array<{ status: number }>;
  try {
    answers = await Promise.all(
      bodies.map((body, i) => sim.provision(urls()[i % 2]!, body, DEV_ADDON)),
    );
    // Stopped past two of its 2 s fetch expiries: the agent says so when it wakes.
    await new Promise((r) => setTimeout(r, Math.max(0, 4500 - (Date.now() - stoppedAt))));
  } finally {
    agent.kill('SIGCONT');
  }
  expect(answers.map((a) => a.status)).toEqual(bodies.map(() => 202));
  for (const body of bodies) {
    // Jobs delivered while the agent was stopped went to a fetch nats.js closed when it woke:
    // they come back after the consumer's ack_wait (5 s here, 15 s by default).
    await waitFor(() => sim.addon(body.uuid)?.state === 'provisioned', 'provisioned', 40_000, 100);
    await connects(body.uuid);
  }
  // Nothing is left to send, and nothing was sent twice.
  await waitFor(
    async () =>
      (
        await stack.plane.pool.query(
          "select count(*)::int as n from heroku_calls where state = 'pending'",
        )
      ).rows[0].n === 0,
    'no call pending',
    15_000,
    100,
  );
  for (const body of bodies) {
    expect(sim.provisionActionCount(body.uuid)).toBe(1);
    expect(exchanges(body)).toBe(1);
  }
  const paused = agentLogs
    .join('')
    .split('\n')
    .filter((l) => l.includes('agent was paused during a fetch'))
    .map((l) => JSON.parse(l) as { pausedMs: number; redeliveryAfterMs: number });
  expect(paused.length).toBeGreaterThanOrEqual(1);
  expect(paused[0]!.pausedMs).toBeGreaterThan(2000);
  expect(paused[0]!.redeliveryAfterMs).toBe(5000);
}, 90_000);

it('a replica without its dispatcher and results consumer still answers 200: the other sweeps and applies', async () => {
  await stack.plane.dispatcher.stop();
  await stack.plane.results.stop();
  const before = applied();
  const bodies = Array.from({ length: 3 }, () =>
    sim.createAddon({ plan: 'standard', region: 'eu' }),
  );
  // Answered by A, which cannot dispatch nor read results: B's sweep (OUTBOX_SWEEP_MS 200)
  // dispatches, B applies, A's sync waiter wakes from Postgres.
  const answers = await Promise.all(
    bodies.map((body) => sim.provision(stack.url, body, DEV_ADDON)),
  );
  expect(answers.map((a) => a.status)).toEqual(bodies.map(() => 200));
  const after = applied();
  expect(after[0]).toBe(before[0]);
  expect(after[1]).toBe(before[1] + 3);
  for (const body of bodies) await connects(body.uuid);
});
