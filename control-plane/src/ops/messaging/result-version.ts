/**
 * A result in a message version this control plane does not read: a newer agent rolled out
 * before the control plane (deploy/upgrades.md has the order). Its body cannot be trusted to
 * mean what v1 means, but its envelope can be read. A final one becomes a failed result that
 * says why, and goes through the same checks of who may say this as any result, so the
 * operation fails at once with the reason instead of waiting for its deadline and running
 * again on the same agent. A progress one changes nothing.
 *
 * A result of an operation kind this release does not know answers an operation a newer
 * release's replica created, during a rolling upgrade: it is left for that replica (redelivered
 * with backoff from the shared consumer, dead-lettered past the delivery budget).
 */
import {
  decodeMessage,
  MESSAGE_VERSION,
  OperationKindSchema,
  ResultEnvelopeSchema,
  type Result,
  type ResultEnvelope,
} from '../../../../shared/src/messages.js';

export type ForeignResult =
  | { unknownKind: true; envelope: ResultEnvelope }
  | { unknownKind: false; progress: true; envelope: ResultEnvelope }
  | { unknownKind: false; progress: false; envelope: ResultEnvelope; result: Result };

/**
 * What an unreadable result still says of itself: a kind this release does not know, or
 * another message version (with the failed result standing for a final one); undefined when
 * it is neither (malformed).
 */
export function foreignVersionResult(data: Uint8Array): ForeignResult | undefined {
  let envelope: ResultEnvelope;
  try {
    envelope = decodeMessage(ResultEnvelopeSchema, data);
  } catch {
    return undefined;
  }
  const known = OperationKindSchema.safeParse(envelope.kind);
  if (!known.success) return { unknownKind: true, envelope };
  if (envelope.version === MESSAGE_VERSION) return undefined;
  if (envelope.status === 'progress') return { unknownKind: false, progress: true, envelope };
  const { operationId, uuid, generation, agentRegion, agentId } = envelope;
  const kind = known.data;
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
  return { unknownKind: false, progress: false, envelope, result };
}
