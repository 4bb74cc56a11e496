/**
 * Removing an instance's objects: by its deprovision, and by any other job of the instance
 * that finds, after its own writes, that a deprovision (on another agent of the region, or a
 * redispatched copy) ran meanwhile.
 */
import type { Logger } from '../../../../shared/src/logger.js';
import { PermanentError } from '../../driver.js';
import type { KubernetesDriverDeps } from './driver.js';
import { instanceObjects, type KubeObject } from './objects.js';
import { instanceName, type InstanceSpec } from './spec.js';
import { tombstoned } from './tombstones.js';

export interface RemovalCtx {
  deps: Pick<KubernetesDriverDeps, 'kube' | 'namespace' | 'tls' | 'deleteTimeoutMs'>;
  log: Logger;
  now: () => number;
  pollMs: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Deletes the object and waits until the API server no longer has it. */
async function deleteAndWait(ctx: RemovalCtx, obj: KubeObject): Promise<void> {
  const { kube, namespace } = ctx.deps;
  const { apiVersion, kind } = obj;
  const name = obj.metadata.name;
  await kube.remove(apiVersion, kind, namespace, name);
  const deadline = ctx.now() + (ctx.deps.deleteTimeoutMs ?? 300_000);
  while (await kube.get(apiVersion, kind, namespace, name)) {
    if (ctx.now() > deadline) throw new Error(`${kind} ${name} is still being deleted`);
    await sleep(ctx.pollMs);
  }
}

/** StatefulSet first (the pod and its volume go), the Secret it mounts last. */
export async function removeObjects(ctx: RemovalCtx, spec: InstanceSpec): Promise<void> {
  for (const obj of instanceObjects(spec).reverse()) await deleteAndWait(ctx, obj);
  if (ctx.deps.tls.mode === 'cert-manager')
    await ctx.deps.tls.certificates.remove(instanceName(spec.engine, spec.uuid), spec.uuid);
}

/**
 * A deprovision writes its tombstone before it deletes. Read after all of a job's writes, the
 * tombstone is either absent (then every write came first, and the deprovision deletes them) or
 * seen here: then what the job wrote is removed again, so no object outlives the deprovision.
 */
export async function refuseDeprovisioned(ctx: RemovalCtx, spec: InstanceSpec): Promise<void> {
  const name = instanceName(spec.engine, spec.uuid);
  if (!(await tombstoned(ctx.deps.kube, ctx.deps.namespace, name))) return;
  ctx.log.warn({ resourceId: spec.uuid }, 'instance was deprovisioned meanwhile; removing it');
  await removeObjects(ctx, spec);
  throw new PermanentError('instance_deprovisioned', `instance ${spec.uuid} was deprovisioned`);
}
