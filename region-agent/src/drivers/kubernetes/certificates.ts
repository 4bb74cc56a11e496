/**
 * TLS_ISSUER=cert-manager: each instance gets a cert-manager `Certificate` for a configured
 * Issuer or ClusterIssuer (publicly trusted certificates in production). The agent applies
 * it, waits until cert-manager reports it Ready and its Secret holds a leaf for the
 * instance's hostname, and mounts that Secret into the pod. cert-manager renews it; the
 * pod picks a renewed leaf up on the next apply (its fingerprint is in the pod checksum).
 */
import { X509Certificate } from 'node:crypto';
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from '../../../../shared/src/logger.js';
import type { Progress } from '../../driver.js';
import type { KubeApi } from './client.js';
import { LABELS, managedLabels } from './labels.js';
import type { KubeObject } from './objects.js';

export interface IssuerRef {
  name: string;
  kind: 'Issuer' | 'ClusterIssuer';
}

export interface CertManagerCertificates {
  /** Applies the Certificate and waits for its Secret. */
  ensure(
    name: string,
    uuid: string,
    dnsNames: string[],
    progress: Progress,
  ): Promise<{ certPem: string; caPem: string | undefined; secretName: string }>;
  /** Deletes the Certificate and its Secret (cert-manager leaves the Secret behind). */
  remove(name: string, uuid: string): Promise<void>;
}

export interface CertManagerOptions {
  kube: KubeApi;
  namespace: string;
  issuerRef: IssuerRef;
  log: Logger;
  timeoutMs?: number;
  pollMs?: number;
}

type Condition = { type?: string; status?: string; reason?: string; message?: string };
type CertificateObject = KubernetesObject & { status?: { conditions?: Condition[] } };
type SecretObject = KubernetesObject & { data?: Record<string, string> };

export const CERTIFICATE_API = 'cert-manager.io/v1';

export const tlsSecretName = (name: string): string => `${name}-tls`;

export function certificateObject(
  name: string,
  uuid: string,
  namespace: string,
  dnsNames: string[],
  issuerRef: IssuerRef,
): KubeObject {
  const labels = { ...managedLabels(), [LABELS.uuid]: uuid };
  return {
    apiVersion: CERTIFICATE_API,
    kind: 'Certificate',
    metadata: { name, namespace, labels },
    spec: {
      secretName: tlsSecretName(name),
      secretTemplate: { labels },
      // No commonName: it is limited to 64 bytes (our host names are longer) and clients use SANs.
      dnsNames,
      usages: ['server auth', 'digital signature'],
      privateKey: { algorithm: 'ECDSA', size: 256, rotationPolicy: 'Always' },
      issuerRef: { ...issuerRef, group: 'cert-manager.io' },
    },
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const decode = (data: Record<string, string> | undefined, key: string): string | undefined =>
  data?.[key] === undefined ? undefined : Buffer.from(data[key], 'base64').toString('utf8');

/** The Secret's leaf when it is there and names every host we asked for. */
function usableLeaf(secret: SecretObject | undefined, dnsNames: string[]): string | undefined {
  const certPem = decode(secret?.data, 'tls.crt');
  if (!certPem || !decode(secret?.data, 'tls.key')) return undefined;
  try {
    const cert = new X509Certificate(certPem);
    if (Date.parse(cert.validTo) <= Date.now()) return undefined;
    return dnsNames.every((n) => cert.checkHost(n) !== undefined) ? certPem : undefined;
  } catch {
    return undefined;
  }
}

type Issued = Awaited<ReturnType<CertManagerCertificates['ensure']>>;

/** The issued leaf once the Certificate is Ready and its Secret holds it; else why not. */
async function issued(
  opts: CertManagerOptions,
  name: string,
  dnsNames: string[],
): Promise<Issued | string | undefined> {
  const cert = (await opts.kube.get(CERTIFICATE_API, 'Certificate', opts.namespace, name)) as
    CertificateObject | undefined;
  const ready = cert?.status?.conditions?.find((c) => c.type === 'Ready');
  if (!ready) return undefined;
  if (ready.status !== 'True')
    return `${ready.reason ?? 'NotReady'}: ${ready.message ?? ''}`.trim();
  const secretName = tlsSecretName(name);
  const secret = (await opts.kube.get('v1', 'Secret', opts.namespace, secretName)) as
    SecretObject | undefined;
  const certPem = usableLeaf(secret, dnsNames);
  if (!certPem) return `Secret ${secretName} has no valid leaf for ${dnsNames.join(', ')}`;
  return { certPem, caPem: decode(secret?.data, 'ca.crt') || undefined, secretName };
}

export function createCertManagerCertificates(opts: CertManagerOptions): CertManagerCertificates {
  const pollMs = opts.pollMs ?? 1_000;
  return {
    async ensure(name, uuid, dnsNames, progress) {
      await progress('requesting certificate from cert-manager');
      await opts.kube.apply(
        certificateObject(name, uuid, opts.namespace, dnsNames, opts.issuerRef),
      );
      const deadline = Date.now() + (opts.timeoutMs ?? 300_000);
      let last = 'not issued yet';
      for (;;) {
        const got = await issued(opts, name, dnsNames);
        if (typeof got === 'object') return got;
        last = got ?? last;
        if (Date.now() > deadline) {
          throw new Error(
            `cert-manager did not issue the certificate for ${dnsNames.join(', ')} in time (${last})`,
          );
        }
        await sleep(pollMs);
      }
    },
    async remove(name, uuid) {
      await opts.kube.remove(CERTIFICATE_API, 'Certificate', opts.namespace, name);
      await opts.kube.remove('v1', 'Secret', opts.namespace, tlsSecretName(name));
      opts.log.debug({ resourceId: uuid }, 'certificate removed');
    },
  };
}
