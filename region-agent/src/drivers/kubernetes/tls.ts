/** The instance's leaf: from the regional private CA (renewed here) or from cert-manager. */
import { X509Certificate } from 'node:crypto';
import type { Logger } from '../../../../shared/src/logger.js';
import type { Progress } from '../../driver.js';
import type { TlsIssuer } from '../../tls/private-ca.js';
import { isDueForRenewal } from '../../tls/renewal.js';
import type { CertManagerCertificates } from './certificates.js';
import { clusterHost, instanceName, type InstanceSpec } from './spec.js';

export type InstanceTls =
  | { mode: 'private-ca'; issuer: TlsIssuer }
  | { mode: 'cert-manager'; certificates: CertManagerCertificates };

export function describeCert(pem: string): { notAfter: string; fingerprint: string } {
  const cert = new X509Certificate(pem);
  return { notAfter: new Date(cert.validTo).toISOString(), fingerprint: cert.fingerprint256 };
}

/** True when the leaf is close to expiry or no longer chains to the CA in use. */
function needsRenewal(certPem: string, caPem: string, now: number): boolean {
  if (!certPem || !caPem) return true;
  try {
    const cert = new X509Certificate(certPem);
    if (isDueForRenewal(cert.validTo, now)) return true;
    return !cert.verify(new X509Certificate(caPem).publicKey);
  } catch {
    return true;
  }
}

/** Issues (or renews) the instance's leaf; returns the spec's TLS part. */
export async function ensureTls(
  tls: InstanceTls,
  spec: InstanceSpec,
  ctx: { now: number; log: Logger },
  progress: Progress,
): Promise<InstanceSpec['tls']> {
  const name = instanceName(spec.engine, spec.uuid);
  if (tls.mode === 'cert-manager') {
    // Only the public name: a public CA cannot validate cluster-internal names.
    const issued = await tls.certificates.ensure(name, spec.uuid, [spec.publicHost], progress);
    return {
      certPem: issued.certPem,
      keyPem: '',
      caPem: issued.caPem ?? '',
      secretName: issued.secretName,
    };
  }
  // The public name, and the in-cluster ones for apps and probes inside the cluster.
  const internal = clusterHost(name, spec.namespace);
  const names = [spec.publicHost, internal, `${internal}.cluster.local`];
  const caPem = await tls.issuer.caPem();
  if (!needsRenewal(spec.tls.certPem, caPem, ctx.now)) return spec.tls;
  await progress(spec.tls.certPem ? 'renewing certificate' : 'issuing certificate');
  const issued = await tls.issuer.issue(spec.uuid, names);
  if (spec.tls.certPem)
    ctx.log.info(
      { resourceId: spec.uuid, notAfter: issued.notAfter },
      'instance certificate renewed',
    );
  return {
    certPem: issued.certPem,
    keyPem: issued.keyPem,
    caPem: issued.caPem,
    issued: { notAfter: issued.notAfter, fingerprint: issued.fingerprint },
  };
}
