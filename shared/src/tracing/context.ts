/**
 * Carrying the W3C trace context where no instrumentation does: through rows (the outbox and
 * the Heroku call queue store a `traceparent`) and NATS headers. Only `@opentelemetry/api`:
 * with tracing off every call here is a no-op (no traceparent, non-recording spans).
 */
import {
  context,
  propagation,
  ROOT_CONTEXT,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Span,
  type SpanKind,
} from '@opentelemetry/api';
import { headers as natsHeaders, type MsgHdrs } from 'nats';

const tracer = trace.getTracer('addon-control-plane');

/** The traceparent of the active span, to store beside work that runs later; null when none. */
export function currentTraceparent(): string | null {
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return carrier.traceparent ?? null;
}

/** The context a stored traceparent continues (a fresh root when there is none). */
export function contextFromTraceparent(traceparent: string | null | undefined): Context {
  if (!traceparent) return ROOT_CONTEXT;
  return propagation.extract(ROOT_CONTEXT, { traceparent });
}

/** NATS headers holding the active context (`traceparent`, `tracestate`), added to `into`. */
export function headersWithTrace(into: MsgHdrs = natsHeaders()): MsgHdrs {
  propagation.inject(context.active(), into, {
    set: (carrier, key, value) => carrier.set(key, value),
  });
  return into;
}

/** The context a NATS message's headers carry (a fresh root when they carry none). */
export function contextFromHeaders(h: MsgHdrs | undefined): Context {
  if (!h) return ROOT_CONTEXT;
  return propagation.extract(ROOT_CONTEXT, h, {
    get: (carrier, key) => (carrier.has(key) ? carrier.get(key) : undefined),
    keys: (carrier) => carrier.keys(),
  });
}

/** The trace id of the active span, when one is being recorded. */
export function activeTraceId(): string | undefined {
  const sc = trace.getActiveSpan()?.spanContext();
  return sc && trace.isSpanContextValid(sc) ? sc.traceId : undefined;
}

export interface SpanOptions {
  kind?: SpanKind;
  attributes?: Attributes;
  /** Parent context (default: the active one). */
  parent?: Context;
}

/** Runs `fn` in a new active span; an error is recorded on it and rethrown. */
export function inSpan<T>(
  name: string,
  options: SpanOptions,
  fn: (span: Span) => Promise<T>,
): Promise<T> {
  const { parent, ...spanOptions } = options;
  return tracer.startActiveSpan(name, spanOptions, parent ?? context.active(), async (span) => {
    try {
      return await fn(span);
    } catch (err) {
      failSpan(span, err);
      throw err;
    } finally {
      span.end();
    }
  });
}

/** Marks a span failed with the error's message. */
export function failSpan(span: Span, err: unknown): void {
  span.recordException(err instanceof Error ? err : String(err));
  span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error)?.message ?? String(err) });
}

/** Marks the active span failed (work that handles its own errors, then carries on). */
export function failActiveSpan(err: unknown): void {
  const span = trace.getActiveSpan();
  if (span) failSpan(span, err);
}

/**
 * Sequential step spans under one parent, for work that only reports its steps by name (a
 * driver's `progress`): each step ends the one before it.
 */
export function stepSpans(prefix: string): {
  step(name: string): void;
  end(err?: unknown): void;
} {
  const parent = context.active();
  let current: Span | undefined;
  return {
    step(name) {
      current?.end();
      current = tracer.startSpan(name, { attributes: { [`${prefix}.step`]: name } }, parent);
    },
    end(err) {
      if (current && err !== undefined) failSpan(current, err);
      current?.end();
      current = undefined;
    },
  };
}
