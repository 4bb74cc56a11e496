/**
 * Agents that go silent: the control plane records region agents' heartbeats, reports a
 * region down once every agent of it has been silent for AGENT_DEAD_AFTER_S, and places a
 * new provision in the plan's live fallback region meanwhile. A heartbeat that speaks for
 * another region than its subject is refused. `operator regions` shows it all.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { connect, type NatsConnection } from 'nats';
import { encodeMessage, MESSAGE_VERSION } from '../../shared/src/messages.js';
import { heartbeatSubject } from '../../shared/src/subjects.js';
import { waitFor } from '../../shared/src/ports.js';
import type { HerokuSim } from '../heroku-sim/index.js';
import { startStackWithSim, type TestStack, DEV_ADDON } from '../support/control-plane.js';

let sim: HerokuSim;
let stack: TestStack;
let stop: () => Promise<void>;
let nc: NatsConnection;

beforeAll(async () => {
  ({ sim, stack, stop } = await startStackWithSim({
    SYNC_BUDGET_MS: '0',
    AGENT_DEAD_AFTER_S: '2',
  }));
  nc = await connect({ servers: stack.nats.url });
});
afterAll(async () => {
  await nc.drain();
  await stop();
});

/** A heartbeat as a region agent sends it (region-agent/src/agent/reporter.ts). */
function beat(subjectRegion: string, bodyRegion = subjectRegion, agentId = `${bodyRegion}-a1`) {
  const now = new Date().toISOString();
  nc.publish(
    heartbeatSubject(subjectRegion),
    encodeMessage({
      version: MESSAGE_VERSION,
      agentRegion: bodyRegion,
      agentId,
      driver: 'local',
      inFlight: 0,
      startedAt: now,
      at: now,
    }),
  );
}

const agentRegionOf = async (uuid: string): Promise<string | undefined> =>
  (await stack.plane.pool.query('select agent_region from resources where uuid = $1', [uuid]))
    .rows[0]?.agent_region;

async function operatorRegions(): Promise<Array<{ region: string; status: string }>> {
  const { NATS_URL: _n, ...env } = process.env;
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--import', 'tsx', 'control-plane/src/operator/main.ts', 'regions', '--json'],
    {
      env: { ...env, DATABASE_URL: stack.db.url, AGENT_DEAD_AFTER_S: '2', NODE_ENV: 'development' },
    },
  );
  return JSON.parse(stdout) as Array<{ region: string; status: string }>;
}

it('a region whose agents went silent is down; new provisions go to its live fallback', async () => {
  beat('us-east');
  beat('us-west');
  await waitFor(
    async () => (await stack.plane.pool.query('select 1 from agent_heartbeats')).rowCount === 2,
    'heartbeats recorded',
    5000,
  );
  const live = sim.createAddon({ plan: 'standard', region: 'us' });
  expect((await sim.provision(stack.url, live, DEV_ADDON)).status).toBe(202);
  expect(await agentRegionOf(live.uuid)).toBe('us-east');

  // us-east goes silent; us-west keeps beating.
  const keepWest = setInterval(() => beat('us-west'), 300);
  try {
    await waitFor(
      async () => (await operatorRegions()).find((r) => r.region === 'us-east')?.status === 'down',
      'us-east reported down',
      15_000,
      500,
    );
    const regions = await operatorRegions();
    expect(regions.find((r) => r.region === 'us-west')?.status).toBe('up');
    expect(regions.find((r) => r.region === 'eu-west')?.status).toBe('never seen');
    await waitFor(
      () => stack.logs.some((l) => l.includes('region down') && l.includes('us-east')),
      'the control plane noticed',
      10_000,
    );
    const moved = sim.createAddon({ plan: 'standard', region: 'us' });
    expect((await sim.provision(stack.url, moved, DEV_ADDON)).status).toBe(202);
    expect(await agentRegionOf(moved.uuid)).toBe('us-west');
  } finally {
    clearInterval(keepWest);
  }
});

it('a heartbeat that names another region than its subject is refused', async () => {
  beat('eu-west', 'us-east', 'impostor');
  await waitFor(
    () => stack.logs.some((l) => l.includes('heartbeat refused: region mismatch')),
    'refusal logged',
    5000,
  );
  const r = await stack.plane.pool.query(
    `select 1 from agent_heartbeats where agent_id = 'impostor'`,
  );
  expect(r.rowCount).toBe(0);
});
