/**
 * Who may say what about which add-on. An agent's NATS user may publish only
 * `results.<its region>.>`, so the subject is the one claim the broker vouches for; everything
 * in the payload is the agent's word. A result counts only when the subject's region is the
 * region that hosts the resource, the subject's uuid is the payload's, and the payload names the
 * operation, kind and generation we sent. Anything else is a forgery or a bug: refused.
 */
import type { Result } from '../../../../shared/src/messages.js';
import type { OperationRow } from '../../db/operations.js';
import type { ResourceRow } from '../../db/resources.js';

export type RejectReason =
  | 'malformed_subject'
  | 'subject_uuid_mismatch'
  | 'payload_region_mismatch'
  | 'unknown_operation'
  | 'operation_of_another_resource'
  | 'wrong_region'
  | 'kind_mismatch'
  | 'generation_mismatch';

export interface ResultOrigin {
  region: string;
  uuid: string;
}

/** `results.<region>.<uuid>` → its parts, or undefined for any other shape. */
export function parseResultSubject(subject: string): ResultOrigin | undefined {
  const parts = subject.split('.');
  if (parts.length !== 3 || parts[0] !== 'results' || !parts[1] || !parts[2]) return undefined;
  return { region: parts[1], uuid: parts[2] };
}

/** Checks that need nothing but the message itself. */
export function checkEnvelope(
  subject: string,
  result: Result,
): { origin: ResultOrigin } | { reject: RejectReason } {
  const origin = parseResultSubject(subject);
  if (!origin) return { reject: 'malformed_subject' };
  if (origin.uuid !== result.uuid) return { reject: 'subject_uuid_mismatch' };
  if (origin.region !== result.agentRegion) return { reject: 'payload_region_mismatch' };
  return { origin };
}

/** Checks against what we sent: the operation and the resource it belongs to. */
export function checkAgainstState(
  origin: ResultOrigin,
  result: Result,
  op: Pick<OperationRow, 'resource_uuid' | 'kind' | 'generation'> | undefined,
  resource: Pick<ResourceRow, 'agent_region'> | undefined,
): RejectReason | undefined {
  if (!op) return 'unknown_operation';
  if (op.resource_uuid !== result.uuid || !resource) return 'operation_of_another_resource';
  if (resource.agent_region !== origin.region) return 'wrong_region';
  if (op.kind !== result.kind) return 'kind_mismatch';
  if (op.generation !== result.generation) return 'generation_mismatch';
  return undefined;
}
