/**
 * The `kubernetes` driver: an instance is a set of objects applied server-side with field
 * manager `region-agent`. Credentials and TLS material live in the instance's Secret, so a
 * redelivered provision reads them back instead of minting new ones. The leaf comes from
 * the regional private CA, or from cert-manager (`certificates.ts`) for public trust.
 */
import { randomBytes, X509Certificate } from 'node:crypto';
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Job } from '../../../../shared/src/messages.js';
import type { Logger } from '../../../../shared/src/logger.js';
import {
  PermanentError,
  type Driver,
  type InstanceOutcome,
  type InstanceSummary,
  type Progress,
} from '../../driver.js';
import type { TlsIssuer } from '../../tls/private-ca.js';
import type { ProbeTarget } from '../probe.js';
import { KUBE_CALLS } from './calls.js';
import type { CertManagerCertificates } from './certificates.js';
import type { KubeApi } from './client.js';
import {
  REDIS_PORT,
  SIZE_ANNOTATION,
  TOMBSTONE_LABEL,
  clusterHost,
  instanceName,
  instanceObjects,
  tombstoneName,
  tombstoneObject,
  type RedisInstanceSpec,
  type ServiceType,
} from './objects.js';

export type { ProbeTarget };

export type InstanceTls =
  | { mode: 'private-ca'; issuer: TlsIssuer }
  | { mode: 'cert-manager'; certificates: CertManagerCertificates };

export interface KubernetesDriverDeps {
  kube: KubeApi;
  namespace: string;
  /** Regional DNS zone: an instance answers at `redis-<uuid>.<hostname>`. */
  hostname: string;
  /** Default LoadBalancer (published by external-dns); ClusterIP for in-cluster clients only. */
  serviceType?: ServiceType;
  tls: InstanceTls;
  log: Logger;
  image?: string;
  /** Honest readiness over TLS (verified chain + AUTH + PING); injected for tests. */
  probe: (target: ProbeTarget) => Promise<boolean>;
  readyTimeoutMs?: number;
  deleteTimeoutMs?: number;
  pollMs?: number;
  /** How long a deprovision tombstone is kept (default 30 days). */
  tombstoneTtlMs?: number;
  now?: () => number;
}

const MANAGED = 'app.kubernetes.io/managed-by=region-agent';
const RENEW_BEFORE_MS = 30 * 86_400_000;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const newPassword = (): string => randomBytes(24).toString('base64url');

type SecretObject = KubernetesObject & { data?: Record<string, string> };
type StatefulSetObject = KubernetesObject & {
  status?: { readyReplicas?: number; updatedReplicas?: number; observedGeneration?: number };
};

function decode(data: Record<string, string> | undefined, key: string): string | undefined {
  const v = data?.[key];
  return v === undefined ? undefined : Buffer.from(v, 'base64').toString('utf8');
}

function describeCert(pem: string): { notAfter: string; fingerprint: string } {
  const cert = new X509Certificate(pem);
  return { notAfter: new Date(cert.validTo).toISOString(), fingerprint: cert.fingerprint256 };
}

/** True when the leaf is close to expiry or no longer chains to the CA in use. */
function needsRenewal(certPem: string, caPem: string, now: number): boolean {
  if (!certPem || !caPem) return true;
  try {
    const cert = new X509Certificate(certPem);
    if (Date.parse(cert.validTo) - now < RENEW_BEFORE_MS) return true;
    return !cert.verify(new X509Certificate(caPem).publicKey);
  } catch {
    return true;
  }
}

