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
import { refuseSuperseded } from '../fence.js';
import { applyFenced, readFenced } from './fenced-apply.js';
import { revokableUser } from '../revoke.js';
import { KUBE_CALLS } from './calls.js';
import type { KubeApi } from './client.js';
import { LABELS, MANAGED_SELECTOR } from './labels.js';
import { instanceObjects } from './objects.js';
import {
  engineStats,
  observe,
  waitReady,
  type Applied,
  type Measure,
  type Probe,
  type ReadinessDeps,
  type StatefulSetObject,
} from './readiness.js';
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
import { certificateExpiries } from './expiries.js';
import { refuseDeprovisioned, removeObjects } from './removal.js';
import { pruneTombstones, tombstoned, tombstoneObject } from './tombstones.js';

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
  /** The inventory's stats of an answering instance; default the engine's own. For tests. */
  measure?: Measure;
  readyTimeoutMs?: number;
  deleteTimeoutMs?: number;
  pollMs?: number;
  /** How long a deprovision tombstone is kept (default 30 days). */
  tombstoneTtlMs?: number;
  now?: () => number;
}

const noProgress: Progress = async () => {};

interface Ctx {
  deps: KubernetesDriverDeps;
  log: Logger;
  now: () => number;
  pollMs: number;
  spec: SpecContext;
  readiness: ReadinessDeps;
}

/**
 * Applies the instance's objects: the Secret first (the pod never starts without its config),
 * the StatefulSet last (its pod starts under the policy and budget); the three between at
 * once. All are read first, at once, and each apply is fenced by generation (fenced-apply.ts),
 * so two agents of the region never take an object back to an older one. Returns what the
 * apiserver answered, by kind.
 */
async function apply(
  ctx: Ctx,
  spec: InstanceSpec,
  progress: Progress,
  job?: Job,
): Promise<Applied> {
  spec.tls = await ensureTls(ctx.deps.tls, spec, { now: ctx.now(), log: ctx.log }, progress);
  await progress('applying objects');
  const objects = instanceObjects(spec);
  const current = await readFenced(ctx.deps.kube, objects, job, spec.secretRead);
  const applied: Applied = new Map();
  const put = async (i: number): Promise<void> => {
    applied.set(objects[i]!.kind, await applyFenced(ctx.deps.kube, objects[i]!, current[i]));
  };
  const last = objects.length - 1;
  await put(0);
  await Promise.all(objects.slice(1, last).map((_, i) => put(i + 1)));
  await put(last);
  await refuseDeprovisioned(ctx, spec);
  return applied;
}

async function outcome(ctx: Ctx, job: Job, spec: InstanceSpec): Promise<InstanceOutcome> {
  const endpoint = { host: spec.publicHost, port: spec.engine.port };
  const config = spec.engine.connectionConfig(endpoint, {
    user: spec.currentUser,
    password: spec.users[spec.currentUser] ?? '',
  });
  // Clients only need our CA when it is ours: a cert-manager leaf is publicly trusted.
  const tls = ctx.deps.tls;
  if (tls.mode === 'private-ca') config.TLS_CA = spec.tls.caPem || (await tls.issuer.caPem());
  return {
    config: Object.fromEntries(
      Object.entries(config).map(([k, v]) => [`${job.configVarsPrefix}_${k}`, v]),
    ),
    endpoint,
    ...(spec.tls.certPem ? { certificate: spec.tls.issued ?? describeCert(spec.tls.certPem) } : {}),
  };
}

/**
 * The job's instance, sized by the job, or (`asStored`) as its Secret records it: a revocation
 * carries the plan of the rotation it follows, scheduled hours before, and must not undo a plan
 * change made since.
 */
async function existing(ctx: Ctx, job: Job, asStored = false): Promise<InstanceSpec> {
  const engine = ctx.deps.engines.get(job.resource.engine);
  const { uuid } = job.resource;
  const spec = await loadSpec(ctx.deps.kube, ctx.spec, engine, uuid, asStored ? undefined : job);
  if (!spec) throw new PermanentError('instance_not_found', `no instance ${uuid} in this region`);
  return fenced(spec, job);
}

function fenced(spec: InstanceSpec, job: Job): InstanceSpec {
  refuseSuperseded(spec.generation, job);
  return spec;
}

