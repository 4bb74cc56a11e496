/**
 * Fleet truth on the kubernetes driver: the control plane, the simulator, and two us-east region
 * agents (the chart's production examples run two) whose drivers talk to a fake kube-apiserver (the real @kubernetes/client-node) with a
 * fake kubelet running each pod as a real TLS redis-server. A StatefulSet deleted by hand (as
 * `kubectl delete statefulset` would, the Secret left) is noticed and re-created by a repair
 * under the same credentials: the config Heroku holds connects again, no PATCH needed. The two
 * agents share the region's jobs, and each add-on is made, changed and removed once.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from 'nats';
import { createLogger } from '../../shared/src/logger.js';
import { waitFor } from '../../shared/src/ports.js';
import { createAgent, type Agent } from '../../region-agent/src/agent/agent.js';
import { secretCaStore } from '../../region-agent/src/drivers/kubernetes/ca-secret.js';
import { createKubeApi } from '../../region-agent/src/drivers/kubernetes/client.js';
import { createKubernetesDriver } from '../../region-agent/src/drivers/kubernetes/driver.js';
import { createEngines } from '../../region-agent/src/engines/index.js';
import { createRedisEngine } from '../../region-agent/src/engines/redis/engine.js';
import { createPrivateCa } from '../../region-agent/src/tls/private-ca.js';
import { startFakeKubeApiServer, type FakeKubeApiServer } from '../support/fake-kube-apiserver.js';
import { redisImage, startFakeKubelet, type FakeKubelet } from '../support/fake-kubelet.js';
import { kubeConfig } from '../region-agent/kube-config.js';
import type { HerokuSim } from '../heroku-sim/index.js';
import { withTlsRedis } from '../support/local-agent.js';
import { startStackWithSim, type TestStack, DEV_ADDON } from '../support/control-plane.js';

const NS = 'addon-instances';
const ZONE = 'us-east.redis.example.com';
const dir = mkdtempSync(join(tmpdir(), 'cp-reconcile-kube-'));
const log = createLogger({ name: 'kube-agent', level: 'silent' });
let sim: HerokuSim;
let stack: TestStack;
let stop: () => Promise<void>;
let fake: FakeKubeApiServer;
let kubelet: FakeKubelet;
type Handled = Record<'provision' | 'changePlan' | 'deprovision', number>;
let agents: Array<{ agent: Agent; nc: NatsConnection; handled: Handled }> = [];

/** A kubernetes-driver agent of us-east with its own apiserver and NATS clients. */
async function startKubeAgent(agentId: string): Promise<(typeof agents)[number]> {
  const kube = createKubeApi(kubeConfig(fake.url, NS));
  const driver = createKubernetesDriver({
    kube,
    namespace: NS,
    hostname: ZONE,
    tls: {
      mode: 'private-ca',
      issuer: createPrivateCa({
        store: secretCaStore(kube, NS, 'region-agent-ca-us-east'),
        region: 'us-east',
      }),
    },
    engines: createEngines([createRedisEngine()]),
    log,
    probe: (t, engine) => engine.ready({ ...t, ...kubelet.endpoint(t.host) }),
    pollMs: 25,
    readyTimeoutMs: 20_000,
  });
  // Which agent ran which job.
  const handled: Handled = { provision: 0, changePlan: 0, deprovision: 0 };
  for (const m of Object.keys(handled) as Array<keyof Handled>) {
    const real = driver[m].bind(driver) as (...args: unknown[]) => Promise<unknown>;
    (driver as unknown as Record<string, unknown>)[m] = (...args: unknown[]) => (
      handled[m]++,
      real(...args)
    );
  }
  const nc = await connect({ servers: stack.nats.url });
  const agent = createAgent({
    nc,
    region: 'us-east',
    agentId,
    driver,
    log,
    concurrency: 2,
    maxDeliver: 3,
    heartbeatMs: 300,
    inventoryMs: 60_000,
  });
  await agent.start();
  return { agent, nc, handled };
}

beforeAll(async () => {
  ({ sim, stack, stop } = await startStackWithSim({
    SYNC_BUDGET_MS: '0',
    RECONCILE_INTERVAL_S: '1',
  }));
  fake = await startFakeKubeApiServer({ readiness: 'manual' });
  kubelet = startFakeKubelet(fake, {
    namespace: NS,
    images: redisImage(),
    dir,
  });
  // Two agents of the region, as the chart's production examples run them: each its own
  // clients, both on the region's one durable consumer.
  agents = await Promise.all(['kube-agent-1', 'kube-agent-2'].map(startKubeAgent));
}, 60_000);
afterAll(async () => {
  for (const a of agents) {
    await a.agent.stop();
    await a.nc.drain();
  }
  await kubelet?.stop();
  await fake?.stop();
  await stop();
  rmSync(dir, { recursive: true, force: true });
});

