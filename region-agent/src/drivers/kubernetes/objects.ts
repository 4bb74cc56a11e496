/**
 * The Kubernetes form of a TLS-only redis instance: Secret (config, ACL, TLS, passwords),
 * StatefulSet, Service, NetworkPolicy, PodDisruptionBudget. Pure functions: the same input
 * always gives the same objects, so server-side apply is idempotent.
 */
import { createHash } from 'node:crypto';

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [key: string]: unknown;
}

export interface RedisInstanceSpec {
  uuid: string;
  plan: string;
  generation: number;
  memoryMb: number;
  cpuMillis: number;
  storageGb: number;
  namespace: string;
  image: string;
  /** The name clients use (`redis-<uuid>.<zone>`), published by external-dns for a LoadBalancer. */
  publicHost: string;
  serviceType: ServiceType;
  /** ACL users (name → password) and the TLS material. */
  users: Record<string, string>;
  currentUser: string;
  /**
   * The leaf. With a private CA it is embedded in the instance Secret; with cert-manager
   * (`secretName` set) it lives in cert-manager's Secret and `certPem` is only read back
   * for the fingerprint, so the pod rolls when cert-manager renews it.
   */
  tls: { certPem: string; keyPem: string; caPem: string; secretName?: string };
}

export const REDIS_PORT = 6379;

/** LoadBalancer: reachable from outside the cluster; ClusterIP: only from inside (peered apps). */
export type ServiceType = 'LoadBalancer' | 'ClusterIP';

/** The in-cluster name of the instance's Service (the agent probes through it). */
export function clusterHost(uuid: string, namespace: string): string {
  return `${instanceName(uuid)}.${namespace}.svc`;
}

export function instanceName(uuid: string): string {
  return `redis-${uuid}`;
}

export function selectorLabels(uuid: string): Record<string, string> {
  return { 'app.kubernetes.io/name': 'redis', 'app.kubernetes.io/instance': instanceName(uuid) };
}

function labels(s: RedisInstanceSpec): Record<string, string> {
  return {
    ...selectorLabels(s.uuid),
    'app.kubernetes.io/managed-by': 'region-agent',
    'addons.example.com/uuid': s.uuid,
    'addons.example.com/plan': s.plan,
    'addons.example.com/generation': String(s.generation),
  };
}

function redisConf(s: RedisInstanceSpec): string {
  return [
    'port 0',
    `tls-port ${REDIS_PORT}`,
    'tls-cert-file /etc/redis/tls/tls.crt',
    'tls-key-file /etc/redis/tls/tls.key',
    // A publicly trusted leaf may come without ca.crt; redis only needs a CA to verify clients.
    ...(s.tls.secretName ? [] : ['tls-ca-cert-file /etc/redis/tls/ca.crt']),
    'tls-auth-clients no',
    `maxmemory ${s.memoryMb}mb`,
    'aclfile /etc/redis/tls/users.acl',
    'dir /data',
    'appendonly yes',
    '',
  ].join('\n');
}

function aclFile(s: RedisInstanceSpec): string {
  const lines = ['user default off nopass nocommands'];
  for (const [name, password] of Object.entries(s.users)) {
    lines.push(
      `user ${name} on #${createHash('sha256').update(password).digest('hex')} ~* &* +@all`,
    );
  }
  return `${lines.join('\n')}\n`;
}

export const SIZE_ANNOTATION = 'addons.example.com/size';

export function secretObject(s: RedisInstanceSpec): KubeObject {
  const passwords = Object.fromEntries(
    Object.entries(s.users).map(([u, p]) => [`password-${u}`, p]),
  );
  const size = { memoryMb: s.memoryMb, cpuMillis: s.cpuMillis, storageGb: s.storageGb };
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    // The size is kept so upkeep can re-apply the instance without a job.
    metadata: {
      name: instanceName(s.uuid),
      namespace: s.namespace,
      labels: labels(s),
      annotations: { [SIZE_ANNOTATION]: JSON.stringify(size) },
    },
    type: 'Opaque',
    stringData: {
      'redis.conf': redisConf(s),
      'users.acl': aclFile(s),
      ...(s.tls.secretName
        ? {}
        : { 'tls.crt': s.tls.certPem, 'tls.key': s.tls.keyPem, 'ca.crt': s.tls.caPem }),
      'current-user': s.currentUser,
      ...passwords,
    },
  };
}