async function converge(
  ctx: Ctx,
  job: Job,
  spec: InstanceSpec,
  progress: Progress,
): Promise<InstanceOutcome> {
  const applied = await apply(ctx, spec, progress, job);
  await waitReady(ctx.readiness, spec, progress, applied);
  return outcome(ctx, job, spec);
}

/** A new instance's spec, unless a tombstone says it was deprovisioned. */
async function fresh(ctx: Ctx, job: Job, engine: Engine): Promise<InstanceSpec> {
  if (await tombstoned(ctx.deps.kube, ctx.deps.namespace, instanceName(engine, job.resource.uuid)))
    throw new PermanentError(
      'instance_deprovisioned',
      `instance ${job.resource.uuid} was deprovisioned`,
    );
  const first = engine.newCredentials(job.generation);
  return {
    ...baseSpec(ctx.spec, engine, job),
    users: { [first.user]: first.password },
    currentUser: first.user,
    tls: emptyTls(),
    // Only called once loadSpec found no Secret: that read stands as the Secret's (readFenced).
    secretRead: { object: undefined },
  };
}

/** The instance of a uuid without a job (upkeep): whichever engine's Secret exists. */
async function find(ctx: Ctx, uuid: string): Promise<InstanceSpec | undefined> {
  for (const engine of ctx.deps.engines.all()) {
    const spec = await loadSpec(ctx.deps.kube, ctx.spec, engine, uuid);
    if (spec) return spec;
  }
  return undefined;
}

async function adopt(ctx: Ctx): Promise<void> {
  // Kubernetes keeps instances running without us; only old tombstones need care.
  const ttl = ctx.deps.tombstoneTtlMs ?? 30 * 86_400_000;
  await pruneTombstones(ctx.deps.kube, ctx.deps.namespace, ttl, ctx.now()).catch((err: unknown) =>
    ctx.log.warn({ err }, 'tombstone pruning failed'),
  );
  ctx.log.info({ calls: KUBE_CALLS.length, tls: ctx.deps.tls.mode }, 'kubernetes driver ready');
}

async function provision(ctx: Ctx, job: Job, progress: Progress): Promise<InstanceOutcome> {
  const engine = ctx.deps.engines.get(job.resource.engine);
  const spec =
    (await loadSpec(ctx.deps.kube, ctx.spec, engine, job.resource.uuid, job)) ??
    (await fresh(ctx, job, engine));
  return converge(ctx, job, spec, progress);
}

/** The stored instance moved to the job's plan and size; new resources roll the pod, data stays. */
function resized(ctx: Ctx, current: InstanceSpec, job: Job): InstanceSpec {
  return {
    ...current,
    ...baseSpec(ctx.spec, current.engine, job),
    generation: Math.max(current.generation, job.generation),
  };
}

async function changePlan(ctx: Ctx, job: Job, progress: Progress): Promise<InstanceOutcome> {
  return converge(ctx, job, resized(ctx, await existing(ctx, job), job), progress);
}

/**
 * Objects deleted by hand come back: with the Secret still there, under the same credentials
 * and certificate; without it, as a fresh instance (new credentials the control plane pushes).
 */
async function repair(ctx: Ctx, job: Job, progress: Progress): Promise<InstanceOutcome> {
  const engine = ctx.deps.engines.get(job.resource.engine);
  const current = await loadSpec(ctx.deps.kube, ctx.spec, engine, job.resource.uuid, job);
  const spec = current ? resized(ctx, fenced(current, job), job) : await fresh(ctx, job, engine);
  return converge(ctx, job, spec, progress);
}

async function deprovision(ctx: Ctx, job: Job, progress: Progress): Promise<void> {
  const engine = ctx.deps.engines.get(job.resource.engine);
  const { uuid } = job.resource;
  const name = instanceName(engine, uuid);
  // The tombstone goes first: a stale job of this instance, here or on another agent, checks it
  // after its writes (refuseDeprovisioned) and takes back what it made.
  await ctx.deps.kube.apply(
    tombstoneObject(name, uuid, ctx.deps.namespace, job.generation, new Date(ctx.now())),
  );
  await progress('deleting objects');
  const blank: InstanceSpec = {
    ...baseSpec(ctx.spec, engine, job),
    users: {},
    currentUser: '',
    tls: emptyTls(),
  };
  await removeObjects(ctx, blank);
}

