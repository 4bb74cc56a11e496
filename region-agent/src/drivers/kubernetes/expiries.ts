/**
 * When every instance's leaf expires, for agent_certificates_expiring_soon: read from the
 * instances' Secrets (the driver's own with the private CA, cert-manager's, which carries the
 * same labels through its secretTemplate). The region CA's Secret has no uuid label: skipped.
 */
import type { KubeApi } from './client.js';
import { LABELS, MANAGED_SELECTOR } from './labels.js';
import { describeCert } from './tls.js';

interface SecretObject {
  metadata?: { labels?: Record<string, string> };
  data?: Record<string, string>;
}

function leafNotAfter(secret: SecretObject): string | undefined {
  const crt = secret.data?.['tls.crt'];
  if (!secret.metadata?.labels?.[LABELS.uuid] || !crt) return undefined;
  try {
    return describeCert(Buffer.from(crt, 'base64').toString('utf8')).notAfter;
  } catch {
    return undefined; // not a certificate: nothing to count
  }
}

export async function certificateExpiries(kube: KubeApi, namespace: string): Promise<string[]> {
  const secrets = (await kube.list('v1', 'Secret', namespace, MANAGED_SELECTOR)) as SecretObject[];
  return secrets.map(leafNotAfter).filter((at): at is string => at !== undefined);
}
