/**
 * TLS_ISSUER=cert-manager with the kubernetes driver: the agent requests a Certificate, waits
 * for cert-manager's Secret, mounts it into the pod, and reports no <PREFIX>_TLS_CA. A fake
 * cert-manager signs real leaves; the fake kubelet runs real TLS redis pods.
 */
import { randomUUID, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { createLogger } from '../../shared/src/logger.js';
import {
  createCertManagerCertificates,
  type IssuerRef,
} from '../../region-agent/src/drivers/kubernetes/certificates.js';
import { createKubeApi } from '../../region-agent/src/drivers/kubernetes/client.js';
import { createKubernetesDriver } from '../../region-agent/src/drivers/kubernetes/driver.js';
import { withRedis } from '../../region-agent/src/engines/redis/client.js';
import { startFakeCertManager, type FakeCertManager } from '../support/fake-cert-manager.js';
import { startFakeKubeApiServer, type FakeKubeApiServer } from '../support/fake-kube-apiserver.js';
import { redisImage, startFakeKubelet, type FakeKubelet } from '../support/fake-kubelet.js';
import { kubeConfig } from './kube-config.js';
import { makeJob, redisEngines } from './support.js';

const NS = 'addon-instances';
const ZONE = 'eu-west.redis.example.com';
const dir = mkdtempSync(join(tmpdir(), 'ra-cert-manager-'));
const log = createLogger({ name: 'cert-manager-test', level: 'silent' });
const progress = async (): Promise<void> => {};
let fake: FakeKubeApiServer;
let kubelet: FakeKubelet;
let certManager: FakeCertManager;

function driver(
  issuerRef: IssuerRef = { name: 'letsencrypt', kind: 'ClusterIssuer' },
  timeoutMs = 20_000,
): ReturnType<typeof createKubernetesDriver> {
  const kube = createKubeApi(kubeConfig(fake.url, NS));
  return createKubernetesDriver({
    kube,
    namespace: NS,
    hostname: ZONE,
    tls: {
      mode: 'cert-manager',
      certificates: createCertManagerCertificates({
        kube,
        namespace: NS,
        issuerRef,
        log,
        pollMs: 50,
        timeoutMs,
      }),
    },
    log,
    engines: redisEngines(),
    probe: (t, engine) => engine.ready({ ...t, ...kubelet.endpoint(t.host) }),
    pollMs: 50,
    readyTimeoutMs: 20_000,
  });
}

beforeAll(async () => {
  fake = await startFakeKubeApiServer({ readiness: 'manual' });
  kubelet = startFakeKubelet(fake, {
    namespace: NS,
    images: redisImage(),
    dir: join(dir, 'pods'),
  });
  certManager = startFakeCertManager(fake, {
    dir: join(dir, 'issuer'),
    issuers: ['letsencrypt'],
    delayMs: 100,
  });
});
afterAll(async () => {
  await kubelet.stop();
  await fake.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('kubernetes driver with cert-manager', () => {
  const uuid = randomUUID();
  const name = `redis-${uuid}`;
  const host = `${name}.${ZONE}`;

  it('requests a Certificate, serves its leaf, and reports only the URL', async () => {
    const out = await driver().provision(makeJob('provision', uuid), progress);
    expect(Object.keys(out.config)).toEqual(['MYREDIS_URL']);
    const cert = fake.get('certificates', NS, name) as unknown as { spec: Record<string, unknown> };
    expect(cert.spec).toMatchObject({
      secretName: `${name}-tls`,
      dnsNames: [host],
      issuerRef: { name: 'letsencrypt', kind: 'ClusterIssuer', group: 'cert-manager.io' },
      privateKey: { algorithm: 'ECDSA', size: 256 },
    });
    // The instance Secret carries no key material of its own.
    const data = fake.get('secrets', NS, name)?.data as Record<string, string>;
    expect(Object.keys(data)).not.toContain('tls.key');
    // A client trusting the issuer (as it would trust a public CA) verifies chain and host name.
    const url = new URL(out.config.MYREDIS_URL ?? '');
    const target = { ...kubelet.endpoint(host), servername: host, ca: await certManager.caPem() };
    const got = await withRedis(
      { ...target, user: url.username, password: decodeURIComponent(url.password) },
      async (c) => [await c.set('k', 'v'), await c.get('k')],
    );
    expect(got).toEqual(['OK', 'v']);
    const served = new X509Certificate(
      Buffer.from(
        (fake.get('secrets', NS, `${name}-tls`)?.data as Record<string, string>)['tls.crt'] ?? '',
        'base64',
      ),
    );
    expect(out.certificate?.fingerprint).toBe(served.fingerprint256);
  });

  it('answers a redelivered provision with the same URL and the same certificate', async () => {
    const first = await driver().provision(makeJob('provision', uuid), progress);
    const again = await driver().provision(makeJob('provision', uuid), progress);
    expect(again).toEqual(first);
  });

  it('rolls the pod onto a leaf cert-manager renewed, on the next job', async () => {
    const before = (await driver().provision(makeJob('provision', uuid), progress)).certificate
      ?.fingerprint;
    await certManager.renew(NS, name);
    const after = await driver().provision(makeJob('provision', uuid), progress);
    expect(after.certificate?.fingerprint).not.toBe(before);
    const ca = await certManager.caPem();
    const seen = await new Promise<string>((resolve, reject) => {
      const s = tlsConnect({ ...kubelet.endpoint(host), servername: host, ca }, () => {
        resolve(s.getPeerX509Certificate()?.fingerprint256 ?? '');
        s.destroy();
      });
      s.once('error', reject);
    });
    expect(seen).toBe(after.certificate?.fingerprint);
  });

  it("fails with cert-manager's own words when the issuer does not exist", async () => {
    const other = randomUUID();
    await expect(
      driver({ name: 'no-such-issuer', kind: 'ClusterIssuer' }, 1_000).provision(
        makeJob('provision', other),
        progress,
      ),
    ).rejects.toThrow(
      /cert-manager did not issue the certificate .* \(DoesNotExist: .*"no-such-issuer" not found\)/,
    );
    expect(fake.get('statefulsets', NS, `redis-${other}`)).toBeUndefined();
    await driver().deprovision(makeJob('deprovision', other), progress);
  });

  it('deprovision removes the Certificate and its Secret too', async () => {
    await driver().deprovision(makeJob('deprovision', uuid, { generation: 3 }), progress);
    expect(
      [...fake.objects.keys()].filter((k) => k.includes(uuid) && !k.startsWith('configmaps/')),
    ).toEqual([]);
    await kubelet.idle();
    expect(kubelet.running()).not.toContain(name);
  });
});