async function rotateCredentials(ctx: Ctx, job: Job, progress: Progress): Promise<InstanceOutcome> {
  const spec = await existing(ctx, job);
  const next = spec.engine.newCredentials(job.generation);
  spec.users[next.user] ??= next.password;
  spec.currentUser = next.user;
  spec.generation = Math.max(spec.generation, job.generation);
  return converge(ctx, job, spec, progress);
}

async function revokeCredentials(ctx: Ctx, job: Job, progress: Progress): Promise<InstanceOutcome> {
  const spec = await existing(ctx, job, true);
  delete spec.users[revokableUser(job, spec.currentUser)];
  spec.generation = Math.max(spec.generation, job.generation);
  return converge(ctx, job, spec, progress);
}

async function maintain(ctx: Ctx, uuid: string): Promise<void> {
  const spec = await find(ctx, uuid);
  if (!spec) return;
  // Re-applying is a no-op unless the leaf was renewed (here or by cert-manager): then
  // the pod checksum changes and the pod rolls onto it.
  const before = spec.tls.certPem;
  await apply(ctx, spec, noProgress);
  if (spec.tls.certPem !== before)
    ctx.log.info({ resourceId: uuid }, 'instance rolled onto a renewed certificate');
}

async function inventory(ctx: Ctx): Promise<InstanceSummary[]> {
  const items = (await ctx.deps.kube.list(
    'apps/v1',
    'StatefulSet',
    ctx.deps.namespace,
    MANAGED_SELECTOR,
  )) as StatefulSetObject[];
  const summaries: InstanceSummary[] = [];
  // A few probes at a time: each is a TLS handshake and one engine command.
  for (let i = 0; i < items.length; i += INVENTORY_PROBES) {
    const batch = items.slice(i, i + INVENTORY_PROBES);
    summaries.push(...(await Promise.all(batch.map((sts) => summarize(ctx, sts)))));
  }
  return summaries;
}

const INVENTORY_PROBES = 16;

/** One StatefulSet as the inventory reports it: ready only when its pod answers over verified TLS. */
async function summarize(ctx: Ctx, sts: StatefulSetObject): Promise<InstanceSummary> {
  const labels = sts.metadata?.labels ?? {};
  const uuid = labels[LABELS.uuid] ?? '';
  const podReady = (sts.status?.readyReplicas ?? 0) >= 1;
  const spec = podReady ? await find(ctx, uuid) : undefined;
  return {
    uuid,
    generation: Number(labels[LABELS.generation] ?? 0),
    plan: labels[LABELS.plan] ?? '',
    ...(spec ? await observe(ctx.readiness, spec) : { ready: false }),
    ...(spec ? { engine: spec.engine.name } : {}),
  };
}

export function createKubernetesDriver(deps: KubernetesDriverDeps): Driver {
  const now = deps.now ?? Date.now;
  const pollMs = deps.pollMs ?? 1_000;
  const ctx: Ctx = {
    deps,
    log: deps.log.child({ driver: 'kubernetes', namespace: deps.namespace }),
    now,
    pollMs,
    spec: {
      namespace: deps.namespace,
      hostname: deps.hostname,
      serviceType: deps.serviceType ?? 'LoadBalancer',
    },
    readiness: {
      kube: deps.kube,
      namespace: deps.namespace,
      probe: deps.probe ?? ((target, engine) => engine.ready(target)),
      measure: deps.measure ?? engineStats,
      now,
      pollMs,
      readyTimeoutMs: deps.readyTimeoutMs ?? 300_000,
    },
  };
  return {
    name: 'kubernetes',
    adopt: () => adopt(ctx),
    provision: (job, progress) => provision(ctx, job, progress),
    changePlan: (job, progress) => changePlan(ctx, job, progress),
    deprovision: (job, progress) => deprovision(ctx, job, progress),
    rotateCredentials: (job, progress) => rotateCredentials(ctx, job, progress),
    revokeCredentials: (job, progress) => revokeCredentials(ctx, job, progress),
    repair: (job, progress) => repair(ctx, job, progress),
    maintain: (uuid) => maintain(ctx, uuid),
    inventory: () => inventory(ctx),
    certificateExpiries: () => certificateExpiries(deps.kube, deps.namespace),
  };
}
