/**
 * The async completion follows every 202 and nothing else, path by path: the first answer
 * once a non-zero sync budget ran out, a slow plan change, and no completion after a 200 with
 * config. And a plan change whose first request died with its (SIGKILLed) control plane after
 * the insert, and finished before Heroku's retry, still gets its config to Heroku: the retry
 * answers 200 with it. (Crash retries answered while in flight: replay-completion.e2e.test.ts.)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import pg from 'pg';
import { freePort, waitFor } from '../../shared/src/ports.js';
import { stopChild } from '../../deploy/local/postgres.js';
import { createHerokuSim, type HerokuSim, type RecordedCall } from '../heroku-sim/index.js';
import { DEV_ADDON } from '../support/control-plane.js';
import { startFakeAgent, type FakeAgent } from '../support/fake-agent.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import { startTestNats, type TestNats } from '../support/nats.js';

// Starting the control plane through tsx takes seconds on a busy machine.
const START_TIMEOUT_MS = 90_000;
const COMPLETION_TIMEOUT_MS = 20_000;
// Long enough for a duplicate call to show up after the first one.
const SETTLE_MS = 1500;
const TEST_TIMEOUT_MS = 240_000;

interface PlaneProcess {
  child: ChildProcess;
  url: string;
  lines: string[];
  exited: Promise<void>;
}

let db: TestDatabase;
let nats: TestNats;
let sim: HerokuSim;
let client: pg.Client;
let replica: PlaneProcess;
let usAgent: FakeAgent;
const started: PlaneProcess[] = [];
const agents: FakeAgent[] = [];
/** `<uuid>:<kind>` of jobs the fake agent finishes only after the sync budget. */
const slow = new Set<string>();

beforeAll(async () => {
  db = await createTestDatabase();
  nats = await startTestNats();
  sim = await createHerokuSim();
  client = new pg.Client({ connectionString: db.url });
  await client.connect();
  replica = await startPlane(await freePort(), { SYNC_BUDGET_MS: '1000' });
  usAgent = await startFakeAgent(nats.url, {
    region: 'us-east',
    delayMs: (job) => (slow.has(`${job.resource.uuid}:${job.kind}`) ? 2500 : 50),
  });
  agents.push(usAgent);
}, START_TIMEOUT_MS + 30_000);

afterAll(async () => {
  await Promise.all(agents.map((a) => a.stop()));
  for (const p of started) await stopPlane(p);
  await client?.end();
  await sim?.close();
  await nats?.stop();
  await db?.drop();
}, 60_000);

function isRunning(p: PlaneProcess): boolean {
  return p.child.exitCode === null && p.child.signalCode === null;
}

