/**
 * A result in a message version this control plane does not read: a newer agent rolled out
 * before the control plane (deploy/upgrades.md has the order). Its body cannot be trusted to
 * mean what v1 means, but its envelope can be read. A final one becomes a failed result that
 * says why, and goes through the same checks of who may say this as any result, so the
 * operation fails at once with the reason instead of waiting for its deadline and running
 * again on the same agent. A progress one changes nothing.
 */
import {
  decodeMessage,
  MESSAGE_VERSION,
  ResultEnvelopeSchema,
  type Result,
  type ResultEnvelope,
} from '../../../../shared/src/messages.js';

export type ForeignResult =
  | { progress: true; envelope: ResultEnvelope }
  | { progress: false; envelope: ResultEnvelope; result: Result };

/** The failed result standing for a result of another version, or undefined when it is not one. */
export function foreignVersionResult(data: Uint8Array): ForeignResult | undefined {
  let envelope: ResultEnvelope;
  try {
    envelope = decodeMessage(ResultEnvelopeSchema, data);
  } catch {
    return undefined;
  }
  if (envelope.version === MESSAGE_VERSION) return undefined;
  if (envelope.status === 'progress') return { progress: true, envelope };
  const { operationId, uuid, kind, generation, agentRegion, agentId } = envelope;
  const message =
    `agent ${agentId} answered this ${kind} in message version ${envelope.version} ` +
    `(${envelope.status}); this control plane reads version ${MESSAGE_VERSION}: ` +
    'upgrade the control plane before the agents';
  const result: Result = {
    version: MESSAGE_VERSION,
    operationId,
    uuid,
    kind,
    generation,
    agentRegion,
    agentId,
    status: 'failed',
    error: { code: 'unsupported_result', message, retryable: false },
    at: new Date().toISOString(),
  };
  return { progress: false, envelope, result };
}
