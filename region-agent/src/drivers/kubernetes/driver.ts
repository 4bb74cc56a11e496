/**
 * The `kubernetes` driver: an instance is a set of objects applied server-side with field
 * manager `region-agent`. Credentials and TLS material live in the instance's Secret, so a
 * redelivered provision reads them back instead of minting new ones.
 */
import { randomBytes, X509Certificate } from 'node:crypto';
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Job } from '../../../../shared/src/messages.js';
import type { Logger } from '../../../../shared/src/logger.js';
import { PermanentError, type Driver, type InstanceOutcome, type InstanceSummary, type Progress } from '../../driver.js';
import type { TlsIssuer } from '../../tls/private-ca.js';
import { KUBE_CALLS } from './calls.js';
import type { KubeApi } from './client.js';
import { REDIS_PORT, instanceName, instanceObjects, type RedisInstanceSpec } from './objects.js';

export interface ProbeTarget {
  host: string;
  port: number;
  servername: string;
  ca: string;
  user: string;
  password: string;
}

export interface KubernetesDriverDeps {
  kube: KubeApi;
  namespace: string;
  /** Regional DNS zone: an instance answers at `redis-<uuid>.<hostname>`. */
  hostname: string;
  issuer: TlsIssuer;
  log: Logger;
  image?: string;
  /** Honest readiness over TLS (verified chain + AUTH + PING); injected for tests. */
  probe: (target: ProbeTarget) => Promise<boolean>;
  readyTimeoutMs?: number;
}

const MANAGED = 'app.kubernetes.io/managed-by=region-agent';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const newPassword = (): string => randomBytes(24).toString('base64url');

interface Stored {
  spec: RedisInstanceSpec;
  certificate: { notAfter: string; fingerprint: string } | undefined;
}

function decode(data: Record<string, string> | undefined, key: string): string | undefined {
  const v = data?.[key];
  return v === undefined ? undefined : Buffer.from(v, 'base64').toString('utf8');
}

function describeCert(pem: string): { notAfter: string; fingerprint: string } {
  const cert = new X509Certificate(pem);
  return { notAfter: new Date(cert.validTo).toISOString(), fingerprint: cert.fingerprint256 };
}

