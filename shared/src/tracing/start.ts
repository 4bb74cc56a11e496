/**
 * Tracing start-up, off unless an OTLP endpoint is configured (`OTEL_EXPORTER_OTLP_ENDPOINT`
 * or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`): then, and only then, the SDK is imported, so the
 * default costs nothing but the no-op `@opentelemetry/api`. The SDK reads the standard
 * variables itself (`OTEL_SERVICE_NAME`, `OTEL_TRACES_SAMPLER`, `OTEL_EXPORTER_OTLP_PROTOCOL`:
 * `http/protobuf`, the default, or `http/json`; `OTEL_BSP_*`, `OTEL_RESOURCE_ATTRIBUTES`…).
 *
 * ESM: the instrumentations patch `pg` and `http` (which Koa uses) when those modules load,
 * through import-in-the-middle's loader hook for `import` and require-in-the-middle for
 * `require`. So the hook is registered and the SDK started before the application is
 * imported: each main.ts calls startTracing and then imports its wiring dynamically.
 */
import { register } from 'node:module';
import type { Instrumentation } from '@opentelemetry/instrumentation';

export type TracedService = 'control-plane' | 'region-agent';

interface Running {
  shutdown(): Promise<void>;
}

let running: Running | undefined;

/** Whether tracing is on: an OTLP endpoint is set (the SDK's own variables). */
export function tracingEnabled(env: NodeJS.ProcessEnv): boolean {
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
}

/** The official instrumentations each service uses, each told to skip what is only noise. */
async function instrumentationsFor(service: TracedService): Promise<Instrumentation[]> {
  const [{ HttpInstrumentation }, { UndiciInstrumentation }] = await Promise.all([
    import('@opentelemetry/instrumentation-http'),
    import('@opentelemetry/instrumentation-undici'),
  ]);
  const quiet = new Set(['/livez', '/readyz', '/metrics']);
  const http = new HttpInstrumentation({
    ignoreIncomingRequestHook: (req) => quiet.has((req.url ?? '').split('?')[0] ?? ''),
    // Outgoing calls outside any trace (a sweep, the exporter itself) are not worth a trace.
    requireParentforOutgoingSpans: true,
  });
  if (service === 'region-agent') return [http];
  const [{ PgInstrumentation }, { KoaInstrumentation }] = await Promise.all([
    import('@opentelemetry/instrumentation-pg'),
    import('@opentelemetry/instrumentation-koa'),
  ]);
  return [
    http,
    new UndiciInstrumentation({ requireParentforSpans: true }),
    // The dispatcher's and call worker's sweeps query every second: only queries made for a
    // traced request, job or call become spans.
    new PgInstrumentation({ requireParentSpan: true }),
    new KoaInstrumentation(),
  ];
}

/**
 * Starts the SDK when tracing is on; call before importing the application. Resolves false
 * when tracing is off (nothing was loaded).
 */
export async function startTracing(
  env: NodeJS.ProcessEnv,
  service: TracedService,
): Promise<boolean> {
  if (!tracingEnabled(env) || running) return Boolean(running);
  register('@opentelemetry/instrumentation/hook.mjs', import.meta.url);
  const { NodeSDK } = await import('@opentelemetry/sdk-node');
  const sdk = new NodeSDK({
    serviceName: env.OTEL_SERVICE_NAME || service,
    instrumentations: await instrumentationsFor(service),
    // Traces only: the SDK would otherwise export metrics and logs over OTLP too.
    metricReaders: [],
    logRecordProcessors: [],
  });
  sdk.start();
  running = sdk;
  return true;
}

/** Flushes the spans still buffered and stops the SDK (shutdown); nothing when it is off. */
export async function stopTracing(): Promise<void> {
  const sdk = running;
  running = undefined;
  await sdk?.shutdown().catch(() => undefined);
}

/**
 * The standard variables the charts set for tracing (all read by the SDK itself, none by
 * loadConfig); the other OTEL_* variables work too, through `extraEnv`.
 */
export const TRACING_ENV_VARS: readonly string[] = [
  'OTEL_EXPORTER_OTLP_ENDPOINT',
  'OTEL_EXPORTER_OTLP_PROTOCOL',
  'OTEL_TRACES_SAMPLER',
  'OTEL_TRACES_SAMPLER_ARG',
  'OTEL_SERVICE_NAME',
];