export function createKubernetesDriver(deps: KubernetesDriverDeps): Driver {
  const log = deps.log.child({ driver: 'kubernetes', namespace: deps.namespace });
  const now = deps.now ?? Date.now;
  const pollMs = deps.pollMs ?? 1_000;
  const host = (uuid: string): string => `${instanceName(uuid)}.${deps.hostname}`;

  function baseSpec(job: Job): Omit<RedisInstanceSpec, 'users' | 'currentUser' | 'tls'> {
    return {
      uuid: job.resource.uuid,
      plan: job.resource.plan,
      generation: job.generation,
      memoryMb: job.resource.size.memoryMb,
      cpuMillis: job.resource.size.cpuMillis,
      storageGb: job.resource.size.storageGb ?? 1,
      namespace: deps.namespace,
      image: deps.image ?? 'redis:7.4-alpine',
      publicHost: host(job.resource.uuid),
      serviceType: deps.serviceType ?? 'LoadBalancer',
    };
  }

  /** Size and image as the Secret recorded them (for upkeep, which has no job). */
  function storedBase(
    uuid: string,
    secret: SecretObject,
  ): Omit<RedisInstanceSpec, 'users' | 'currentUser' | 'tls'> | undefined {
    const labels = secret.metadata?.labels ?? {};
    try {
      const size = JSON.parse(secret.metadata?.annotations?.[SIZE_ANNOTATION] ?? '') as {
        memoryMb: number;
        cpuMillis: number;
        storageGb: number;
      };
      const job = {
        resource: { uuid, plan: labels['addons.example.com/plan'] ?? '', size },
        generation: Number(labels['addons.example.com/generation'] ?? 0),
      };
      return baseSpec(job as Job);
    } catch {
      return undefined;
    }
  }

  /** The instance as its Secret records it (sized by the job when there is one). */
  async function load(uuid: string, job?: Job): Promise<RedisInstanceSpec | undefined> {
    const secret = (await deps.kube.get('v1', 'Secret', deps.namespace, instanceName(uuid))) as
      SecretObject | undefined;
    if (!secret) return undefined;
    const base = job ? baseSpec(job) : storedBase(uuid, secret);
    if (!base) return undefined;
    const data = secret.data;
    const users: Record<string, string> = {};
    for (const key of Object.keys(data ?? {})) {
      if (key.startsWith('password-'))
        users[key.slice('password-'.length)] = decode(data, key) ?? '';
    }
    const labels = secret.metadata?.labels ?? {};
    return {
      ...base,
      plan: labels['addons.example.com/plan'] ?? base.plan,
      generation: Number(labels['addons.example.com/generation'] ?? base.generation),
      users,
      currentUser: decode(data, 'current-user') ?? Object.keys(users)[0] ?? 'u1',
      tls: {
        certPem: decode(data, 'tls.crt') ?? '',
        keyPem: decode(data, 'tls.key') ?? '',
        caPem: decode(data, 'ca.crt') ?? '',
      },
    };
  }

  /** Issues (or renews) the instance's leaf; returns the spec's TLS part. */
  async function ensureTls(
    spec: Pick<RedisInstanceSpec, 'uuid' | 'tls'>,
    progress: Progress,
  ): Promise<RedisInstanceSpec['tls']> {
    if (deps.tls.mode === 'cert-manager') {
      // Only the public name: a public CA cannot validate cluster-internal names.
      const names = [host(spec.uuid)];
      const issued = await deps.tls.certificates.ensure(spec.uuid, names, progress);
      return {
        certPem: issued.certPem,
        keyPem: '',
        caPem: issued.caPem ?? '',
        secretName: issued.secretName,
      };
    }
    // The public name, and the in-cluster ones for apps and probes inside the cluster.
    const internal = clusterHost(spec.uuid, deps.namespace);
    const names = [host(spec.uuid), internal, `${internal}.cluster.local`];
    const caPem = await deps.tls.issuer.caPem();
    if (!needsRenewal(spec.tls.certPem, caPem, now())) return spec.tls;
    await progress(spec.tls.certPem ? 'renewing certificate' : 'issuing certificate');
    const issued = await deps.tls.issuer.issue(spec.uuid, names);
    if (spec.tls.certPem)
      log.info(
        { resourceId: spec.uuid, notAfter: issued.notAfter },
        'instance certificate renewed',
      );
    return { certPem: issued.certPem, keyPem: issued.keyPem, caPem: issued.caPem };
  }

  async function apply(spec: RedisInstanceSpec, progress: Progress): Promise<void> {
    spec.tls = await ensureTls(spec, progress);
    await progress('applying objects');
    for (const obj of instanceObjects(spec)) await deps.kube.apply(obj);
  }

  /** The cloud's address for the Service (what external-dns points the name at). */
  async function loadBalancerAddress(uuid: string): Promise<string | undefined> {
    const svc = (await deps.kube.get('v1', 'Service', deps.namespace, instanceName(uuid))) as
      | (KubernetesObject & {
          status?: { loadBalancer?: { ingress?: Array<{ ip?: string; hostname?: string }> } };
        })
      | undefined;
    const ingress = svc?.status?.loadBalancer?.ingress?.[0];
    return ingress?.hostname ?? ingress?.ip;
  }

  /** Ready = the controller saw our latest spec, the new pod is Ready, and TLS answers. */
  async function waitReady(spec: RedisInstanceSpec, progress: Progress): Promise<void> {
    await progress('waiting for TLS readiness');
    const deadline = now() + (deps.readyTimeoutMs ?? 300_000);
    // Through the in-cluster Service (no hairpin through the load balancer, no wait for DNS),
    // still verifying the certificate against the name clients use.
    const target: ProbeTarget = {
      host: clusterHost(spec.uuid, deps.namespace),
      port: REDIS_PORT,
      servername: host(spec.uuid),
      ca: spec.tls.caPem || undefined,
      user: spec.currentUser,
      password: spec.users[spec.currentUser] ?? '',
    };
    for (;;) {
      const waitingFor = await notReadyBecause(spec, target);
      if (waitingFor === undefined) return;
      if (now() > deadline)
        throw new Error(`instance did not become ready in time (${waitingFor})`);
      await sleep(pollMs);
    }
  }

  /** What readiness still waits for, or undefined once the instance answers. */
  async function notReadyBecause(
    spec: RedisInstanceSpec,
    target: ProbeTarget,
  ): Promise<string | undefined> {
    if (spec.serviceType === 'LoadBalancer' && !(await loadBalancerAddress(spec.uuid)))
      return 'load balancer has no address yet';
    const sts = (await deps.kube.get(
      'apps/v1',
      'StatefulSet',
      deps.namespace,
      instanceName(spec.uuid),
    )) as StatefulSetObject | undefined;
    const status = sts?.status ?? {};
    const rolledOut =
      (status.observedGeneration ?? 0) >= (sts?.metadata?.generation ?? 1) &&
      (status.updatedReplicas ?? 0) >= 1;
    if (!rolledOut) return 'rollout in progress';
    if ((status.readyReplicas ?? 0) < 1) return 'pod not ready';
    try {
      return (await deps.probe(target)) ? undefined : 'TLS probe did not answer PONG';
    } catch (err) {
      return `TLS probe failed: ${(err as Error).message}`;
    }
  }

  async function outcome(job: Job, spec: RedisInstanceSpec): Promise<InstanceOutcome> {
    const password = encodeURIComponent(spec.users[spec.currentUser] ?? '');
    const config: Record<string, string> = {
      URL: `rediss://${spec.currentUser}:${password}@${host(spec.uuid)}:${REDIS_PORT}`,
    };
    // Clients only need our CA when it is ours: a cert-manager leaf is publicly trusted.
    if (deps.tls.mode === 'private-ca')
      config.TLS_CA = spec.tls.caPem || (await deps.tls.issuer.caPem());
    return {
      config: Object.fromEntries(
        Object.entries(config).map(([k, v]) => [`${job.configVarsPrefix}_${k}`, v]),
      ),
      endpoint: { host: host(spec.uuid), port: REDIS_PORT },
      ...(spec.tls.certPem ? { certificate: describeCert(spec.tls.certPem) } : {}),
    };
  }

  async function existing(job: Job): Promise<RedisInstanceSpec> {
    const spec = await load(job.resource.uuid, job);
    if (!spec)
      throw new PermanentError(
        'instance_not_found',
        `no instance ${job.resource.uuid} in this region`,
      );
    return spec;
  }

  async function converge(
    job: Job,
    spec: RedisInstanceSpec,
    progress: Progress,
  ): Promise<InstanceOutcome> {
    await apply(spec, progress);
    await waitReady(spec, progress);
    return outcome(job, spec);
  }

  /** Deletes each object and waits until the API server no longer has it. */
  async function deleteAndWait(apiVersion: string, kind: string, name: string): Promise<void> {
    await deps.kube.remove(apiVersion, kind, deps.namespace, name);
    const deadline = now() + (deps.deleteTimeoutMs ?? 300_000);
    while (await deps.kube.get(apiVersion, kind, deps.namespace, name)) {
      if (now() > deadline) throw new Error(`${kind} ${name} is still being deleted`);
      await sleep(pollMs);
    }
  }

  async function pruneTombstones(): Promise<void> {
    const ttl = deps.tombstoneTtlMs ?? 30 * 86_400_000;
    const stones = (await deps.kube.list(
      'v1',
      'ConfigMap',
      deps.namespace,
      `${MANAGED},${TOMBSTONE_LABEL}=true`,
    )) as Array<KubernetesObject & { data?: Record<string, string> }>;
    for (const stone of stones) {
      const at = Date.parse(stone.data?.deprovisionedAt ?? '');
      if (Number.isFinite(at) && now() - at > ttl && stone.metadata?.name) {
        await deps.kube.remove('v1', 'ConfigMap', deps.namespace, stone.metadata.name);
      }
    }
  }

  return {
    name: 'kubernetes',
    async adopt(): Promise<void> {
      // Kubernetes keeps instances running without us; only old tombstones need care.
      await pruneTombstones().catch((err: unknown) =>
        log.warn({ err }, 'tombstone pruning failed'),
      );
      log.info({ calls: KUBE_CALLS.length, tls: deps.tls.mode }, 'kubernetes driver ready');
    },
    async provision(job, progress): Promise<InstanceOutcome> {
      let spec = await load(job.resource.uuid, job);
      if (!spec) {
        const stone = await deps.kube.get(
          'v1',
          'ConfigMap',
          deps.namespace,
          tombstoneName(job.resource.uuid),
        );
        if (stone)
          throw new PermanentError(
            'instance_deprovisioned',
            `instance ${job.resource.uuid} was deprovisioned`,
          );
        const user = `u${job.generation}`;
        spec = {
          ...baseSpec(job),
          users: { [user]: newPassword() },
          currentUser: user,
          tls: { certPem: '', keyPem: '', caPem: '' },
        };
      }
      return converge(job, spec, progress);
    },
    async changePlan(job, progress): Promise<InstanceOutcome> {
      const current = await existing(job);
      // New resources roll the pod; data survives on the volume (appendonly).
      const spec = {
        ...current,
        ...baseSpec(job),
        generation: Math.max(current.generation, job.generation),
      };
      return converge(job, spec, progress);
    },
    async deprovision(job, progress): Promise<void> {
      // The tombstone goes first: a stale provision arriving mid-delete must not recreate.
      await deps.kube.apply(
        tombstoneObject(job.resource.uuid, deps.namespace, job.generation, new Date(now())),
      );
      await progress('deleting objects');
      const name = instanceName(job.resource.uuid);
      const blank: RedisInstanceSpec = {
        ...baseSpec(job),
        users: {},
        currentUser: '',
        tls: { certPem: '', keyPem: '', caPem: '' },
      };
      // StatefulSet first (the pod and its volume go), the Secret it mounts last.
      for (const obj of instanceObjects(blank).reverse())
        await deleteAndWait(obj.apiVersion, obj.kind, name);
      if (deps.tls.mode === 'cert-manager') await deps.tls.certificates.remove(job.resource.uuid);
    },
    async rotateCredentials(job, progress): Promise<InstanceOutcome> {
      const spec = await existing(job);
      const user = `u${job.generation}`;
      spec.users[user] ??= newPassword();
      spec.currentUser = user;
      spec.generation = Math.max(spec.generation, job.generation);
      return converge(job, spec, progress);
    },
    async revokeCredentials(job, progress): Promise<InstanceOutcome> {
      const spec = await existing(job);
      const revoke = job.params.revokeUser;
      if (typeof revoke !== 'string' || revoke === '')
        throw new PermanentError('invalid_params', 'revoke_credentials needs params.revokeUser');
      if (revoke === spec.currentUser)
        throw new PermanentError(
          'revoke_current_user',
          'cannot revoke the credentials currently in use',
        );
      delete spec.users[revoke];
      spec.generation = Math.max(spec.generation, job.generation);
      return converge(job, spec, progress);
    },
    async maintain(uuid: string): Promise<void> {
      const spec = await load(uuid);
      if (!spec) return;
      // Re-applying is a no-op unless the leaf was renewed (here or by cert-manager): then
      // the pod checksum changes and the pod rolls onto it.
      const before = spec.tls.certPem;
      await apply(spec, async () => {});
      if (spec.tls.certPem !== before)
        log.info({ resourceId: uuid }, 'instance rolled onto a renewed certificate');
    },
    async inventory(): Promise<InstanceSummary[]> {
      const items = (await deps.kube.list(
        'apps/v1',
        'StatefulSet',
        deps.namespace,
        MANAGED,
      )) as StatefulSetObject[];
      return items.map((sts) => {
        const labels = sts.metadata?.labels ?? {};
        return {
          uuid: labels['addons.example.com/uuid'] ?? '',
          generation: Number(labels['addons.example.com/generation'] ?? 0),
          plan: labels['addons.example.com/plan'] ?? '',
          ready: (sts.status?.readyReplicas ?? 0) >= 1,
        };
      });
    },
  };
}
