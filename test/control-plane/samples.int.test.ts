/** Which reported instances get a sample, and the dashboard's 24-hour window, on real Postgres. */
import { randomUUID } from 'node:crypto';
import { createLogger } from '../../shared/src/logger.js';
import type { InstanceStats } from '../../shared/src/messages.js';
import { createPool, type Pool } from '../../control-plane/src/db/pool.js';
import type { FleetRow } from '../../control-plane/src/db/drift.js';
import { recentSamples } from '../../control-plane/src/db/samples.js';
import { recordSamples } from '../../control-plane/src/fleet/samples.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';

let db: TestDatabase;
let pool: Pool;

beforeAll(async () => {
  db = await createTestDatabase();
  pool = createPool(db.url, 2, createLogger({ name: 'test', level: 'silent' }));
});
afterAll(async () => {
  await pool.end();
  await db.drop();
});

const STATS: InstanceStats = {
  usedMemoryBytes: 1_000_000,
  maxMemoryBytes: 25 * 1024 * 1024,
  keys: 7,
  clients: 2,
  opsPerSec: 3,
  uptimeS: 60,
};
const row = (uuid: string, agentRegion: string, state = 'provisioned'): FleetRow =>
  ({
    uuid,
    agent_region: agentRegion,
    state,
    plan: 'mini',
    busy: false,
    good_generation: 1,
  }) as FleetRow;
const reported = (uuid: string, ready: boolean, stats?: InstanceStats) => ({
  uuid,
  generation: 1,
  plan: 'mini',
  ready,
  ...(stats ? { stats } : {}),
});

it('samples only the region’s own resources, with or without numbers', async () => {
  const [measured, silent, elsewhere, gone, unknown] = Array.from({ length: 5 }, randomUUID);
  await recordSamples(
    pool,
    'eu-west',
    [
      reported(measured!, true, STATS),
      reported(silent!, false),
      reported(elsewhere!, true, STATS),
      reported(gone!, true, STATS),
      reported(unknown!, true, STATS),
    ],
    [
      row(measured!, 'eu-west'),
      row(silent!, 'eu-west'),
      row(elsewhere!, 'us-east'),
      row(gone!, 'eu-west', 'deprovisioned'),
    ],
  );
  expect(await recentSamples(pool, measured!)).toEqual([
    { at: expect.any(Date), ready: true, stats: STATS },
  ]);
  expect(await recentSamples(pool, silent!)).toEqual([
    { at: expect.any(Date), ready: false, stats: null },
  ]);
  for (const uuid of [elsewhere!, gone!, unknown!])
    expect(await recentSamples(pool, uuid)).toEqual([]);
});

it('the dashboard window is the last 24 hours, oldest first', async () => {
  const uuid = randomUUID();
  await pool.query(
    `insert into instance_samples (resource_uuid, at, ready) values
       ($1, now() - interval '25 hours', true), ($1, now() - interval '2 hours', true),
       ($1, now() - interval '23 hours', false)`,
    [uuid],
  );
  const rows = await recentSamples(pool, uuid);
  expect(rows.map((r) => r.ready)).toEqual([false, true]);
  expect(rows[0]!.at.getTime()).toBeLessThan(rows[1]!.at.getTime());
});
