/**
 * The Kubernetes form of a TLS-only instance: Secret (the engine's config files, TLS,
 * passwords), StatefulSet, Service, NetworkPolicy, PodDisruptionBudget. Pure functions: the
 * same input always gives the same objects, so server-side apply is idempotent.
 */
import { createHash } from 'node:crypto';
import type { ServerLayout } from '../../engines/engine.js';
import { ANNOTATIONS, LABELS, managedLabels } from './labels.js';
import { instanceName, type InstanceSpec } from './spec.js';

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

export function selectorLabels(s: InstanceSpec): Record<string, string> {
  return { [LABELS.name]: s.engine.name, [LABELS.instance]: instanceName(s.engine, s.uuid) };
}

function labels(s: InstanceSpec): Record<string, string> {
  return {
    ...selectorLabels(s),
    ...managedLabels(),
    [LABELS.uuid]: s.uuid,
    [LABELS.plan]: s.plan,
    [LABELS.generation]: String(s.generation),
  };
}

const meta = (s: InstanceSpec): KubeObject['metadata'] => ({
  name: instanceName(s.engine, s.uuid),
  namespace: s.namespace,
  labels: labels(s),
});

const portName = (s: InstanceSpec): string => `${s.engine.name}-tls`;

/** Where the pod finds its files: the Secret (and cert-manager's) at the config mount. */
export function podLayout(s: InstanceSpec): ServerLayout {
  const dir = s.engine.mounts.config;
  return {
    port: s.engine.port,
    configDir: dir,
    dataDir: s.engine.mounts.data,
    tls: {
      cert: `${dir}/tls.crt`,
      key: `${dir}/tls.key`,
      ...(s.tls.secretName ? {} : { ca: `${dir}/ca.crt` }),
    },
  };
}

const container = (s: InstanceSpec): ReturnType<InstanceSpec['engine']['container']> =>
  s.engine.container(s, podLayout(s));

export function secretObject(s: InstanceSpec): KubeObject {
  const passwords = Object.fromEntries(
    Object.entries(s.users).map(([u, p]) => [`password-${u}`, p]),
  );
  const size = { ...s.size, storageGb: container(s).storageGb };
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    // The size is kept so upkeep can re-apply the instance without a job.
    metadata: { ...meta(s), annotations: { [ANNOTATIONS.size]: JSON.stringify(size) } },
    type: 'Opaque',
    stringData: {
      ...s.engine.configFiles(s, podLayout(s)),
      ...(s.tls.secretName
        ? {}
        : { 'tls.crt': s.tls.certPem, 'tls.key': s.tls.keyPem, 'ca.crt': s.tls.caPem }),
      'current-user': s.currentUser,
      ...passwords,
    },
  };
}

function podSpec(s: InstanceSpec): Record<string, unknown> {
  const c = container(s);
  return {
    securityContext: {
      runAsNonRoot: true,
      runAsUser: c.uid,
      fsGroup: c.uid,
      seccompProfile: { type: 'RuntimeDefault' },
    },
    automountServiceAccountToken: false,
    containers: [
      {
        name: s.engine.name,
        image: c.image,
        ...(c.command ? { command: c.command } : {}),
        args: c.args,
        ports: [{ name: portName(s), containerPort: s.engine.port }],
        resources: c.resources,
        securityContext: {
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
          capabilities: { drop: ['ALL'] },
        },
        readinessProbe: { tcpSocket: { port: portName(s) }, periodSeconds: 5 },
        volumeMounts: [
          { name: 'config', mountPath: s.engine.mounts.config, readOnly: true },
          { name: 'data', mountPath: s.engine.mounts.data },
        ],
      },
    ],
    volumes: [
      {
        name: 'config',
        projected: {
          defaultMode: 0o440,
          sources: [
            { secret: { name: instanceName(s.engine, s.uuid) } },
            ...(s.tls.secretName ? [{ secret: { name: s.tls.secretName } }] : []),
          ],
        },
      },
    ],
  };
}

export function statefulSetObject(s: InstanceSpec): KubeObject {
  const name = instanceName(s.engine, s.uuid);
  const checksum = createHash('sha256')
    .update(JSON.stringify(secretObject(s).stringData))
    .update(s.tls.certPem)
    .digest('hex');
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: meta(s),
    spec: {
      serviceName: name,
      replicas: 1,
      // Deprovision removes the data volume with the StatefulSet (no PVC verbs needed).
      persistentVolumeClaimRetentionPolicy: { whenDeleted: 'Delete', whenScaled: 'Retain' },
      selector: { matchLabels: selectorLabels(s) },
      template: {
        // The checksum rolls the pod when config, users or certificates change.
        metadata: { labels: labels(s), annotations: { [ANNOTATIONS.checksum]: checksum } },
        spec: podSpec(s),
      },
      volumeClaimTemplates: [
        {
          metadata: { name: 'data' },
          spec: {
            accessModes: ['ReadWriteOnce'],
            resources: { requests: { storage: `${container(s).storageGb}Gi` } },
          },
        },
      ],
    },
  };
}

export function serviceObject(s: InstanceSpec): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      ...meta(s),
      // external-dns publishes the client-facing name for the load balancer's address.
      ...(s.serviceType === 'LoadBalancer'
        ? { annotations: { [ANNOTATIONS.externalDnsHostname]: s.publicHost } }
        : {}),
    },
    spec: {
      type: s.serviceType,
      selector: selectorLabels(s),
      ports: [{ name: portName(s), port: s.engine.port, targetPort: portName(s), protocol: 'TCP' }],
    },
  };
}

export function networkPolicyObject(s: InstanceSpec): KubeObject {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: meta(s),
    spec: {
      podSelector: { matchLabels: selectorLabels(s) },
      policyTypes: ['Ingress', 'Egress'],
      // The TLS port only; no egress at all (a standalone server needs none).
      ingress: [{ ports: [{ port: s.engine.port, protocol: 'TCP' }] }],
      egress: [],
    },
  };
}

export function podDisruptionBudgetObject(s: InstanceSpec): KubeObject {
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: meta(s),
    spec: { maxUnavailable: 0, selector: { matchLabels: selectorLabels(s) } },
  };
}

/** In apply order: the Secret first so the pod never starts without its config. */
export function instanceObjects(s: InstanceSpec): KubeObject[] {
  return [
    secretObject(s),
    serviceObject(s),
    networkPolicyObject(s),
    podDisruptionBudgetObject(s),
    statefulSetObject(s),
  ];
}
