/**
 * Applies that never take an object back to an older generation, whichever agent of the
 * region writes. Every instance object carries the generation that wrote it (a label). Before
 * each apply the object is read; one already at a newer generation refuses the write, and the
 * write itself carries the resourceVersion read as its precondition, so an agent that wrote in
 * between makes the apiserver answer 409 instead of being overwritten. Each object's generation
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

/** Applies `obj` unless a newer generation of it is stored; conditional on what was read. */
export async function applyFenced(
  kube: KubeApi,
  obj: KubeObject,
  job: Job | undefined,
): Promise<KubernetesObject> {
  const { apiVersion, kind } = obj;
  const current = await kube.get(apiVersion, kind, obj.metadata.namespace, obj.metadata.name);
  const stored = generationOf(current);
  const writing = generationOf(obj);
  if (stored > writing) {
    if (job) refuseSuperseded(stored, job);
    throw new ApplyConflict(obj, `stored at generation ${stored}, newer than ${writing}`);
  }
  const resourceVersion = current?.metadata?.resourceVersion;
  const body = resourceVersion ? { ...obj, metadata: { ...obj.metadata, resourceVersion } } : obj;
  try {
    return await kube.apply(body);
  } catch (err) {
    if (isConflict(err)) throw new ApplyConflict(obj, 'written by another agent meanwhile');
    throw err;
  }
}
