/**
 * A rolling upgrade of the control plane: the previous release (PREVIOUS, built from its
 * commit in a temporary git worktree) serves a database at its own schema; the current
 * release starts beside it on the same database and NATS and applies its migrations while
 * the old one keeps serving. Heroku's requests then alternate between the two: provisions,
 * plan changes and deprovisions of add-ons the other release made. Every add-on ends with one
 * instance that answers over verified TLS and one grant exchange at Heroku; an old replica
 * restarted onto the new schema (a pod rescheduled mid-rollout) starts and serves.
 * The order this follows is in deploy/upgrades.md.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pg from 'pg';
import { loadConfig } from '../../control-plane/src/config.js';
import { createControlPlane, type ControlPlane } from '../../control-plane/src/composition-root.js';
import { readMigrations } from '../../control-plane/src/db/migrate.js';
import { stopChild } from '../../deploy/local/postgres.js';
import { createLogger } from '../../shared/src/logger.js';
import { freePort, waitFor } from '../../shared/src/ports.js';
import { createHerokuSim, type HerokuSim, type ProvisionBody } from '../heroku-sim/index.js';
import { DEV_ADDON } from '../support/control-plane.js';
import { killInstances, spawnLocalAgent, withTlsRedis } from '../support/local-agent.js';
import { startTestNats, type TestNats } from '../support/nats.js';
import { testPgPort } from '../support/postgres.js';

/** The release before the current one's migrations 013–016 (the last landed before them). */
const PREVIOUS = 'dcae36d';
const PREVIOUS_MIGRATIONS = 12;

const repo = resolve(import.meta.dirname, '../..');
const adminUrl = (): string => `postgres://postgres@127.0.0.1:${testPgPort()}/postgres`;
const dbName = `upgrade_${randomBytes(4).toString('hex')}`;
const dbUrl = (): string => `postgres://postgres@127.0.0.1:${testPgPort()}/${dbName}`;

let tree: string;
let nats: TestNats;
let sim: HerokuSim;
let pool: pg.Pool;
let oldPort: number;
let oldPlane: ChildProcess | undefined;
let oldLog = '';
let current: ControlPlane | undefined;
let agent: ChildProcess;
let dataDir: string;

/** What both releases share: the same database, NATS, Heroku and secrets. */
const shared = (): Record<string, string> => ({
  DATABASE_URL: dbUrl(),
  NATS_URL: nats.url,
  HEROKU_API_URL: sim.url,
  HEROKU_ID_URL: sim.url,
  HOST: '127.0.0.1',
  SYNC_BUDGET_MS: '2000',
  OUTBOX_SWEEP_MS: '200',
  PRIVATE_SPACE_LOOKUP: 'assume-common-runtime',
  ENCRYPTION_KEY: `k1:${SECRET_KEY}`,
  SESSION_SECRET: SESSION,
});
const SECRET_KEY = randomBytes(32).toString('base64');
const SESSION = randomBytes(32).toString('hex');

function checkoutPrevious(): string {
  try {
    execFileSync('git', ['cat-file', '-e', `${PREVIOUS}^{commit}`], { cwd: repo });
  } catch {
    throw new Error(
      `commit ${PREVIOUS} (the previous release) is not in this clone: the rolling-upgrade ` +
        'test needs the history (git fetch --unshallow, or clone without --depth)',
    );
  }
  const dir = mkdtempSync(join(tmpdir(), 'cp-previous-'));
  execFileSync('git', ['worktree', 'add', '--detach', dir, PREVIOUS], {
    cwd: repo,
    stdio: 'ignore',
  });
  // Its dependencies are a subset of the current ones (checked by starting it).
  symlinkSync(join(repo, 'node_modules'), join(dir, 'node_modules'));
  return dir;
}

