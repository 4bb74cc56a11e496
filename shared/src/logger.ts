import { trace } from '@opentelemetry/api';
import { pino, type Logger, type LoggerOptions, type DestinationStream } from 'pino';

/**
 * Paths redacted in every log line. Secrets must never be logged;
 * a test greps real logs for the secrets it used.
 */
export const REDACT_PATHS = [
  'password',
  '*.password',
  'authorization',
  '*.authorization',
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'headers.cookie',
  'config',
  '*.config',
  'oauth_grant',
  '*.oauth_grant',
  '*.code_secret',
  'access_token',
  '*.access_token',
  'refresh_token',
  '*.refresh_token',
  'client_secret',
  '*.client_secret',
  'token',
  '*.token',
  'resource_token',
  'user_scoped_resource_token',
  'url',
  '*.databaseUrl',
  '*.natsUrl',
  'databaseUrl',
  'natsUrl',
  'log_input_url',
  '*.log_input_url',
];

interface LoggableError {
  name?: string;
  message?: string;
  code?: unknown;
  stack?: string;
  cause?: unknown;
}

/**
 * Errors are logged by an allow-list: name, message, code, stack and cause. Never their other
 * properties: Node's HTTP parser errors carry `rawPacket` (the raw request bytes, Basic
 * credentials included), client errors carry headers and request bodies.
 */
export function serializeError(err: unknown, depth = 0): unknown {
  if (!err || typeof err !== 'object') return err;
  const e = err as LoggableError;
  const out: Record<string, unknown> = { type: e.name ?? 'Error', message: e.message };
  if (typeof e.code === 'string' || typeof e.code === 'number') out.code = e.code;
  if (e.stack) out.stack = e.stack;
  if (e.cause && depth < 3) out.cause = serializeError(e.cause, depth + 1);
  return out;
}

export interface LoggerSettings {
  name: string;
  level?: string;
  destination?: DestinationStream;
}

const NO_FIELDS = {};

/**
 * `trace_id`/`span_id` while a span is being recorded. With tracing off the active span is
 * always undefined (the API's no-op context manager): one cheap call per line.
 */
function logMixin(): Record<string, unknown> {
  const sc = trace.getActiveSpan()?.spanContext();
  if (!sc || !trace.isSpanContextValid(sc)) return NO_FIELDS;
  return { trace_id: sc.traceId, span_id: sc.spanId };
}

export function createLogger(settings: LoggerSettings): Logger {
  const options: LoggerOptions = {
    name: settings.name,
    level: settings.level ?? 'info',
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    serializers: { err: serializeError, error: serializeError },
    base: { service: settings.name },
    timestamp: pino.stdTimeFunctions.isoTime,
    mixin: logMixin,
    // pino's default merges a line's fields into the mixin's object: into the shared
    // NO_FIELDS, every line's fields would leak into all the lines after it.
    mixinMergeStrategy: (fields: object, mixed: object) =>
      mixed === NO_FIELDS ? fields : Object.assign(mixed, fields),
  };
  return settings.destination ? pino(options, settings.destination) : pino(options);
}

export type { Logger };
