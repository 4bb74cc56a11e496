/**
 * Every Kubernetes API call the kubernetes driver makes, for the Helm chart's RBAC test.
 * Server-side apply is a PATCH; applying an object that does not exist yet also needs
 * `create`. Keep this list in step with objects.ts and driver.ts.
 */
export interface KubeCall {
  group: string;
  version: string;
  kind: string;
  resource: string;
  verbs: readonly string[];
  /** Only made when TLS_ISSUER=cert-manager. */
  certManagerOnly?: boolean;
}

const APPLY_READ_DELETE = ['get', 'list', 'create', 'patch', 'delete'] as const;

export const KUBE_CALLS: readonly KubeCall[] = [
  { group: '', version: 'v1', kind: 'Secret', resource: 'secrets', verbs: APPLY_READ_DELETE },
  { group: '', version: 'v1', kind: 'Service', resource: 'services', verbs: APPLY_READ_DELETE },
  // Deprovision tombstones.
  { group: '', version: 'v1', kind: 'ConfigMap', resource: 'configmaps', verbs: APPLY_READ_DELETE },
  {
    group: 'apps',
    version: 'v1',
    kind: 'StatefulSet',
    resource: 'statefulsets',
    verbs: APPLY_READ_DELETE,
  },
  {
    group: 'networking.k8s.io',
    version: 'v1',
    kind: 'NetworkPolicy',
    resource: 'networkpolicies',
    verbs: APPLY_READ_DELETE,
  },
  {
    group: 'policy',
    version: 'v1',
    kind: 'PodDisruptionBudget',
    resource: 'poddisruptionbudgets',
    verbs: APPLY_READ_DELETE,
  },
  {
    group: 'cert-manager.io',
    version: 'v1',
    kind: 'Certificate',
    resource: 'certificates',
    verbs: APPLY_READ_DELETE,
    certManagerOnly: true,
  },
];

export const FIELD_MANAGER = 'region-agent';
