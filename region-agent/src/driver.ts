/** What the agent loop needs from a driver (`local` processes or `kubernetes` objects). */
import type { InstanceStats, Job } from '../../shared/src/messages.js';
import { DomainError } from '../../shared/src/errors.js';

export interface InstanceOutcome {
  config: Record<string, string>;
  endpoint: { host: string; port: number };
  certificate?: { notAfter: string; fingerprint: string };
}

export interface InstanceSummary {
  uuid: string;
  generation: number;
  plan: string;
  ready: boolean;
  engine?: string;
  /** Absent when the instance did not answer or its engine measures nothing. */
  stats?: InstanceStats;
}

/** Reports a human-readable step ("issuing certificate") while a job runs. */
export type Progress = (step: string) => Promise<void>;

export interface Driver {
  readonly name: string;
  /** Called once at start: re-adopt running instances, restart the ones that died. */
  adopt(): Promise<void>;
  provision(job: Job, progress: Progress): Promise<InstanceOutcome>;
  changePlan(job: Job, progress: Progress): Promise<InstanceOutcome>;
  /** Undefined outcome: the instance is gone (or never existed). */
  deprovision(job: Job, progress: Progress): Promise<void>;
  rotateCredentials(job: Job, progress: Progress): Promise<InstanceOutcome>;
  revokeCredentials(job: Job, progress: Progress): Promise<InstanceOutcome>;
  /**
   * The reconciler's repair: the instance runs the job's plan at (at least) its generation,
   * re-created when it is gone (keeping its credentials where they survive, new ones
   * otherwise), restarted when it died. Refused for a deprovisioned (tombstoned) instance.
   */
  repair(job: Job, progress: Progress): Promise<InstanceOutcome>;
  inventory(): Promise<InstanceSummary[]>;
  /** The notAfter (ISO) of every instance's leaf, for agent_certificates_expiring_soon. */
  certificateExpiries?(): Promise<string[]>;
  /**
   * Periodic upkeep of one instance, run in its FIFO turn: re-issue a leaf that is close to
   * expiry or signed by an older CA (and get the server onto it), restart a process that
   * died (local). Nothing for an unknown uuid; never changes credentials or size.
   */
  maintain(uuid: string): Promise<void>;
}

/** A failure that retrying cannot fix: reported as failed at once, retryable false. */
export class PermanentError extends DomainError {}

/** Runs the driver method for a job's kind. */
export async function applyJob(
  driver: Driver,
  job: Job,
  progress: Progress,
): Promise<InstanceOutcome | undefined> {
  switch (job.kind) {
    case 'provision':
      return driver.provision(job, progress);
    case 'change_plan':
      return driver.changePlan(job, progress);
    case 'deprovision':
      await driver.deprovision(job, progress);
      return undefined;
    case 'rotate_credentials':
      return driver.rotateCredentials(job, progress);
    case 'revoke_credentials':
      return driver.revokeCredentials(job, progress);
    case 'repair':
      return driver.repair(job, progress);
  }
}
