import { Writable } from 'node:stream';
import { SpanStatusCode, trace } from '@opentelemetry/api';
import {
  InMemorySpanExporter,
  NodeTracerProvider,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-node';
import { createLogger } from '../logger.js';
import {
  contextFromHeaders,
  contextFromTraceparent,
  currentTraceparent,
  headersWithTrace,
  inSpan,
  stepSpans,
} from './context.js';

const exporter = new InMemorySpanExporter();

function logLines(): { log: ReturnType<typeof createLogger>; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      cb();
    },
  });
  return { log: createLogger({ name: 'test', destination }), lines };
}

// Runs first, before a tracer provider is registered: tracing off.
it('with tracing off, there is no traceparent to store or send, and no trace id to log', async () => {
  const { log, lines } = logLines();
  await inSpan('off', {}, async () => {
    expect(currentTraceparent()).toBeNull();
    expect(headersWithTrace().has('traceparent')).toBe(false);
    log.info('inside');
  });
  expect(lines[0]).not.toHaveProperty('trace_id');
});

it("a line's fields stay on that line (the no-trace mixin object is shared by every line)", () => {
  const { log, lines } = logLines();
  log.info({ reason: 'first' }, 'one');
  log.info({ via: 'second' }, 'two');
  log.child({ resource: 'r1' }).info({ step: 3 }, 'three');
  log.info('four');
  expect(
    lines.map(({ msg, reason, via, resource, step }) => ({ msg, reason, via, resource, step })),
  ).toEqual([
    { msg: 'one', reason: 'first' },
    { msg: 'two', via: 'second' },
    { msg: 'three', resource: 'r1', step: 3 },
    { msg: 'four' },
  ]);
});

describe('with a tracer provider', () => {
  beforeAll(() => {
    new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }).register();
  });
  beforeEach(() => exporter.reset());

  it('a stored traceparent continues the trace of the span it was taken in', async () => {
    let stored: string | null = null;
    const parent = await inSpan('request', {}, async (span) => {
      stored = currentTraceparent();
      return span.spanContext();
    });
    expect(stored).toBe(`00-${parent.traceId}-${parent.spanId}-01`);
    await inSpan('later', { parent: contextFromTraceparent(stored) }, async () => undefined);
    const later = exporter.getFinishedSpans().find((s) => s.name === 'later')!;
    expect(later.spanContext().traceId).toBe(parent.traceId);
    expect(later.parentSpanContext?.spanId).toBe(parent.spanId);
  });

  it('NATS headers carry the context from publisher to consumer', async () => {
    const h = await inSpan('publish', {}, async () => headersWithTrace());
    const publish = exporter.getFinishedSpans()[0]!;
    await inSpan('consume', { parent: contextFromHeaders(h) }, async () => undefined);
    const consume = exporter.getFinishedSpans()[1]!;
    expect(consume.spanContext().traceId).toBe(publish.spanContext().traceId);
    expect(consume.parentSpanContext?.spanId).toBe(publish.spanContext().spanId);
  });

  it('without a stored context or headers, a new trace starts (nothing inherited)', async () => {
    await inSpan('outer', {}, async () => {
      await inSpan('fresh', { parent: contextFromTraceparent(null) }, async () => undefined);
      await inSpan('fresh too', { parent: contextFromHeaders(undefined) }, async () => undefined);
    });
    const spans = exporter.getFinishedSpans();
    const outer = spans.find((s) => s.name === 'outer')!;
    for (const name of ['fresh', 'fresh too']) {
      const s = spans.find((x) => x.name === name)!;
      expect(s.parentSpanContext).toBeUndefined();
      expect(s.spanContext().traceId).not.toBe(outer.spanContext().traceId);
    }
  });

  it('a failing span records the error and rethrows it', async () => {
    await expect(
      inSpan('boom', {}, async () => {
        throw new Error('no');
      }),
    ).rejects.toThrow('no');
    expect(exporter.getFinishedSpans()[0]!.status).toEqual({
      code: SpanStatusCode.ERROR,
      message: 'no',
    });
  });

  it('step spans follow each other under the span they were created in', async () => {
    const job = await inSpan('job', {}, async (span) => {
      const steps = stepSpans('agent');
      steps.step('issuing certificate');
      steps.step('waiting for TLS readiness');
      steps.end(new Error('never ready'));
      return span.spanContext();
    });
    const spans = exporter.getFinishedSpans().filter((s) => s.name !== 'job');
    expect(spans.map((s) => s.name)).toEqual(['issuing certificate', 'waiting for TLS readiness']);
    for (const s of spans) expect(s.parentSpanContext?.spanId).toBe(job.spanId);
    expect(spans.map((s) => s.status.code)).toEqual([SpanStatusCode.UNSET, SpanStatusCode.ERROR]);
    expect(spans[0]!.attributes['agent.step']).toBe('issuing certificate');
  });

  it('log lines carry trace_id and span_id inside a span', async () => {
    const { log, lines } = logLines();
    const sc = await inSpan('request', {}, async (span) => {
      log.child({ requestId: 'r-1' }).info({ resourceId: 'x' }, 'inside');
      return span.spanContext();
    });
    log.info('outside');
    expect(lines[0]).toMatchObject({
      requestId: 'r-1',
      resourceId: 'x',
      trace_id: sc.traceId,
      span_id: sc.spanId,
    });
    expect(lines[1]).not.toHaveProperty('trace_id');
    expect(trace.getActiveSpan()).toBeUndefined();
  });
});
