/**
 * One instance as the kubernetes driver places it, and reading it back from the instance
 * Secret (credentials, TLS material, size), so a redelivered job never mints new ones.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Job } from '../../../../shared/src/messages.js';
import type { Engine, EngineInstance } from '../../engines/engine.js';
import type { KubeApi } from './client.js';
import { ANNOTATIONS, LABELS } from './labels.js';

/** LoadBalancer: reachable from outside the cluster; ClusterIP: only from inside (peered apps). */
export type ServiceType = 'LoadBalancer' | 'ClusterIP';

export interface InstanceSpec extends EngineInstance {
  engine: Engine;
  plan: string;
  generation: number;
  size: { memoryMb: number; cpuMillis: number; storageGb?: number };
  namespace: string;
  /** The name clients use (`<engine>-<uuid>.<zone>`), published by external-dns for a LoadBalancer. */
  publicHost: string;
  serviceType: ServiceType;
  /**
   * The leaf. With a private CA it is embedded in the instance Secret; with cert-manager
   * (`secretName` set) it lives in cert-manager's Secret and `certPem` is only read back
   * for the fingerprint, so the pod rolls when cert-manager renews it.
   */
  tls: {
    certPem: string;
    keyPem: string;
    caPem: string;
    secretName?: string;
    /** What the leaf says, when this job issued it (no need to parse it back). */
    issued?: { notAfter: string; fingerprint: string };
  };
  /**
   * The instance Secret as this job read it (`object` undefined: read, and absent). The write
   * of the Secret is conditional on it instead of on a second read (fenced-apply.ts).
   */
  secretRead?: { object: KubernetesObject | undefined };
}

export type BaseSpec = Omit<InstanceSpec, 'users' | 'currentUser' | 'tls'>;

export const instanceName = (engine: Pick<Engine, 'name'>, uuid: string): string =>
  `${engine.name}-${uuid}`;

/** The in-cluster name of the instance's Service (the agent probes through it). */
export const clusterHost = (name: string, namespace: string): string => `${name}.${namespace}.svc`;

export const emptyTls = (): InstanceSpec['tls'] => ({ certPem: '', keyPem: '', caPem: '' });

export interface SpecContext {
  namespace: string;
  /** Regional DNS zone. */
  hostname: string;
  serviceType: ServiceType;
}

export function baseSpec(
  ctx: SpecContext,
  engine: Engine,
  job: Pick<Job, 'generation'> & { resource: Pick<Job['resource'], 'uuid' | 'plan' | 'size'> },
): BaseSpec {
  const { uuid, plan, size } = job.resource;
  return {
    engine,
    uuid,
    plan,
    generation: job.generation,
    size: { memoryMb: size.memoryMb, cpuMillis: size.cpuMillis, storageGb: size.storageGb },
    namespace: ctx.namespace,
    publicHost: `${instanceName(engine, uuid)}.${ctx.hostname}`,
    serviceType: ctx.serviceType,
  };
}

type SecretObject = KubernetesObject & { data?: Record<string, string> };

function decode(data: Record<string, string> | undefined, key: string): string | undefined {
  const v = data?.[key];
  return v === undefined ? undefined : Buffer.from(v, 'base64').toString('utf8');
}

/** Size as the Secret recorded it (for upkeep, which has no job). */
function storedBase(
  ctx: SpecContext,
  engine: Engine,
  uuid: string,
  secret: SecretObject,
): BaseSpec | undefined {
  const labels = secret.metadata?.labels ?? {};
  try {
    const size = JSON.parse(
      secret.metadata?.annotations?.[ANNOTATIONS.size] ?? '',
    ) as Job['resource']['size'];
    const resource = { uuid, plan: labels[LABELS.plan] ?? '', size };
    return baseSpec(ctx, engine, { resource, generation: Number(labels[LABELS.generation] ?? 0) });
  } catch {
    return undefined;
  }
}

function usersOf(data: Record<string, string> | undefined): Record<string, string> {
  const users: Record<string, string> = {};
  for (const key of Object.keys(data ?? {})) {
    if (key.startsWith('password-')) users[key.slice('password-'.length)] = decode(data, key) ?? '';
  }
  return users;
}

/** The instance as its Secret records it (sized by the job when there is one). */
export async function loadSpec(
  kube: KubeApi,
  ctx: SpecContext,
  engine: Engine,
  uuid: string,
  job?: Job,
): Promise<InstanceSpec | undefined> {
  const name = instanceName(engine, uuid);
  const secret = (await kube.get('v1', 'Secret', ctx.namespace, name)) as SecretObject | undefined;
  if (!secret) return undefined;
  const base = job ? baseSpec(ctx, engine, job) : storedBase(ctx, engine, uuid, secret);
  if (!base) return undefined;
  return fromSecret(base, secret);
}

function fromSecret(base: BaseSpec, secret: SecretObject): InstanceSpec {
  const data = secret.data;
  const users = usersOf(data);
  const labels = secret.metadata?.labels ?? {};
  return {
    ...base,
    plan: labels[LABELS.plan] ?? base.plan,
    generation: Number(labels[LABELS.generation] ?? base.generation),
    users,
    currentUser: decode(data, 'current-user') ?? Object.keys(users)[0] ?? 'u1',
    tls: {
      certPem: decode(data, 'tls.crt') ?? '',
      keyPem: decode(data, 'tls.key') ?? '',
      caPem: decode(data, 'ca.crt') ?? '',
    },
    secretRead: { object: secret },
  };
}