/** PING over verified TLS, through the kubelet's stand-in for DNS and the load balancer. */
const answers = (url: string, ca: string): Promise<string> =>
  withTlsRedis(url, ca, (c) => c.ping(), kubelet.endpoint(new URL(url).hostname));

it('a StatefulSet deleted by hand is re-created under the same credentials', async () => {
  const body = sim.createAddon({ plan: 'standard', region: 'us' });
  expect((await sim.provision(stack.url, body, DEV_ADDON)).status).toBe(202);
  await waitFor(() => sim.addon(body.uuid)?.state === 'provisioned', 'provisioned', 45_000, 100);
  const config = sim.addon(body.uuid)!.config;
  const url = config.get('TLSREDIS_URL')!;
  const ca = config.get('TLSREDIS_TLS_CA')!;
  expect(await answers(url, ca)).toBe('PONG');

  const name = `redis-${body.uuid}`;
  await createKubeApi(kubeConfig(fake.url, NS)).remove('apps/v1', 'StatefulSet', NS, name);
  await kubelet.idle();
  await waitFor(
    async () =>
      (
        await stack.plane.pool.query(
          `select 1 from operations where resource_uuid = $1 and kind = 'repair' and state = 'succeeded'`,
          [body.uuid],
        )
      ).rowCount === 1,
    'repaired',
    30_000,
    200,
  );
  expect(fake.get('statefulsets', NS, name)).toBeDefined();
  expect(await answers(url, ca)).toBe('PONG');
  // Same credentials: nothing new to tell Heroku.
  const patches = await stack.plane.pool.query(
    `select dedupe_key from heroku_calls where resource_uuid = $1 and kind = 'config_update'`,
    [body.uuid],
  );
  expect(patches.rows.map((r: { dedupe_key: string }) => r.dedupe_key)).toEqual(['gen-1']);
});

it('two agents of the region share its jobs: each add-on made, changed and removed once', async () => {
  const total = (m: keyof Handled): number => agents.reduce((n, a) => n + a.handled[m], 0);
  const before = total('provision');
  const bodies = Array.from({ length: 6 }, () =>
    sim.createAddon({ plan: 'standard', region: 'us' }),
  );
  for (const r of await Promise.all(bodies.map((b) => sim.provision(stack.url, b, DEV_ADDON))))
    expect(r.status).toBe(202);
  for (const b of bodies)
    await waitFor(() => sim.addon(b.uuid)?.state === 'provisioned', 'provisioned', 45_000, 100);
  // Both took jobs (each holds at most 2 at once), and no job ran twice.
  expect(agents.map((a) => a.handled.provision > 0)).toEqual([true, true]);
  expect(total('provision') - before).toBe(bodies.length);
  // One region CA, created once though both agents issued leaves: every config names it.
  const cas = new Set(bodies.map((b) => sim.addon(b.uuid)!.config.get('TLSREDIS_TLS_CA')));
  expect(cas.size).toBe(1);
  for (const b of bodies) {
    const config = sim.addon(b.uuid)!.config;
    expect(await answers(config.get('TLSREDIS_URL')!, [...cas][0]!)).toBe('PONG');
    expect(sim.provisionActionCount(b.uuid)).toBe(1);
  }

  for (const b of bodies)
    expect([200, 202]).toContain(
      (await sim.changePlan(stack.url, b.uuid, 'premium', DEV_ADDON)).status,
    );
  const ops = async (kind: string, state: string): Promise<number> =>
    (
      await stack.plane.pool.query(
        `select 1 from operations where resource_uuid = any($1::uuid[]) and kind = $2 and state = $3`,
        [bodies.map((b) => b.uuid), kind, state],
      )
    ).rowCount ?? 0;
  await waitFor(async () => (await ops('change_plan', 'succeeded')) === 6, 'changed', 45_000, 100);
  const plans = bodies.map(
    (b) =>
      fake.get('statefulsets', NS, `redis-${b.uuid}`)!.metadata.labels!['addons.example.com/plan'],
  );
  expect(plans).toEqual(bodies.map(() => 'premium'));

  for (const b of bodies)
    expect([202, 204]).toContain((await sim.deprovision(stack.url, b.uuid, DEV_ADDON)).status);
  await waitFor(async () => (await ops('deprovision', 'succeeded')) === 6, 'removed', 45_000, 100);
  const left = [...fake.objects.keys()].filter((k) => bodies.some((b) => k.includes(b.uuid)));
  expect(left.sort()).toEqual(
    bodies.map((b) => `configmaps/${NS}/redis-${b.uuid}-deprovisioned`).sort(),
  );
});
