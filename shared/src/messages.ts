/**
 * The wire contract between control plane and region agents. Every payload carries
 * `version`; receivers parse before acting. Bump the version for incompatible changes.
 */
import { z } from 'zod';

export const MESSAGE_VERSION = 1 as const;

export const OperationKindSchema = z.enum([
  'provision',
  'change_plan',
  'deprovision',
  'rotate_credentials',
  'revoke_credentials',
  /** The reconciler's: bring a missing or stale instance back to this plan and generation. */
  'repair',
]);
export type OperationKind = z.infer<typeof OperationKindSchema>;

export const EngineSchema = z.enum(['redis']);
export type Engine = z.infer<typeof EngineSchema>;

/** Engine sizing from the catalog plan; engines read what they understand. */
export const SizeSchema = z.object({
  memoryMb: z.number().int().positive(),
  cpuMillis: z.number().int().positive(),
  storageGb: z.number().int().positive().optional(),
  maxConnections: z.number().int().positive().optional(),
});
export type Size = z.infer<typeof SizeSchema>;

export const JobResourceSchema = z.object({
  uuid: z.uuid(),
  name: z.string(),
  plan: z.string(),
  /**
   * The catalog's engine (`EngineSchema`). Any name parses: an agent refuses one it does not
   * run with a failed result (`unknown_engine`) instead of dropping the job unanswered.
   */
  engine: z.string().min(1),
  size: SizeSchema,
  herokuRegion: z.string(),
  agentRegion: z.string(),
  privateSpace: z.boolean(),
});
export type JobResource = z.infer<typeof JobResourceSchema>;

export const JobSchema = z.object({
  version: z.literal(MESSAGE_VERSION),
  operationId: z.uuid(),
  kind: OperationKindSchema,
  generation: z.number().int().positive(),
  /** Dispatch attempt of this operation (1 first); results of a retry must not be deduplicated. */
  attempt: z.number().int().positive().default(1),
  resource: JobResourceSchema,
  /** Config var prefix from the manifest, e.g. `MYADDON` → `MYADDON_URL`. */
  configVarsPrefix: z.string().regex(/^[A-Z][A-Z0-9_]*$/),
  /** Kind-specific parameters (e.g. `{ revokeUser }` for revoke_credentials). */
  params: z.record(z.string(), z.unknown()).default({}),
  deadline: z.iso.datetime({ offset: true }),
  /**
   * The W3C trace id of the dispatch when it is traced (a random id otherwise), so a job can be
   * found in the traces from its log lines. The parent span travels in the `traceparent` header.
   */
  traceId: z.string(),
});
export type Job = z.infer<typeof JobSchema>;

/**
 * What a job of any version names of itself: enough for an agent that cannot run it (another
 * message version, a kind it does not know) to refuse it with a failed result, so the
 * operation fails at once with the reason instead of timing out.
 */
export const JobEnvelopeSchema = z.object({
  version: z.number().int(),
  operationId: z.uuid(),
  kind: z.string().min(1),
  generation: z.number().int().positive(),
  attempt: z.number().int().positive().default(1),
  resource: z.object({ uuid: z.uuid(), agentRegion: z.string() }),
});
export type JobEnvelope = z.infer<typeof JobEnvelopeSchema>;

export const ResultStatusSchema = z.enum(['succeeded', 'failed', 'progress']);
export type ResultStatus = z.infer<typeof ResultStatusSchema>;

export const ResultErrorSchema = z.object({
  code: z.string(),
  message: z.string(),
  retryable: z.boolean(),
});
export type ResultError = z.infer<typeof ResultErrorSchema>;

export const ResultSchema = z.object({
  version: z.literal(MESSAGE_VERSION),
  operationId: z.uuid(),
  uuid: z.uuid(),
  kind: OperationKindSchema,
  generation: z.number().int().positive(),
  agentRegion: z.string(),
  agentId: z.string(),
  status: ResultStatusSchema,
  /** Human-readable step for progress results ("issuing certificate"). */
  step: z.string().optional(),
  config: z.record(z.string(), z.string()).optional(),
  endpoint: z.object({ host: z.string(), port: z.number().int() }).optional(),
  certificate: z
    .object({ notAfter: z.iso.datetime({ offset: true }), fingerprint: z.string() })
    .optional(),
  error: ResultErrorSchema.optional(),
  at: z.iso.datetime({ offset: true }),
});
export type Result = z.infer<typeof ResultSchema>;

/**
 * What a result of any version names of itself: enough for a control plane that cannot read it
 * (a newer agent's) to fail the operation it answers with the reason, after the same checks of
 * who may say this as any result, instead of letting it time out and run again on that agent.
 */
export const ResultEnvelopeSchema = z.object({
  version: z.number().int(),
  operationId: z.uuid(),
  uuid: z.uuid(),
  /** Any name: a kind this release does not know is a newer release's (a rolling upgrade). */
  kind: z.string().min(1),
  generation: z.number().int().positive(),
  agentRegion: z.string(),
  agentId: z.string(),
  status: z.string().min(1),
});
export type ResultEnvelope = z.infer<typeof ResultEnvelopeSchema>;

export const HeartbeatSchema = z.object({
  version: z.literal(MESSAGE_VERSION),
  agentRegion: z.string(),
  agentId: z.string(),
  driver: z.string(),
  inFlight: z.number().int().nonnegative(),
  startedAt: z.iso.datetime({ offset: true }),
  at: z.iso.datetime({ offset: true }),
});
export type Heartbeat = z.infer<typeof HeartbeatSchema>;

/** What an answering instance reports of itself with the inventory (the dashboard's numbers). */
export const InstanceStatsSchema = z.object({
  usedMemoryBytes: z.number().nonnegative(),
  /** The plan's limit as the server enforces it (redis `maxmemory`); 0 when unlimited. */
  maxMemoryBytes: z.number().nonnegative(),
  keys: z.number().nonnegative(),
  clients: z.number().nonnegative(),
  opsPerSec: z.number().nonnegative(),
  uptimeS: z.number().nonnegative(),
});
export type InstanceStats = z.infer<typeof InstanceStatsSchema>;

export const InventorySchema = z.object({
  version: z.literal(MESSAGE_VERSION),
  agentRegion: z.string(),
  agentId: z.string(),
  instances: z.array(
    z.object({
      uuid: z.uuid(),
      generation: z.number().int().nonnegative(),
      plan: z.string(),
      /** Answers over verified TLS (local: a probe; kubernetes: a probe of the ready pod). */
      ready: z.boolean(),
      /** The engine the instance runs; optional so an older agent's inventory still parses. */
      engine: z.string().optional(),
      /** Measured when the instance answered; optional so an older agent's inventory still parses. */
      stats: InstanceStatsSchema.optional(),
    }),
  ),
  at: z.iso.datetime({ offset: true }),
});
export type Inventory = z.infer<typeof InventorySchema>;
export type InstanceSummary = Inventory['instances'][number];

/** Decode a NATS payload into a schema; throws a MessageError naming the problem. */
export function decodeMessage<T>(schema: z.ZodType<T>, data: Uint8Array): T {
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder().decode(data));
  } catch (cause) {
    throw new MessageError('payload is not JSON', { cause });
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    throw new MessageError(`payload rejected: ${z.prettifyError(parsed.error)}`);
  }
  return parsed.data;
}

export function encodeMessage<T>(value: T): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value));
}

export class MessageError extends Error {
  override name = 'MessageError';
}
