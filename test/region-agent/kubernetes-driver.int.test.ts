/**
 * The kubernetes driver with the real @kubernetes/client-node against a fake kube-apiserver
 * that validates every applied object against the Kubernetes OpenAPI schema.
 */
import { randomUUID, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { createLogger } from '../../shared/src/logger.js';
import { KUBE_CALLS } from '../../region-agent/src/drivers/kubernetes/calls.js';
import { createKubeApi } from '../../region-agent/src/drivers/kubernetes/client.js';
import { createKubernetesDriver, type ProbeTarget } from '../../region-agent/src/drivers/kubernetes/driver.js';
import { createPrivateCa } from '../../region-agent/src/tls/private-ca.js';
import { startFakeKubeApiServer, type FakeKubeApiServer } from '../support/fake-kube-apiserver.js';
import { makeJob } from './support.js';

const NS = 'addon-instances';
const dir = mkdtempSync(join(tmpdir(), 'ra-kube-'));
let fake: FakeKubeApiServer;
const probes: ProbeTarget[] = [];

function kubeConfig(server: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'fake', server, skipTLSVerify: true }],
    users: [{ name: 'agent', token: 'test-token' }],
    contexts: [{ name: 'fake', cluster: 'fake', user: 'agent', namespace: NS }],
    currentContext: 'fake',
  });
  return kc;
}

/** Checks what a TLS client would: the leaf chains to the CA and names the host. */
async function probe(target: ProbeTarget): Promise<boolean> {
  probes.push(target);
  const secret = fake.get('secrets', NS, target.host.split('.')[0] ?? '');
  const certPem = Buffer.from((secret?.data as Record<string, string>)['tls.crt'] ?? '', 'base64').toString();
  const cert = new X509Certificate(certPem);
  return cert.verify(new X509Certificate(target.ca).publicKey) && cert.checkHost(target.servername) !== undefined;
}

function driver(): ReturnType<typeof createKubernetesDriver> {
  return createKubernetesDriver({
    kube: createKubeApi(kubeConfig(fake.url)),
    namespace: NS,
    hostname: 'us-east.redis.example.com',
    issuer: createPrivateCa({ dir: join(dir, 'ca'), region: 'us-east' }),
    log: createLogger({ name: 'kube-test', level: 'silent' }),
    probe,
  });
}

const secretText = (name: string, key: string): string =>
  Buffer.from((fake.get('secrets', NS, name)?.data as Record<string, string>)[key] ?? '', 'base64').toString();

beforeAll(async () => {
  fake = await startFakeKubeApiServer();
});
afterAll(async () => {
  await fake.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('kubernetes driver', () => {
  const uuid = randomUUID();
  const name = `redis-${uuid}`;
  const progress = async (): Promise<void> => {};

  it('applies the instance objects server-side and reports a verified TLS endpoint', async () => {
    const out = await driver().provision(makeJob('provision', uuid), progress);
    expect(out.config.MYREDIS_URL).toMatch(new RegExp(`^rediss://u1:[^@]+@${name}\\.us-east\\.redis\\.example\\.com:6379$`));
    expect(out.config.MYREDIS_TLS_CA).toContain('BEGIN CERTIFICATE');
    expect(out.certificate?.fingerprint).toMatch(/^[0-9A-F:]+$/);
    for (const resource of ['secrets', 'services', 'statefulsets', 'networkpolicies', 'poddisruptionbudgets']) {
      const obj = fake.get(resource, NS, name);
      expect(obj?.metadata.labels).toMatchObject({ 'addons.example.com/uuid': uuid, 'addons.example.com/plan': 'mini', 'addons.example.com/generation': '1' });
    }
    const patches = fake.calls.filter((c) => c.verb === 'patch');
    expect(patches.length).toBe(5);
    for (const p of patches) expect(p).toMatchObject({ contentType: 'application/apply-patch+yaml', fieldManager: 'region-agent' });
    expect(probes.at(-1)).toMatchObject({ servername: `${name}.us-east.redis.example.com`, user: 'u1' });
  });

  it('answers a redelivered provision with the same credentials', async () => {
    const first = await driver().provision(makeJob('provision', uuid), progress);
    const again = await driver().provision(makeJob('provision', uuid), progress);
    expect(again.config).toEqual(first.config);
  });

  it('changes the plan: maxmemory, pod memory and generation label', async () => {
    await driver().changePlan(makeJob('change_plan', uuid, { generation: 2, memoryMb: 256, plan: 'big' }), progress);
    expect(secretText(name, 'redis.conf')).toContain('maxmemory 256mb');
    const sts = fake.get('statefulsets', NS, name) as unknown as { spec: { template: { spec: { containers: Array<{ resources: { limits: { memory: string } } }> } } } };
    expect(sts.spec.template.spec.containers[0]?.resources.limits.memory).toBe('320Mi');
    expect(fake.get('statefulsets', NS, name)?.metadata.labels?.['addons.example.com/generation']).toBe('2');
  });

  it('rotates then revokes credentials through the Secret', async () => {
    const rotated = await driver().rotateCredentials(makeJob('rotate_credentials', uuid, { generation: 3 }), progress);
    expect(rotated.config.MYREDIS_URL).toMatch(/^rediss:\/\/u3:/);
    expect(secretText(name, 'users.acl')).toMatch(/user u1 on[\s\S]*user u3 on/);
    await driver().revokeCredentials(makeJob('revoke_credentials', uuid, { generation: 4, params: { revokeUser: 'u1' } }), progress);
    expect(secretText(name, 'users.acl')).not.toContain('user u1 ');
    expect(secretText(name, 'users.acl')).not.toContain(new URL(rotated.config.MYREDIS_URL ?? '').password);
    expect(await driver().inventory()).toEqual([{ uuid, generation: 4, plan: 'big', ready: true }]);
  });

  it('fails permanently for an unknown instance', async () => {
    await expect(driver().changePlan(makeJob('change_plan', randomUUID()), progress)).rejects.toMatchObject({ code: 'instance_not_found' });
  });

  it('deprovisions every object, idempotently', async () => {
    await driver().deprovision(makeJob('deprovision', uuid, { generation: 5 }), progress);
    await driver().deprovision(makeJob('deprovision', uuid, { generation: 5 }), progress);
    expect([...fake.objects.keys()]).toEqual([]);
    expect(await driver().inventory()).toEqual([]);
  });

  it('only makes the calls KUBE_CALLS declares', () => {
    const declared = new Set(KUBE_CALLS.flatMap((c) => c.verbs.map((v) => `${c.group}/${c.resource}:${v}`)));
    const made = new Set(fake.calls.map((c) => `${c.group}/${c.resource}:${c.verb}`));
    expect([...made].filter((c) => !declared.has(c))).toEqual([]);
    expect(made.size).toBeGreaterThan(5);
  });

  it('is rejected by the fake like a real API server would reject an invalid object', async () => {
    const kube = createKubeApi(kubeConfig(fake.url));
    const bad = { apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'bad', namespace: NS }, spec: { replicas: 'one' } };
    await expect(kube.apply(bad)).rejects.toMatchObject({ code: 422 });
  });
});
