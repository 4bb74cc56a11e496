/**
 * Everything real but Heroku: control plane, a local-driver region agent process with real
 * TLS Redis, and the Heroku simulator. The config Heroku receives holds a rediss:// URL that
 * verifies (CA + hostname) and answers; after deprovision nothing is left listening.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { createHerokuSim, type HerokuSim } from '../heroku-sim/index.js';
import { waitFor } from '../../shared/src/ports.js';
import { stopChild } from '../../deploy/local/postgres.js';
import { startStack, type TestStack, DEV_ADDON } from '../support/control-plane.js';
import { spawnLocalAgent } from '../support/local-agent.js';

const auth = DEV_ADDON;
let sim: HerokuSim;
let stack: TestStack;
let agent: ChildProcess;
let dataDir: string;

beforeAll(async () => {
  sim = await createHerokuSim();
  stack = await startStack({
    HEROKU_API_URL: sim.url,
    HEROKU_ID_URL: sim.url,
    SYNC_BUDGET_MS: '0',
  });
  dataDir = mkdtempSync(join(tmpdir(), 'cp-e2e-agent-'));
  agent = spawnLocalAgent(stack.nats.url, dataDir);
});
afterAll(async () => {
  await stopChild(agent, 'SIGTERM');
  await stack.stop();
  await sim.close();
  rmSync(dataDir, { recursive: true, force: true });
});

const portOpen = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const s = tcpConnect(port, '127.0.0.1');
    s.on('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });

it('provision through the simulator, connect over verified TLS, change plan, deprovision', async () => {
  const body = sim.createAddon({ plan: 'standard', region: 'eu' });
  expect((await sim.provision(stack.url, body, auth)).status).toBe(202);
  await waitFor(
    () => sim.addon(body.uuid)?.state === 'provisioned',
    'provisioned at Heroku',
    45_000,
    100,
  );
  const url = sim.addon(body.uuid)!.config.get('TLSREDIS_URL')!;
  const ca = sim.addon(body.uuid)!.config.get('TLSREDIS_TLS_CA')!;
  expect(url).toMatch(/^rediss:\/\//);
  const { hostname, port } = new URL(url);
  const client = new Redis(url, {
    tls: { ca, servername: hostname },
    lazyConnect: true,
    maxRetriesPerRequest: 1,
  });
  await client.connect();
  await client.set('greeting', 'hello');
  expect(await client.get('greeting')).toBe('hello');

  const change = await sim.changePlan(stack.url, body.uuid, 'premium', auth);
  expect([200, 202]).toContain(change.status);
  await waitFor(
    async () =>
      (
        await stack.plane.pool.query(
          `select state from operations where resource_uuid = $1 and kind = 'change_plan'`,
          [body.uuid],
        )
      ).rows[0]?.state === 'succeeded',
    'plan change',
    30_000,
  );
  expect(await client.get('greeting')).toBe('hello');
  client.disconnect();

  // A client that does not trust the region CA is refused.
  const untrusting = new Redis(url, {
    tls: { servername: hostname },
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  untrusting.on('error', () => undefined);
  await expect(untrusting.connect()).rejects.toThrow();
  untrusting.disconnect();

  expect((await sim.deprovision(stack.url, body.uuid, auth)).status).toBe(204);
  await waitFor(
    async () =>
      (await stack.plane.pool.query('select state from resources where uuid = $1', [body.uuid]))
        .rows[0]?.state === 'deprovisioned',
    'deprovisioned',
    30_000,
  );
  expect(await portOpen(Number(port))).toBe(false);
  const password = decodeURIComponent(new URL(url).password);
  expect(password.length).toBeGreaterThan(8);
  expect(stack.logs.join('')).not.toContain(password);
});
