/**
 * A fake cert-manager controller for the fake kube-apiserver: for each Certificate naming a
 * known issuer it signs a real leaf for `spec.dnsNames` with a CA of its own, writes it to
 * `spec.secretName` (type kubernetes.io/tls: tls.crt, tls.key, ca.crt) and sets the
 * Certificate's Ready condition. A Certificate naming an unknown issuer stays Ready=False
 * with cert-manager's message, as the real controller leaves it.
 */
import { X509Certificate } from 'node:crypto';
import { createPrivateCa, type TlsIssuer } from '../../region-agent/src/tls/private-ca.js';
import type { FakeKubeApiServer, Obj } from './fake-kube-apiserver.js';
import { createSerialWork } from './serial-work.js';

interface CertificateSpec {
  secretName: string;
  dnsNames: string[];
  issuerRef: { name: string; kind?: string };
}

export interface FakeCertManager {
  /** The issuer's CA, which clients trust. */
  caPem(): Promise<string>;
  /** Re-issues a Certificate's leaf now, as a renewal would. */
  renew(namespace: string, name: string): Promise<void>;
  idle(): Promise<void>;
}

export function startFakeCertManager(
  fake: FakeKubeApiServer,
  opts: { dir: string; issuers: string[]; delayMs?: number },
): FakeCertManager {
  const ca: TlsIssuer = createPrivateCa({ dir: opts.dir, region: 'cert-manager-issuer' });
  const work = createSerialWork('fake cert-manager');

  function setReady(
    cert: Obj,
    status: 'True' | 'False',
    reason: string,
    message: string,
    notAfter?: string,
  ): void {
    cert.status = {
      conditions: [
        {
          type: 'Ready',
          status,
          reason,
          message,
          lastTransitionTime: new Date().toISOString(),
          observedGeneration: cert.metadata.generation,
        },
      ],
      ...(notAfter ? { notAfter } : {}),
    };
    fake.put('certificates', cert);
  }

  /** True when the Secret already holds a leaf for exactly these names. */
  function upToDate(namespace: string, spec: CertificateSpec): boolean {
    const data = fake.get('secrets', namespace, spec.secretName)?.data as
      Record<string, string> | undefined;
    if (!data?.['tls.crt']) return false;
    const cert = new X509Certificate(Buffer.from(data['tls.crt'], 'base64'));
    return spec.dnsNames.every((n) => cert.checkHost(n) !== undefined);
  }

  async function reconcile(namespace: string, name: string, force: boolean): Promise<void> {
    if (opts.delayMs) await new Promise((r) => setTimeout(r, opts.delayMs));
    const cert = fake.get('certificates', namespace, name);
    if (!cert) return;
    const spec = cert.spec as CertificateSpec;
    if (!opts.issuers.includes(spec.issuerRef.name)) {
      return setReady(
        cert,
        'False',
        'DoesNotExist',
        `Issuing certificate as Secret does not exist: ${spec.issuerRef.kind ?? 'Issuer'} "${spec.issuerRef.name}" not found`,
      );
    }
    if (!force && upToDate(namespace, spec)) return;
    const issued = await ca.issue(name.slice(0, 64), spec.dnsNames); // CN is at most 64 bytes
    const b64 = (s: string): string => Buffer.from(s).toString('base64');
    fake.put('secrets', {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'kubernetes.io/tls',
      metadata: {
        name: spec.secretName,
        namespace,
        labels: { 'controller.cert-manager.io/fao': 'true' },
        annotations: { 'cert-manager.io/certificate-name': name },
      },
      data: {
        'tls.crt': b64(issued.certPem),
        'tls.key': b64(issued.keyPem),
        'ca.crt': b64(issued.caPem),
      },
    });
    setReady(
      cert,
      'True',
      'Ready',
      'Certificate is up to date and has not expired',
      issued.notAfter,
    );
  }

  const enqueue = (namespace: string, name: string, force: boolean): Promise<void> =>
    work.enqueue(() => reconcile(namespace, name, force));

  fake.onWrite((e) => {
    if (e.resource !== 'certificates' || e.type === 'deleted') return;
    // Our own status writes come back through put(); only a spec not yet observed needs work.
    const observed = (
      e.obj.status as { conditions?: Array<{ observedGeneration?: number }> } | undefined
    )?.conditions?.[0]?.observedGeneration;
    if (observed !== e.obj.metadata.generation)
      void enqueue(e.namespace, e.obj.metadata.name, false);
  });

  return {
    caPem: () => ca.caPem(),
    renew: (namespace, name) => enqueue(namespace, name, true),
    idle: () => work.idle(),
  };
}