function podSpec(s: RedisInstanceSpec): Record<string, unknown> {
  const memory = `${Math.ceil(s.memoryMb * 1.25)}Mi`;
  return {
    securityContext: {
      runAsNonRoot: true,
      runAsUser: 999,
      fsGroup: 999,
      seccompProfile: { type: 'RuntimeDefault' },
    },
    automountServiceAccountToken: false,
    containers: [
      {
        name: 'redis',
        image: s.image,
        args: ['/etc/redis/tls/redis.conf'],
        ports: [{ name: 'redis-tls', containerPort: REDIS_PORT }],
        resources: {
          requests: { cpu: `${s.cpuMillis}m`, memory },
          limits: { memory },
        },
        securityContext: {
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
          capabilities: { drop: ['ALL'] },
        },
        readinessProbe: { tcpSocket: { port: 'redis-tls' }, periodSeconds: 5 },
        volumeMounts: [
          { name: 'config', mountPath: '/etc/redis/tls', readOnly: true },
          { name: 'data', mountPath: '/data' },
        ],
      },
    ],
    volumes: [
      {
        name: 'config',
        projected: {
          defaultMode: 0o440,
          sources: [
            { secret: { name: instanceName(s.uuid) } },
            ...(s.tls.secretName ? [{ secret: { name: s.tls.secretName } }] : []),
          ],
        },
      },
    ],
  };
}

export function statefulSetObject(s: RedisInstanceSpec): KubeObject {
  const name = instanceName(s.uuid);
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name, namespace: s.namespace, labels: labels(s) },
    spec: {
      serviceName: name,
      replicas: 1,
      // Deprovision removes the data volume with the StatefulSet (no PVC verbs needed).
      persistentVolumeClaimRetentionPolicy: { whenDeleted: 'Delete', whenScaled: 'Retain' },
      selector: { matchLabels: selectorLabels(s.uuid) },
      template: {
        // The checksum rolls the pod when config, ACL or certificates change.
        metadata: {
          labels: labels(s),
          annotations: {
            'checksum/config': createHash('sha256')
              .update(JSON.stringify(secretObject(s).stringData))
              .update(s.tls.certPem)
              .digest('hex'),
          },
        },
        spec: podSpec(s),
      },
      volumeClaimTemplates: [
        {
          metadata: { name: 'data' },
          spec: {
            accessModes: ['ReadWriteOnce'],
            resources: { requests: { storage: `${s.storageGb}Gi` } },
          },
        },
      ],
    },
  };
}

export function serviceObject(s: RedisInstanceSpec): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: instanceName(s.uuid),
      namespace: s.namespace,
      labels: labels(s),
      // external-dns publishes the client-facing name for the load balancer's address.
      ...(s.serviceType === 'LoadBalancer'
        ? { annotations: { 'external-dns.alpha.kubernetes.io/hostname': s.publicHost } }
        : {}),
    },
    spec: {
      type: s.serviceType,
      selector: selectorLabels(s.uuid),
      ports: [{ name: 'redis-tls', port: REDIS_PORT, targetPort: 'redis-tls', protocol: 'TCP' }],
    },
  };
}

export function networkPolicyObject(s: RedisInstanceSpec): KubeObject {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name: instanceName(s.uuid), namespace: s.namespace, labels: labels(s) },
    spec: {
      podSelector: { matchLabels: selectorLabels(s.uuid) },
      policyTypes: ['Ingress', 'Egress'],
      // TLS port only; no egress at all (redis needs none).
      ingress: [{ ports: [{ port: REDIS_PORT, protocol: 'TCP' }] }],
      egress: [],
    },
  };
}

export function podDisruptionBudgetObject(s: RedisInstanceSpec): KubeObject {
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: { name: instanceName(s.uuid), namespace: s.namespace, labels: labels(s) },
    spec: { maxUnavailable: 0, selector: { matchLabels: selectorLabels(s.uuid) } },
  };
}

/** In apply order: the Secret first so the pod never starts without its config. */
export function instanceObjects(s: RedisInstanceSpec): KubeObject[] {
  return [
    secretObject(s),
    serviceObject(s),
    networkPolicyObject(s),
    podDisruptionBudgetObject(s),
    statefulSetObject(s),
  ];
}

export const TOMBSTONE_LABEL = 'addons.example.com/deprovisioned';

export const tombstoneName = (uuid: string): string => `${instanceName(uuid)}-deprovisioned`;

/**
 * Left behind by a deprovision so a stale provision job (a redelivery that lost the race)
 * cannot bring the instance back. Holds no secrets; pruned after a retention period.
 */
export function tombstoneObject(
  uuid: string,
  namespace: string,
  generation: number,
  at: Date,
): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: tombstoneName(uuid),
      namespace,
      labels: {
        'app.kubernetes.io/managed-by': 'region-agent',
        'addons.example.com/uuid': uuid,
        [TOMBSTONE_LABEL]: 'true',
      },
    },
    data: { generation: String(generation), deprovisionedAt: at.toISOString() },
  };
}