/** `node --import tsx` keeps the control plane one process, so SIGKILL reaches it. */
async function startPlane(port: number, env: Record<string, string>): Promise<PlaneProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'control-plane/src/main.ts'], {
    env: {
      ...process.env,
      DATABASE_URL: db.url,
      NATS_URL: nats.url,
      PORT: String(port),
      HOST: '127.0.0.1',
      HEROKU_API_URL: sim.url,
      HEROKU_ID_URL: sim.url,
      PRIVATE_SPACE_LOOKUP: 'assume-common-runtime',
      OUTBOX_SWEEP_MS: '100',
      LOG_LEVEL: 'warn',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const p: PlaneProcess = {
    child,
    url: `http://127.0.0.1:${port}`,
    lines: [],
    exited: new Promise((resolve) => child.once('exit', () => resolve())),
  };
  createInterface({ input: child.stdout! }).on('line', (line) => p.lines.push(line));
  createInterface({ input: child.stderr! }).on('line', (line) => p.lines.push(line));
  started.push(p);
  await waitFor(
    async () => {
      if (!isRunning(p)) throw new Error('control plane exited');
      return (await fetch(`${p.url}/readyz`)).ok;
    },
    'control plane ready',
    START_TIMEOUT_MS,
    100,
  ).catch((err: unknown) => {
    throw new Error(`${(err as Error).message}\n${p.lines.join('\n')}`);
  });
  return p;
}

async function stopPlane(p: PlaneProcess): Promise<void> {
  if (isRunning(p)) await stopChild(p.child, 'SIGTERM');
  await p.exited;
}

async function operationState(uuid: string, kind: string): Promise<string | undefined> {
  const r = await client.query<{ state: string }>(
    'select state from operations where resource_uuid = $1 and kind = $2',
    [uuid, kind],
  );
  return r.rows[0]?.state;
}

function configPatches(uuid: string): RecordedCall[] {
  return sim.calls.filter((c) => c.method === 'PATCH' && c.path === `/addons/${uuid}/config`);
}

function patchedUrl(call: RecordedCall | undefined): string | undefined {
  return (
    call?.body as { config?: Array<{ name: string; value: string }> } | undefined
  )?.config?.find((v) => v.name === 'TLSREDIS_URL')?.value;
}

/** Waits for the operation to finish and for Heroku to hear of it, then for any duplicate. */
async function settle(uuid: string, kind: string, heard: () => boolean): Promise<void> {
  await waitFor(
    async () => (await operationState(uuid, kind)) === 'succeeded',
    `${kind} succeeded`,
    COMPLETION_TIMEOUT_MS,
  );
  // Not hearing anything is the failure under test: let the assertions below say so.
  await waitFor(heard, 'the completion at Heroku', COMPLETION_TIMEOUT_MS).catch(() => undefined);
  await new Promise((r) => setTimeout(r, SETTLE_MS));
}

it(
  'a first answer of 202 after the sync budget completes once',
  async () => {
    const body = sim.createAddon({ plan: 'standard', region: 'us' });
    slow.add(`${body.uuid}:provision`);
    expect((await sim.provision(replica.url, body, DEV_ADDON)).status).toBe(202);
    await settle(body.uuid, 'provision', () => sim.provisionActionCount(body.uuid) > 0);
    expect(configPatches(body.uuid).map((c) => c.status)).toEqual([200]);
    expect(sim.provisionActionCount(body.uuid)).toBe(1);
    expect(sim.addon(body.uuid)?.state).toBe('provisioned');
  },
  TEST_TIMEOUT_MS,
);

it(
  'a 200 with config sends neither a config PATCH nor the provision action',
  async () => {
    const body = sim.createAddon({ plan: 'standard', region: 'us' });
    const res = await sim.provision(replica.url, body, DEV_ADDON);
    expect(res.status).toBe(200);
    expect(sim.addon(body.uuid)?.state).toBe('provisioned');
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    expect(configPatches(body.uuid)).toEqual([]);
    expect(sim.provisionActionCount(body.uuid)).toBe(0);
  },
  TEST_TIMEOUT_MS,
);

it(
  'a plan change answered 202 PATCHes the new config once',
  async () => {
    const body = sim.createAddon({ plan: 'standard', region: 'us' });
    expect((await sim.provision(replica.url, body, DEV_ADDON)).status).toBe(200);
    slow.add(`${body.uuid}:change_plan`);
    expect((await sim.changePlan(replica.url, body.uuid, 'premium', DEV_ADDON)).status).toBe(202);
    await settle(body.uuid, 'change_plan', () => configPatches(body.uuid).length > 0);
    const patches = configPatches(body.uuid);
    expect(patches.map((c) => c.status)).toEqual([200]);
    expect(patchedUrl(patches[0])).toContain('premium');
    expect(sim.addon(body.uuid)?.config.get('TLSREDIS_URL')).toContain('premium');
    // Plan changes have no "done" action; the add-on was provisioned by the 200.
    expect(sim.provisionActionCount(body.uuid)).toBe(0);
  },
  TEST_TIMEOUT_MS,
);

/** A provisioned frankfurt add-on whose change to premium died with its control plane after the insert. */
async function cutOffPlanChange(): Promise<string> {
  const body = sim.createAddon({
    plan: 'standard',
    region: 'frankfurt',
    app: { name: 'frankfurt-app', privateSpace: true },
  });
  const provisioner = await startFakeAgent(nats.url, { region: 'eu-central', delayMs: 50 });
  expect((await sim.provision(replica.url, body, DEV_ADDON)).status).toBe(200);
  await provisioner.stop();
  // No eu-central agent now: the change waits out its sync budget, and dies in that wait.
  const crashing = await startPlane(await freePort(), { SYNC_BUDGET_MS: '2000' });
  const first = sim.changePlan(crashing.url, body.uuid, 'premium', DEV_ADDON).then(
    (res) => `answered ${res.status}`,
    () => 'no answer',
  );
  await waitFor(
    async () => (await operationState(body.uuid, 'change_plan')) !== undefined,
    'the plan change insert',
    10_000,
    10,
  );
  crashing.child.kill('SIGKILL');
  await crashing.exited;
  expect(await first).toBe('no answer');
  return body.uuid;
}

it(
  'a plan change retried after it finished unanswered gets 200 with the new config',
  async () => {
    const uuid = await cutOffPlanChange();
    const agent = await startFakeAgent(nats.url, { region: 'eu-central', delayMs: 50 });
    try {
      await waitFor(
        async () => (await operationState(uuid, 'change_plan')) === 'succeeded',
        'change_plan succeeded',
        COMPLETION_TIMEOUT_MS,
      );
    } finally {
      await agent.stop();
    }
    const retry = await sim.changePlan(replica.url, uuid, 'premium', DEV_ADDON);
    expect(retry.status).toBe(200);
    const url = (retry.body as { config?: Record<string, string> }).config?.TLSREDIS_URL;
    expect(url).toContain('premium');
    expect(sim.addon(uuid)?.config.get('TLSREDIS_URL')).toBe(url);
    // No 202 went out, so none is owed: the config travelled in the answer.
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    expect(configPatches(uuid)).toEqual([]);
  },
  TEST_TIMEOUT_MS,
);
