/**
 * Deprovision tombstones: a ConfigMap left behind so a stale provision job (a redelivery
 * that lost the race) cannot bring the instance back. Holds no secrets; pruned after a
 * retention period.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import type { KubeApi } from './client.js';
import { LABELS, MANAGED_SELECTOR, managedLabels } from './labels.js';
import type { KubeObject } from './objects.js';

export const tombstoneName = (instance: string): string => `${instance}-deprovisioned`;

export function tombstoneObject(
  instance: string,
  uuid: string,
  namespace: string,
  generation: number,
  at: Date,
): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: tombstoneName(instance),
      namespace,
      labels: { ...managedLabels(), [LABELS.uuid]: uuid, [LABELS.deprovisioned]: 'true' },
    },
    data: { generation: String(generation), deprovisionedAt: at.toISOString() },
  };
}

/** Whether a deprovision left its tombstone for the instance `name`. */
export async function tombstoned(kube: KubeApi, namespace: string, name: string): Promise<boolean> {
  return (await kube.get('v1', 'ConfigMap', namespace, tombstoneName(name))) !== undefined;
}

/** Removes tombstones older than `ttlMs`. */
export async function pruneTombstones(
  kube: KubeApi,
  namespace: string,
  ttlMs: number,
  now: number,
): Promise<void> {
  const stones = (await kube.list(
    'v1',
    'ConfigMap',
    namespace,
    `${MANAGED_SELECTOR},${LABELS.deprovisioned}=true`,
  )) as Array<KubernetesObject & { data?: Record<string, string> }>;
  for (const stone of stones) {
    const at = Date.parse(stone.data?.deprovisionedAt ?? '');
    if (Number.isFinite(at) && now - at > ttlMs && stone.metadata?.name) {
      await kube.remove('v1', 'ConfigMap', namespace, stone.metadata.name);
    }
  }
}
