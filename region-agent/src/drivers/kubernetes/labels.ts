/**
 * Every label and annotation key the kubernetes driver writes or selects on, in one place:
 * instance objects, tombstones, the CA Secret and cert-manager Certificates all use these.
 */
const DOMAIN = 'addons.example.com';

export const LABELS = {
  name: 'app.kubernetes.io/name',
  instance: 'app.kubernetes.io/instance',
  managedBy: 'app.kubernetes.io/managed-by',
  uuid: `${DOMAIN}/uuid`,
  plan: `${DOMAIN}/plan`,
  generation: `${DOMAIN}/generation`,
  role: `${DOMAIN}/role`,
  /** On a deprovision tombstone ConfigMap. */
  deprovisioned: `${DOMAIN}/deprovisioned`,
} as const;

export const ANNOTATIONS = {
  /** The instance's size as JSON, so upkeep can re-apply it without a job. */
  size: `${DOMAIN}/size`,
  /** Rolls the pod when its config, credentials or certificate change. */
  checksum: 'checksum/config',
  /** external-dns publishes this name for a LoadBalancer Service. */
  externalDnsHostname: 'external-dns.alpha.kubernetes.io/hostname',
} as const;

export const MANAGER = 'region-agent';

/** Selects every object this agent manages. */
export const MANAGED_SELECTOR = `${LABELS.managedBy}=${MANAGER}`;

export const managedLabels = (): Record<string, string> => ({ [LABELS.managedBy]: MANAGER });