async function startOld(): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'control-plane/src/main.ts'], {
    cwd: tree,
    env: { ...process.env, ...shared(), PORT: String(oldPort), LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const keep = (d: Buffer): void => void (oldLog = (oldLog + d.toString()).slice(-8000));
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const ready = async (): Promise<boolean> =>
    (await fetch(`${oldUrl()}/readyz`).catch(() => undefined))?.ok ?? false;
  await waitFor(ready, `previous release (${PREVIOUS}) ready`, 60_000, 200).catch((err) => {
    throw new Error(`${(err as Error).message}; its output:\n${oldLog}`);
  });
  return child;
}

const oldUrl = (): string => `http://127.0.0.1:${oldPort}`;

beforeAll(async () => {
  tree = checkoutPrevious();
  [nats, sim] = await Promise.all([startTestNats(), createHerokuSim()]);
  const admin = new pg.Client({ connectionString: adminUrl() });
  await admin.connect();
  await admin.query(`create database ${dbName}`);
  await admin.end();
  pool = new pg.Pool({ connectionString: dbUrl(), max: 2 });
  pool.on('error', () => undefined); // the forced drop below
  oldPort = await freePort();
  dataDir = mkdtempSync(join(tmpdir(), 'cp-upgrade-agent-'));
  const healthPort = await freePort();
  agent = spawnLocalAgent(nats.url, dataDir, { HEALTH_PORT: String(healthPort) });
  oldPlane = await startOld();
  await waitFor(
    async () => (await fetch(`http://127.0.0.1:${healthPort}/readyz`)).ok,
    'agent ready',
    30_000,
    200,
  );
}, 120_000);

afterAll(async () => {
  if (oldPlane) await stopChild(oldPlane, 'SIGTERM');
  await current?.stop();
  if (agent) await stopChild(agent, 'SIGTERM');
  if (dataDir) killInstances(dataDir);
  await pool?.end();
  const admin = new pg.Client({ connectionString: adminUrl() });
  await admin.connect();
  await admin.query(`drop database if exists ${dbName} with (force)`);
  await admin.end();
  await Promise.all([nats?.stop(), sim?.close()]);
  if (tree) {
    execFileSync('git', ['worktree', 'remove', '--force', tree], { cwd: repo, stdio: 'ignore' });
    execFileSync('git', ['worktree', 'prune'], { cwd: repo, stdio: 'ignore' });
  }
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
}, 60_000);

const migrated = async (): Promise<number> =>
  (await pool.query<{ v: number }>('select max(version)::int as v from schema_migrations')).rows[0]!
    .v;

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

/**
 * Provisions spread over `urls`. Each is answered within its 2 s sync budget (200), or, on a
 * loaded machine, 202 and finished with one provision action: either way it ends provisioned.
 */
async function provisionAll(urls: string[], n: number): Promise<ProvisionBody[]> {
  const bodies = Array.from({ length: n }, () =>
    sim.createAddon({ plan: 'standard', region: 'eu' }),
  );
  const answers = await Promise.all(
    bodies.map((body, i) => sim.provision(urls[i % urls.length]!, body, DEV_ADDON)),
  );
  for (const [i, body] of bodies.entries()) {
    expect([200, 202]).toContain(answers[i]!.status);
    await waitFor(() => sim.addon(body.uuid)?.state === 'provisioned', 'provisioned', 30_000, 50);
    expect(sim.provisionActionCount(body.uuid)).toBe(answers[i]!.status === 202 ? 1 : 0);
  }
  return bodies;
}

const made: ProvisionBody[] = [];

it('the previous release serves its own schema', async () => {
  expect(await migrated()).toBe(PREVIOUS_MIGRATIONS);
  made.push(...(await provisionAll([oldUrl()], 2)));
});

it('the current release migrates the database while the previous one serves', async () => {
  const log = createLogger({ name: 'current', level: 'silent' });
  const config = loadConfig({ ...shared(), PORT: '0' });
  // Provisions through the old release while the new one starts and migrates.
  const during = provisionAll([oldUrl()], 3);
  current = await createControlPlane(config, log);
  await current.start();
  made.push(...(await during));
  expect(await migrated()).toBe(readMigrations().at(-1)!.version);
});

it('requests alternate between the releases, each finishing what the other started', async () => {
  made.push(...(await provisionAll([oldUrl(), current!.url()], 6)));
  // Plan changes of add-ons the other release made.
  const [a, b] = made;
  expect((await sim.changePlan(current!.url(), a!.uuid, 'premium', DEV_ADDON)).status).toBe(200);
  expect((await sim.changePlan(oldUrl(), b!.uuid, 'premium', DEV_ADDON)).status).toBe(200);
  // Deprovisions: one of the old release's by the new, one of the new release's by the old.
  const gone = [made[2]!, made.at(-1)!];
  expect((await sim.deprovision(current!.url(), gone[0]!.uuid, DEV_ADDON)).status).toBe(204);
  expect((await sim.deprovision(oldUrl(), gone[1]!.uuid, DEV_ADDON)).status).toBe(204);
  const state = async (uuid: string): Promise<string> =>
    (await pool.query('select state from resources where uuid = $1', [uuid])).rows[0].state;
  for (const body of gone)
    await waitFor(async () => (await state(body.uuid)) === 'deprovisioned', 'gone', 15_000, 100);

  const live = made.filter((m) => !gone.includes(m));
  for (const body of live) await connects(body.uuid);
  for (const uuid of [a!.uuid, b!.uuid]) {
    const r = await pool.query('select plan from resources where uuid = $1', [uuid]);
    expect(r.rows[0].plan).toBe('premium');
  }
  for (const body of made) await waitFor(() => exchanges(body) === 1, 'one exchange', 15_000, 100);
  const instances = readdirSync(join(dataDir, 'eu-west', 'instances')).filter(
    (d) => !d.startsWith('.'),
  ); // tombstones
  expect(instances.sort()).toEqual(live.map((m) => m.uuid).sort());
  const ops = await pool.query<{ n: number }>(
    "select count(*)::int as n from operations where state not in ('succeeded')",
  );
  expect(ops.rows[0]!.n).toBe(0);
}, 60_000);

it('a previous-release replica restarted onto the new schema starts and serves', async () => {
  await stopChild(oldPlane!, 'SIGTERM');
  oldPlane = await startOld();
  const [body] = await provisionAll([oldUrl()], 1);
  await connects(body!.uuid);
  expect(existsSync(join(dataDir, 'eu-west', 'instances', body!.uuid))).toBe(true);
}, 90_000);