export function createKubernetesDriver(deps: KubernetesDriverDeps): Driver {
  const log = deps.log.child({ driver: 'kubernetes', namespace: deps.namespace });
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
    };
  }

  /** The instance as its Secret records it, or undefined when there is none. */
  async function load(job: Job): Promise<Stored | undefined> {
    const secret = (await deps.kube.get('v1', 'Secret', deps.namespace, instanceName(job.resource.uuid))) as
      | (KubernetesObject & { data?: Record<string, string> })
      | undefined;
    if (!secret) return undefined;
    const data = secret.data;
    const users: Record<string, string> = {};
    for (const key of Object.keys(data ?? {})) {
      if (key.startsWith('password-')) users[key.slice('password-'.length)] = decode(data, key) ?? '';
    }
    const labels = secret.metadata?.labels ?? {};
    const spec: RedisInstanceSpec = {
      ...baseSpec(job),
      plan: labels['addons.example.com/plan'] ?? job.resource.plan,
      generation: Number(labels['addons.example.com/generation'] ?? job.generation),
      users,
      currentUser: decode(data, 'current-user') ?? Object.keys(users)[0] ?? 'u1',
      tls: { certPem: decode(data, 'tls.crt') ?? '', keyPem: decode(data, 'tls.key') ?? '', caPem: decode(data, 'ca.crt') ?? '' },
    };
    return { spec, certificate: undefined };
  }

  async function apply(spec: RedisInstanceSpec, progress: Progress): Promise<void> {
    await progress('applying objects');
    for (const obj of instanceObjects(spec)) await deps.kube.apply(obj);
  }

  async function waitReady(spec: RedisInstanceSpec, progress: Progress): Promise<void> {
    await progress('waiting for TLS readiness');
    const deadline = Date.now() + (deps.readyTimeoutMs ?? 300_000);
    const target: ProbeTarget = {
      host: host(spec.uuid),
      port: REDIS_PORT,
      servername: host(spec.uuid),
      ca: spec.tls.caPem,
      user: spec.currentUser,
      password: spec.users[spec.currentUser] ?? '',
    };
    for (;;) {
      const sts = (await deps.kube.get('apps/v1', 'StatefulSet', deps.namespace, instanceName(spec.uuid))) as
        | (KubernetesObject & { status?: { readyReplicas?: number } })
        | undefined;
      if ((sts?.status?.readyReplicas ?? 0) >= 1 && (await deps.probe(target).catch(() => false))) return;
      if (Date.now() > deadline) throw new Error('instance did not become ready in time');
      await sleep(1_000);
    }
  }

  async function outcome(spec: RedisInstanceSpec): Promise<InstanceOutcome> {
    const password = encodeURIComponent(spec.users[spec.currentUser] ?? '');
    return {
      config: {
        URL: `rediss://${spec.currentUser}:${password}@${host(spec.uuid)}:${REDIS_PORT}`,
        TLS_CA: spec.tls.caPem || (await deps.issuer.caPem()),
      },
      endpoint: { host: host(spec.uuid), port: REDIS_PORT },
      ...(spec.tls.certPem ? { certificate: describeCert(spec.tls.certPem) } : {}),
    };
  }

  function prefixed(job: Job, out: InstanceOutcome): InstanceOutcome {
    const config = Object.fromEntries(Object.entries(out.config).map(([k, v]) => [`${job.configVarsPrefix}_${k}`, v]));
    return { ...out, config };
  }

  async function existing(job: Job): Promise<RedisInstanceSpec> {
    const stored = await load(job);
    if (!stored) throw new PermanentError('instance_not_found', `no instance ${job.resource.uuid} in this region`);
    return stored.spec;
  }

  return {
    name: 'kubernetes',
    async adopt(): Promise<void> {
      // Kubernetes keeps instances running without us; nothing to re-adopt.
      log.info({ calls: KUBE_CALLS.length }, 'kubernetes driver ready');
    },
    async provision(job, progress): Promise<InstanceOutcome> {
      const stored = await load(job);
      let spec = stored?.spec;
      if (!spec) {
        await progress('issuing certificate');
        const issued = await deps.issuer.issue(job.resource.uuid, [host(job.resource.uuid)]);
        const user = `u${job.generation}`;
        spec = { ...baseSpec(job), users: { [user]: newPassword() }, currentUser: user, tls: issued };
      }
      await apply(spec, progress);
      await waitReady(spec, progress);
      return prefixed(job, await outcome(spec));
    },
    async changePlan(job, progress): Promise<InstanceOutcome> {
      const current = await existing(job);
      // The config checksum rolls the pod; data survives on the volume (appendonly).
      const spec = { ...current, ...baseSpec(job), generation: Math.max(current.generation, job.generation) };
      await apply(spec, progress);
      await waitReady(spec, progress);
      return prefixed(job, await outcome(spec));
    },
    async deprovision(job, progress): Promise<void> {
      await progress('deleting objects');
      const name = instanceName(job.resource.uuid);
      for (const obj of instanceObjects({ ...baseSpec(job), users: {}, currentUser: '', tls: { certPem: '', keyPem: '', caPem: '' } }).reverse()) {
        await deps.kube.remove(obj.apiVersion, obj.kind, deps.namespace, name);
      }
    },
    async rotateCredentials(job, progress): Promise<InstanceOutcome> {
      const spec = await existing(job);
      const user = `u${job.generation}`;
      spec.users[user] ??= newPassword();
      spec.currentUser = user;
      spec.generation = Math.max(spec.generation, job.generation);
      await apply(spec, progress);
      await waitReady(spec, progress);
      return prefixed(job, await outcome(spec));
    },
    async revokeCredentials(job, progress): Promise<InstanceOutcome> {
      const spec = await existing(job);
      const revoke = job.params.revokeUser;
      if (typeof revoke !== 'string' || revoke === '') throw new PermanentError('invalid_params', 'revoke_credentials needs params.revokeUser');
      if (revoke === spec.currentUser) throw new PermanentError('revoke_current_user', 'cannot revoke the credentials currently in use');
      delete spec.users[revoke];
      spec.generation = Math.max(spec.generation, job.generation);
      await apply(spec, progress);
      await waitReady(spec, progress);
      return prefixed(job, await outcome(spec));
    },
    async inventory(): Promise<InstanceSummary[]> {
      const items = (await deps.kube.list('apps/v1', 'StatefulSet', deps.namespace, MANAGED)) as Array<
        KubernetesObject & { status?: { readyReplicas?: number } }
      >;
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
