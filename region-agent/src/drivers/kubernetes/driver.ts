/**
 * The `kubernetes` driver: an instance is a set of objects applied server-side with field
 * manager `region-agent`, holding what its engine renders. Credentials and TLS material live
 * in the instance's Secret, so a redelivered provision reads them back instead of minting new
 * ones. The leaf comes from the regional private CA, or from cert-manager (`certificates.ts`).
 */
import type { Job } from '../../../../shared/src/messages.js';
import type { Logger } from '../../../../shared/src/logger.js';
import {
  PermanentError,
  type Driver,
  type InstanceOutcome,
  type InstanceSummary,
  type Progress,
} from '../../driver.js';
import type { Engine } from '../../engines/engine.js';
import type { Engines } from '../../engines/index.js';
import { revokableUser } from '../revoke.js';
import { KUBE_CALLS } from './calls.js';
import type { KubeApi } from './client.js';
import { LABELS, MANAGED_SELECTOR } from './labels.js';
import { instanceObjects } from './objects.js';
import { waitReady, type Probe, type StatefulSetObject } from './readiness.js';
import {
  baseSpec,
  emptyTls,
  instanceName,
  loadSpec,
  type InstanceSpec,
  type ServiceType,
  type SpecContext,
} from './spec.js';
import { describeCert, ensureTls, type InstanceTls } from './tls.js';
import { pruneTombstones, tombstoneName, tombstoneObject } from './tombstones.js';

export type { InstanceTls };

