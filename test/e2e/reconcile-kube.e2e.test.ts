/**
 * Fleet truth on the kubernetes driver: the control plane, the simulator, and a us-east region
 * agent whose driver talks to a fake kube-apiserver (the real @kubernetes/client-node) with a
 * fake kubelet running each pod as a real TLS redis-server. A StatefulSet deleted by hand (as
 * `kubectl delete statefulset` would, the Secret left) is noticed and re-created by a repair
 * under the same credentials: the config Heroku holds connects again, no PATCH needed.
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
let nc: NatsConnection;
let agent: Agent;

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
  nc = await connect({ servers: stack.nats.url });
  agent = createAgent({
    nc,
    region: 'us-east',
    agentId: 'kube-agent-1',
    driver,
    log,
    concurrency: 4,
    maxDeliver: 3,
    heartbeatMs: 300,
    inventoryMs: 60_000,
  });
  await agent.start();
}, 60_000);
afterAll(async () => {
  await agent?.stop();
  await nc?.drain();
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
