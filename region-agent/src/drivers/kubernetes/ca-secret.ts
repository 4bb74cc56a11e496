/**
 * The regional private CA kept in a Kubernetes Secret (type kubernetes.io/tls, keys
 * `tls.crt` and `tls.key`, the shape a cert-manager CA Issuer also reads). Created with a
 * plain create, so when two agents start at once the first one wins and the other reads
 * it back: every leaf in the region chains to the same CA.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import type { CaMaterial, CaStore } from '../../tls/private-ca.js';
import type { KubeApi } from './client.js';
import { LABELS, managedLabels } from './labels.js';

type SecretObject = KubernetesObject & { data?: Record<string, string> };

const text = (data: Record<string, string> | undefined, key: string): string | undefined => {
  const v = data?.[key];
  return v === undefined ? undefined : Buffer.from(v, 'base64').toString('utf8');
};

export function secretCaStore(kube: KubeApi, namespace: string, name: string): CaStore {
  const location = `Secret ${namespace}/${name}`;

  async function load(): Promise<CaMaterial | undefined> {
    const secret = (await kube.get('v1', 'Secret', namespace, name)) as SecretObject | undefined;
    if (!secret) return undefined;
    const certPem = text(secret.data, 'tls.crt');
    const keyPem = text(secret.data, 'tls.key');
    if (!certPem || !keyPem) throw new Error(`${location} exists but lacks tls.crt or tls.key`);
    return { certPem, keyPem };
  }

  return {
    location,
    load,
    async create(ca: CaMaterial): Promise<CaMaterial> {
      const created = await kube.create({
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: {
          name,
          namespace,
          labels: { ...managedLabels(), [LABELS.role]: 'private-ca' },
        },
        type: 'kubernetes.io/tls',
        stringData: { 'tls.crt': ca.certPem, 'tls.key': ca.keyPem },
      });
      if (created) return ca;
      const winner = await load();
      if (!winner) throw new Error(`${location} was reported as existing but cannot be read`);
      return winner;
    },
  };
}
