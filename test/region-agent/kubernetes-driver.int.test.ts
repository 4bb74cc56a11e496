/**
 * The kubernetes driver with the real @kubernetes/client-node against a fake kube-apiserver
 * that validates every object against the Kubernetes OpenAPI schema, and a fake kubelet
 * that runs each instance's pod as a real TLS redis-server from the pod's Secret volume.
 */
import { randomUUID, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { createLogger } from '../../shared/src/logger.js';
import { KUBE_CALLS } from '../../region-agent/src/drivers/kubernetes/calls.js';
import { secretCaStore } from '../../region-agent/src/drivers/kubernetes/ca-secret.js';
import { createKubeApi, type KubeApi } from '../../region-agent/src/drivers/kubernetes/client.js';
import {
  createKubernetesDriver,
  type KubernetesDriverDeps,
} from '../../region-agent/src/drivers/kubernetes/driver.js';
import { createEngines } from '../../region-agent/src/engines/index.js';
import { createRedisEngine } from '../../region-agent/src/engines/redis/engine.js';
import { createPrivateCa } from '../../region-agent/src/tls/private-ca.js';
import { startFakeKubeApiServer, type FakeKubeApiServer } from '../support/fake-kube-apiserver.js';
import { createEchoEngine, ECHO_IMAGE } from '../support/echo-engine.js';
import {
  LOOPBACK_ARGS,
  redisImage,
  startFakeKubelet,
  type FakeKubelet,
} from '../support/fake-kubelet.js';
import { driverContract, redisContract, type DriverHarness } from './driver-contract.js';
import { kubeConfig } from './kube-config.js';
import { makeJob } from './support.js';

const NS = 'addon-instances';
const ZONE = 'us-east.redis.example.com';
const dir = mkdtempSync(join(tmpdir(), 'ra-kube-'));
const log = createLogger({ name: 'kube-test', level: 'silent' });
const progress = async (): Promise<void> => {};
let fake: FakeKubeApiServer;
let kubelet: FakeKubelet;
const redis = createRedisEngine();
const echo = createEchoEngine();
const engines = createEngines([redis, echo]);

function kube(): KubeApi {
  return createKubeApi(kubeConfig(fake.url, NS));
}

/**
 * Another agent's client to the shared fake, held once at its first `verb` of a `kind` (the
 * moment two agents interleave) until `release`.
 */
function held(
  kind: string,
  verb: 'get' | 'apply',
): { api: KubeApi; reached: Promise<void>; release: () => void } {
  const real = kube();
  let release!: () => void;
  let reach!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const reached = new Promise<void>((r) => (reach = r));
  let armed = true;
  const hold = async (k: string, v: string): Promise<void> => {
    if (!armed || k !== kind || v !== verb) return;
    armed = false;
    reach();
    await gate;
  };
  const api: KubeApi = {
    ...real,
    apply: async (obj) => (await hold(obj.kind, 'apply'), real.apply(obj)),
    get: async (apiVersion, k, namespace, name) => (
      await hold(k, 'get'),
      real.get(apiVersion, k, namespace, name)
    ),
  };
  return { api, reached, release };
}

/** A driver on `server` with the regional CA in its Secret; `probe` answers true unless overridden. */
function driverOn(
  server: FakeKubeApiServer,
  overrides: Partial<KubernetesDriverDeps>,
): ReturnType<typeof createKubernetesDriver> {
  const api = createKubeApi(kubeConfig(server.url, NS));
  return createKubernetesDriver({
    kube: api,
    namespace: NS,
    hostname: ZONE,
    tls: {
      mode: 'private-ca',
      issuer: createPrivateCa({
        store: secretCaStore(api, NS, 'region-agent-ca-us-east'),
        region: 'us-east',
      }),
    },
    engines,
    log,
    probe: async () => true,
    pollMs: 25,
    ...overrides,
  });
}

/** The shared fake with its kubelet: the real probe, the kubelet playing DNS and the load balancer. */
function driver(
  overrides: Partial<KubernetesDriverDeps> = {},
): ReturnType<typeof createKubernetesDriver> {
  return driverOn(fake, {
    probe: (t, engine) => engine.ready({ ...t, ...kubelet.endpoint(t.host) }),
    measure: async (t, engine) => engine.stats?.({ ...t, ...kubelet.endpoint(t.host) }),
    readyTimeoutMs: 20_000,
    ...overrides,
  });
}

/** A driver on its own fake apiserver, without a kubelet: for cases about one API behaviour. */
const standaloneDriver = driverOn;

const secretText = (name: string, key: string): string =>
  Buffer.from(
    (fake.get('secrets', NS, name)?.data as Record<string, string>)[key] ?? '',
    'base64',
  ).toString();

beforeAll(async () => {
  fake = await startFakeKubeApiServer({ readiness: 'manual' });

  kubelet = startFakeKubelet(fake, {
    namespace: NS,
    images: {
      ...redisImage(),
      [ECHO_IMAGE]: { bin: process.execPath, extraArgs: LOOPBACK_ARGS },
    },
    dir,
  });
});
afterAll(async () => {
  await kubelet.stop();
  await fake.stop();
  rmSync(dir, { recursive: true, force: true });
});

const harness = (): DriverHarness => ({
  driver: () => driver(),
  reach: (host) => kubelet.endpoint(host),
  processes: async (uuid, engine) => {
    await kubelet.idle();
    return kubelet.running().filter((n) => n === `${engine}-${uuid}`).length;
  },
  destroy: async (uuid, engine) => {
    // As `kubectl delete statefulset` would: the pod goes, the Secret stays.
    await kube().remove('apps/v1', 'StatefulSet', NS, `${engine}-${uuid}`);
    await kubelet.idle();
  },
});

driverContract('kubernetes', redis, harness);
driverContract('kubernetes', echo, harness);
redisContract('kubernetes', harness);

describe('kubernetes driver', () => {
  const uuid = randomUUID();
  const name = `redis-${uuid}`;

  it('applies labelled objects server-side with its own field manager', async () => {
    const out = await driver().provision(makeJob('provision', uuid), progress);
    expect(out.config.MYREDIS_URL).toMatch(
      new RegExp(`^rediss://u1:[^@]+@${name}\\.us-east\\.redis\\.example\\.com:6379$`),
    );
    expect(out.endpoint).toEqual({ host: `${name}.${ZONE}`, port: 6379 });
    for (const resource of [
      'secrets',
      'services',
      'statefulsets',
      'networkpolicies',
      'poddisruptionbudgets',
    ]) {
      expect(fake.get(resource, NS, name)?.metadata.labels).toMatchObject({
        'addons.example.com/uuid': uuid,
        'addons.example.com/plan': 'mini',
        'addons.example.com/generation': '1',
      });
    }
    const patches = fake.calls.filter((c) => c.verb === 'patch' && c.name === name);
    expect(patches.length).toBe(5);
    for (const p of patches)
      expect(p).toMatchObject({
        contentType: 'application/apply-patch+yaml',
        fieldManager: 'region-agent',
      });
    // A load balancer named for external-dns; the leaf also names the in-cluster Service.
    expect(fake.get('services', NS, name)?.metadata.annotations).toEqual({
      'external-dns.alpha.kubernetes.io/hostname': `${name}.${ZONE}`,
    });
    const sans = new X509Certificate(secretText(name, 'tls.crt')).subjectAltName;
    expect(sans).toBe(
      `DNS:${name}.${ZONE}, DNS:${name}.${NS}.svc, DNS:${name}.${NS}.svc.cluster.local`,
    );
    // Only the TLS port is open to the pod.
    const np = fake.get('networkpolicies', NS, name) as unknown as {
      spec: { ingress: Array<{ ports: Array<{ port: number }> }> };
    };
    expect(np.spec.ingress.flatMap((i) => i.ports.map((p) => p.port))).toEqual([6379]);
  });

  it('keeps the regional CA in a Secret, created once and shared by racing agents', async () => {
    const ca = fake.get('secrets', NS, 'region-agent-ca-us-east');
    expect(ca?.type).toBe('kubernetes.io/tls');
    const caPem = secretText('region-agent-ca-us-east', 'tls.crt');
    expect(new X509Certificate(caPem).ca).toBe(true);
    expect(secretText(name, 'ca.crt')).toBe(caPem);
    // Two fresh agents racing on an empty cluster end up with one CA.
    const stores = [
      secretCaStore(kube(), 'other-ns', 'ca'),
      secretCaStore(kube(), 'other-ns', 'ca'),
    ];
    const pems = await Promise.all(
      stores.map((store) => createPrivateCa({ store, region: 'us-east' }).caPem()),
    );
    expect(pems[0]).toBe(pems[1]);
    expect(
      fake.calls.filter((c) => c.verb === 'create' && c.resource === 'secrets').length,
    ).toBeGreaterThanOrEqual(2);
  });

  it('is ready only once the pod is Ready and TLS answers, and says what it waited for', async () => {
    const manual = await startFakeKubeApiServer({ readiness: 'manual' });
    try {
      const other = randomUUID();
      let answers = false;
      const d = standaloneDriver(manual, { probe: async () => answers, readyTimeoutMs: 500 });
      await expect(d.provision(makeJob('provision', other), progress)).rejects.toThrow(
        /did not become ready in time \(pod not ready\)/,
      );
      manual.markReady(NS, `redis-${other}`);
      await expect(d.provision(makeJob('provision', other), progress)).rejects.toThrow(
        /did not become ready in time \(TLS probe did not answer/,
      );
      answers = true;
      await expect(d.provision(makeJob('provision', other), progress)).resolves.toMatchObject({
        endpoint: { port: 6379 },
      });
    } finally {
      await manual.stop();
    }
  });

  it('waits for the load balancer address, and ClusterIP instances need none', async () => {
    const pending = await startFakeKubeApiServer({ loadBalancers: 'pending' });
    try {
      const make = (
        serviceType: 'LoadBalancer' | 'ClusterIP',
      ): ReturnType<typeof createKubernetesDriver> =>
        standaloneDriver(pending, { serviceType, readyTimeoutMs: 400 });
      await expect(
        make('LoadBalancer').provision(makeJob('provision', randomUUID()), progress),
      ).rejects.toThrow(/load balancer has no address yet/);
      const other = randomUUID();
      const out = await make('ClusterIP').provision(makeJob('provision', other), progress);
      expect(out.endpoint.host).toBe(`redis-${other}.${ZONE}`);
      const svc = pending.get('services', NS, `redis-${other}`) as unknown as {
        spec: { type: string };
        metadata: { annotations?: unknown };
      };
      expect([svc.spec.type, svc.metadata.annotations]).toEqual(['ClusterIP', undefined]);
    } finally {
      await pending.stop();
    }
  });

  it('surfaces API errors so the agent retries, then succeeds once the API recovers', async () => {
    fake.fail({ verb: 'patch', resource: 'statefulsets', code: 503, times: 1 });
    await expect(
      driver().changePlan(makeJob('change_plan', uuid, { generation: 2, memoryMb: 48 }), progress),
    ).rejects.toMatchObject({ code: 503 });
    const out = await driver().changePlan(
      makeJob('change_plan', uuid, { generation: 2, memoryMb: 48 }),
      progress,
    );
    expect(secretText(name, 'redis.conf')).toContain('maxmemory 48mb');
    expect(out.config.MYREDIS_URL).toMatch(/^rediss:\/\/u1:/);
  });

  it('does not roll an instance back: a plan change or rotation older than its generation is refused', async () => {
    const other = randomUUID();
    const d = driver();
    await d.provision(makeJob('provision', other), progress);
    await d.changePlan(makeJob('change_plan', other, { generation: 4, memoryMb: 64 }), progress);
    const otherName = `redis-${other}`;
    // Generation 3 (redelivered after its deadline, or run late by another agent) comes after.
    await expect(
      d.changePlan(makeJob('change_plan', other, { generation: 3, memoryMb: 48 }), progress),
    ).rejects.toMatchObject({ code: 'superseded' });
    await expect(
      d.rotateCredentials(makeJob('rotate_credentials', other, { generation: 2 }), progress),
    ).rejects.toMatchObject({ code: 'superseded' });
    expect(secretText(otherName, 'redis.conf')).toContain('maxmemory 64mb');
    expect(secretText(otherName, 'current-user')).toBe('u1');
    // A revocation scheduled hours ago, with its older generation, still runs.
    await d.revokeCredentials(
      makeJob('revoke_credentials', other, { generation: 2, params: { revokeUser: 'u0' } }),
      progress,
    );
    expect(secretText(otherName, 'redis.conf')).toContain('maxmemory 64mb');
  });

  it('two agents running generations 3 and 4 of one instance at once leave it at 4', async () => {
    const other = randomUUID();
    const otherName = `redis-${other}`;
    await driver().provision(makeJob('provision', other), progress);
    const generations = (): string[] =>
      ['secrets', 'services', 'networkpolicies', 'poddisruptionbudgets', 'statefulsets'].map(
        (r) => fake.get(r, NS, otherName)!.metadata.labels!['addons.example.com/generation']!,
      );
    const job = (generation: number, memoryMb: number) =>
      makeJob('change_plan', other, { generation, memoryMb });

    // Agent A read the StatefulSet for generation 3 and is held before writing it, while agent
    // B runs generation 4 through: A's write carries what it read, and the apiserver refuses it.
    const a = held('StatefulSet', 'apply');
    const late = driver({ kube: a.api }).changePlan(job(3, 48), progress);
    await a.reached;
    await driver().changePlan(job(4, 64), progress);
    a.release();
    await expect(late).rejects.toMatchObject({ code: 'apply_conflict' });
    // The agent retries it from a fresh read: superseded.
    await expect(driver().changePlan(job(3, 48), progress)).rejects.toMatchObject({
      code: 'superseded',
    });
    expect(generations()).toEqual(['4', '4', '4', '4', '4']);
    expect(secretText(otherName, 'redis.conf')).toContain('maxmemory 64mb');

    // Held before it reads the StatefulSet instead: it finds generation 6 there and stops.
    const b = held('StatefulSet', 'get');
    const later = driver({ kube: b.api }).changePlan(job(5, 48), progress);
    await b.reached;
    await driver().changePlan(job(6, 96), progress);
    b.release();
    await expect(later).rejects.toMatchObject({ code: 'superseded' });
    expect(generations()).toEqual(['6', '6', '6', '6', '6']);
    expect(secretText(otherName, 'redis.conf')).toContain('maxmemory 96mb');
  });

  it.each(['provision', 'change_plan'] as const)(
    'a %s held on one agent while another deprovisions the instance leaves nothing behind',
    async (kind) => {
      const other = randomUUID();
      if (kind === 'change_plan') await driver().provision(makeJob('provision', other), progress);
      // Agent A wrote the Secret, Service, policy and budget and is held before the StatefulSet;
      // agent B deprovisions meanwhile (the job A runs was redispatched, or ran late).
      const a = held('StatefulSet', 'apply');
      const late = driver({ kube: a.api })[kind === 'provision' ? 'provision' : 'changePlan'](
        makeJob(kind, other, { generation: 2, memoryMb: 48 }),
        progress,
      );
      await a.reached;
      await driver().deprovision(makeJob('deprovision', other, { generation: 3 }), progress);
      a.release();
      if (kind === 'provision') {
        // It created the StatefulSet, then found the tombstone and took everything back.
        await expect(late).rejects.toMatchObject({ code: 'instance_deprovisioned' });
      } else {
        // Its StatefulSet write was conditional on the one deleted; the retry finds no instance.
        await expect(late).rejects.toMatchObject({ code: 'apply_conflict' });
        await expect(
          driver().changePlan(makeJob(kind, other, { generation: 2, memoryMb: 48 }), progress),
        ).rejects.toMatchObject({ code: 'instance_not_found' });
      }
      expect([...fake.objects.keys()].filter((k) => k.includes(other))).toEqual([
        `configmaps/${NS}/redis-${other}-deprovisioned`,
      ]);
    },
  );

  it('renews a leaf close to expiry and rolls the pod onto it', async () => {
    const before = new X509Certificate(secretText(name, 'tls.crt')).fingerprint256;
    const soon = Date.now() + 80 * 86_400_000; // leaves are 90 days: inside the 30-day window then
    const out = await driver({ now: () => soon }).changePlan(
      makeJob('change_plan', uuid, { generation: 2, memoryMb: 48 }),
      progress,
    );
    expect(out.certificate?.fingerprint).not.toBe(before);
    // What the result reports of the new leaf (known from its issue) is what the Secret holds.
    const stored = new X509Certificate(secretText(name, 'tls.crt'));
    expect(out.certificate).toEqual({
      fingerprint: stored.fingerprint256,
      notAfter: new Date(stored.validTo).toISOString(),
    });
  });

  it('reports when each instance leaf expires, and not the region CA', async () => {
    const expiries = await driver().certificateExpiries!();
    const leaf = new X509Certificate(secretText(name, 'tls.crt'));
    expect(expiries).toContain(new Date(leaf.validTo).toISOString());
    const leafDays = expiries.map((at) => (Date.parse(at) - Date.now()) / 86_400_000);
    expect(leafDays.filter((d) => d > 91)).toEqual([]); // the CA lives for years
  });

  it('upkeep renews a leaf due for renewal without a job, and the pod serves it', async () => {
    const before = new X509Certificate(secretText(name, 'tls.crt')).fingerprint256;
    await driver().maintain(uuid);
    expect(new X509Certificate(secretText(name, 'tls.crt')).fingerprint256).toBe(before); // not due: untouched
    await driver({ now: () => Date.now() + 80 * 86_400_000 }).maintain(uuid);
    const after = new X509Certificate(secretText(name, 'tls.crt')).fingerprint256;
    expect(after).not.toBe(before);
    // Size and credentials are kept from the Secret.
    expect(secretText(name, 'redis.conf')).toContain('maxmemory 48mb');
    await kubelet.idle();
    const host = `${name}.${ZONE}`;
    const seen = await new Promise<string>((resolve, reject) => {
      const s = tlsConnect(
        { ...kubelet.endpoint(host), servername: host, ca: secretText(name, 'ca.crt') },
        () => {
          resolve(s.getPeerX509Certificate()?.fingerprint256 ?? '');
          s.destroy();
        },
      );
      s.once('error', reject);
    });
    expect(seen).toBe(after);
    await driver().maintain(randomUUID()); // unknown: nothing
  });

  it('deprovision waits until every object is really gone and leaves a tombstone', async () => {
    const slow = await startFakeKubeApiServer({ deletionDelayMs: 300 });
    try {
      const other = randomUUID();
      const d = standaloneDriver(slow, {});
      await d.provision(makeJob('provision', other), progress);
      const started = Date.now();
      await d.deprovision(makeJob('deprovision', other, { generation: 2 }), progress);
      expect(Date.now() - started).toBeGreaterThanOrEqual(5 * 300 * 0.9);
      expect([...slow.objects.keys()].filter((k) => k.includes(other))).toEqual([
        `configmaps/${NS}/redis-${other}-deprovisioned`,
      ]);
      await expect(d.provision(makeJob('provision', other), progress)).rejects.toMatchObject({
        code: 'instance_deprovisioned',
      });
    } finally {
      await slow.stop();
    }
  });

  it('prunes tombstones past their retention at start', async () => {
    const other = randomUUID();
    await driver().deprovision(makeJob('deprovision', other), progress);
    expect(fake.get('configmaps', NS, `redis-${other}-deprovisioned`)).toBeDefined();
    await driver({ now: () => Date.now() + 31 * 86_400_000 }).adopt();
    expect(fake.get('configmaps', NS, `redis-${other}-deprovisioned`)).toBeUndefined();
  });

  it('only makes the calls KUBE_CALLS declares', () => {
    const declared = new Set(
      KUBE_CALLS.flatMap((c) => c.verbs.map((v) => `${c.group}/${c.resource}:${v}`)),
    );
    const made = new Set(fake.calls.map((c) => `${c.group}/${c.resource}:${c.verb}`));
    expect([...made].filter((c) => !declared.has(c))).toEqual([]);
    expect(made.size).toBeGreaterThan(5);
  });

  it('is rejected by the fake like a real API server would reject an invalid object', async () => {
    const bad = {
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      metadata: { name: 'bad', namespace: NS },
      spec: { replicas: 'one' },
    };
    await expect(kube().apply(bad)).rejects.toMatchObject({ code: 422 });
  });
});