export interface KubernetesDriverDeps {
  kube: KubeApi;
  namespace: string;
  /** Regional DNS zone: an instance answers at `<engine>-<uuid>.<hostname>`. */
  hostname: string;
  /** Default LoadBalancer (published by external-dns); ClusterIP for in-cluster clients only. */
  serviceType?: ServiceType;
  tls: InstanceTls;
  engines: Engines;
  log: Logger;
  /** Readiness over TLS; default the engine's own check. Injected for tests. */
  probe?: Probe;
  readyTimeoutMs?: number;
  deleteTimeoutMs?: number;
  pollMs?: number;
  /** How long a deprovision tombstone is kept (default 30 days). */
  tombstoneTtlMs?: number;
  now?: () => number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function createKubernetesDriver(deps: KubernetesDriverDeps): Driver {
  const log = deps.log.child({ driver: 'kubernetes', namespace: deps.namespace });
  const now = deps.now ?? Date.now;
  const pollMs = deps.pollMs ?? 1_000;
  const ctx: SpecContext = {
    namespace: deps.namespace,
    hostname: deps.hostname,
    serviceType: deps.serviceType ?? 'LoadBalancer',
  };
  const readiness = {
    kube: deps.kube,
    namespace: deps.namespace,
    probe: deps.probe ?? ((target, engine) => engine.ready(target)),
    now,
    pollMs,
    readyTimeoutMs: deps.readyTimeoutMs ?? 300_000,
  } satisfies Parameters<typeof waitReady>[0];

  async function apply(spec: InstanceSpec, progress: Progress): Promise<void> {
    spec.tls = await ensureTls(deps.tls, spec, { now: now(), log }, progress);
    await progress('applying objects');
    for (const obj of instanceObjects(spec)) await deps.kube.apply(obj);
  }

  async function outcome(job: Job, spec: InstanceSpec): Promise<InstanceOutcome> {
    const endpoint = { host: spec.publicHost, port: spec.engine.port };
    const config = spec.engine.connectionConfig(endpoint, {
      user: spec.currentUser,
      password: spec.users[spec.currentUser] ?? '',
    });
    // Clients only need our CA when it is ours: a cert-manager leaf is publicly trusted.
    if (deps.tls.mode === 'private-ca')
      config.TLS_CA = spec.tls.caPem || (await deps.tls.issuer.caPem());
    return {
      config: Object.fromEntries(
        Object.entries(config).map(([k, v]) => [`${job.configVarsPrefix}_${k}`, v]),
      ),
      endpoint,
      ...(spec.tls.certPem ? { certificate: describeCert(spec.tls.certPem) } : {}),
    };
  }

  async function existing(job: Job): Promise<InstanceSpec> {
    const engine = deps.engines.get(job.resource.engine);
    const spec = await loadSpec(deps.kube, ctx, engine, job.resource.uuid, job);
    if (!spec)
      throw new PermanentError(
        'instance_not_found',
        `no instance ${job.resource.uuid} in this region`,
      );
    return spec;
  }

  async function converge(
    job: Job,
    spec: InstanceSpec,
    progress: Progress,
  ): Promise<InstanceOutcome> {
    await apply(spec, progress);
    await waitReady(readiness, spec, progress);
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

  async function fresh(job: Job, engine: Engine): Promise<InstanceSpec> {
    const name = instanceName(engine, job.resource.uuid);
    const stone = await deps.kube.get('v1', 'ConfigMap', deps.namespace, tombstoneName(name));
    if (stone)
      throw new PermanentError(
        'instance_deprovisioned',
        `instance ${job.resource.uuid} was deprovisioned`,
      );
    const first = engine.newCredentials(job.generation);
    return {
      ...baseSpec(ctx, engine, job),
      users: { [first.user]: first.password },
      currentUser: first.user,
      tls: emptyTls(),
    };
  }

  /** The instance of a uuid without a job (upkeep): whichever engine's Secret exists. */
  async function find(uuid: string): Promise<InstanceSpec | undefined> {
    for (const engine of deps.engines.all()) {
      const spec = await loadSpec(deps.kube, ctx, engine, uuid);
      if (spec) return spec;
    }
    return undefined;
  }

  return {
    name: 'kubernetes',
    async adopt(): Promise<void> {
      // Kubernetes keeps instances running without us; only old tombstones need care.
      const ttl = deps.tombstoneTtlMs ?? 30 * 86_400_000;
      await pruneTombstones(deps.kube, deps.namespace, ttl, now()).catch((err: unknown) =>
        log.warn({ err }, 'tombstone pruning failed'),
      );
      log.info({ calls: KUBE_CALLS.length, tls: deps.tls.mode }, 'kubernetes driver ready');
    },
    async provision(job, progress): Promise<InstanceOutcome> {
      const engine = deps.engines.get(job.resource.engine);
      const spec =
        (await loadSpec(deps.kube, ctx, engine, job.resource.uuid, job)) ??
        (await fresh(job, engine));
      return converge(job, spec, progress);
    },
    async changePlan(job, progress): Promise<InstanceOutcome> {
      const current = await existing(job);
      // New resources roll the pod; data survives on the volume.
      const spec = {
        ...current,
        ...baseSpec(ctx, current.engine, job),
        generation: Math.max(current.generation, job.generation),
      };
      return converge(job, spec, progress);
    },
    async deprovision(job, progress): Promise<void> {
      const engine = deps.engines.get(job.resource.engine);
      const { uuid } = job.resource;
      const name = instanceName(engine, uuid);
      // The tombstone goes first: a stale provision arriving mid-delete must not recreate.
      await deps.kube.apply(
        tombstoneObject(name, uuid, deps.namespace, job.generation, new Date(now())),
      );
      await progress('deleting objects');
      const blank: InstanceSpec = {
        ...baseSpec(ctx, engine, job),
        users: {},
        currentUser: '',
        tls: emptyTls(),
      };
      // StatefulSet first (the pod and its volume go), the Secret it mounts last.
      for (const obj of instanceObjects(blank).reverse())
        await deleteAndWait(obj.apiVersion, obj.kind, name);
      if (deps.tls.mode === 'cert-manager') await deps.tls.certificates.remove(name, uuid);
    },
    async rotateCredentials(job, progress): Promise<InstanceOutcome> {
      const spec = await existing(job);
      const next = spec.engine.newCredentials(job.generation);
      spec.users[next.user] ??= next.password;
      spec.currentUser = next.user;
      spec.generation = Math.max(spec.generation, job.generation);
      return converge(job, spec, progress);
    },
    async revokeCredentials(job, progress): Promise<InstanceOutcome> {
      const spec = await existing(job);
      delete spec.users[revokableUser(job, spec.currentUser)];
      spec.generation = Math.max(spec.generation, job.generation);
      return converge(job, spec, progress);
    },
    async maintain(uuid: string): Promise<void> {
      const spec = await find(uuid);
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
        MANAGED_SELECTOR,
      )) as StatefulSetObject[];
      return items.map((sts) => {
        const labels = sts.metadata?.labels ?? {};
        return {
          uuid: labels[LABELS.uuid] ?? '',
          generation: Number(labels[LABELS.generation] ?? 0),
          plan: labels[LABELS.plan] ?? '',
          ready: (sts.status?.readyReplicas ?? 0) >= 1,
        };
      });
    },
  };
}
