/**
 * Jobs that set what an instance is (its plan, its current credentials) are not applied over a
 * newer generation: a copy redelivered after its deadline, or one another agent of the region
 * still ran after a newer job finished, would roll the plan or the credentials back. A
 * revocation is exempt: it is scheduled with its generation hours ahead of when it runs, and
 * removing one named user commutes with whatever ran meanwhile. The drivers check the
 * instance's generation before they apply; the kubernetes driver also fences every write
 * (kubernetes/fenced-apply.ts), so two agents applying at the same moment cannot roll an
 * object back either. The local driver runs one agent per region (an ownership lease).
 */
import type { Job } from '../../../shared/src/messages.js';
import { PermanentError } from '../driver.js';

const FENCED_KINDS: ReadonlySet<Job['kind']> = new Set([
  'change_plan',
  'rotate_credentials',
  'repair',
]);

/** Throws `superseded` when `job` is older than the instance's recorded generation. */
export function refuseSuperseded(instanceGeneration: number, job: Job): void {
  if (FENCED_KINDS.has(job.kind) && instanceGeneration > job.generation)
    throw new PermanentError(
      'superseded',
      `instance ${job.resource.uuid} is at generation ${instanceGeneration}: this ${job.kind} of ` +
        `generation ${job.generation} is older and was not applied`,
    );
}
