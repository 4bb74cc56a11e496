/**
 * Applies that never take an object back to an older generation, whichever agent of the
 * region writes. Every instance object carries the generation that wrote it (a label). Before
 * a job writes, all its objects are read at once; one already at a newer generation refuses
 * the job before anything is written, and each write carries the resourceVersion read as its
 * precondition, so an agent that wrote in between makes the apiserver answer 409 instead of
 * being overwritten (an object read as absent is applied without one). Each object's generation
 * therefore only grows, and an instance that jobs of generations 3 and 4 ran on at once, on two
 * agents, ends at 4 in every object: the later write of 3 is refused by the label or by the
 * precondition. A refused write of a fenced kind (a plan change, rotation or repair older than
 * the object) is `superseded`; any other conflict is retried as a whole job, from a fresh read.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import { DomainError } from '../../../../shared/src/errors.js';
import type { Job } from '../../../../shared/src/messages.js';
import { refuseSuperseded } from '../fence.js';
import type { KubeApi } from './client.js';
import { LABELS } from './labels.js';
import type { KubeObject } from './objects.js';

/** Another writer got there first: the job runs again from what is stored now (retryable). */
export class ApplyConflict extends DomainError {
  constructor(obj: KubeObject, why: string) {
    super('apply_conflict', `${obj.kind} ${obj.metadata.name}: ${why}; retried from a fresh read`);
  }
}

const generationOf = (obj: KubernetesObject | KubeObject | undefined): number =>
  Number(obj?.metadata?.labels?.[LABELS.generation] ?? 0);

const isConflict = (err: unknown): boolean => (err as { code?: number }).code === 409;

/**
 * What each object is stored as now, read at once (the Secret's read is `secretRead` when the
 * job already made it); refused if any is at a newer generation.
 */
export async function readFenced(
  kube: KubeApi,
  objects: readonly KubeObject[],
  job: Job | undefined,
  secretRead?: { object: KubernetesObject | undefined },
): Promise<Array<KubernetesObject | undefined>> {
  const current = await Promise.all(
    objects.map((o) =>
      o.kind === 'Secret' && secretRead
        ? secretRead.object
        : kube.get(o.apiVersion, o.kind, o.metadata.namespace, o.metadata.name),
    ),
  );
  objects.forEach((obj, i) => {
    const stored = generationOf(current[i]);
    const writing = generationOf(obj);
    if (stored <= writing) return;
    if (job) refuseSuperseded(stored, job);
    throw new ApplyConflict(obj, `stored at generation ${stored}, newer than ${writing}`);
  });
  return current;
}

/** Applies `obj` on condition that it is still as `current` (readFenced) was read. */
export async function applyFenced(
  kube: KubeApi,
  obj: KubeObject,
  current: KubernetesObject | undefined,
): Promise<KubernetesObject> {
  const resourceVersion = current?.metadata?.resourceVersion;
  const body = resourceVersion ? { ...obj, metadata: { ...obj.metadata, resourceVersion } } : obj;
  try {
    return await kube.apply(body);
  } catch (err) {
    if (isConflict(err)) throw new ApplyConflict(obj, 'written by another agent meanwhile');
    throw err;
  }
}
