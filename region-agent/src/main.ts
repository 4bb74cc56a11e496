/**
 * Entry point. Tracing starts first, when configured: its module hooks must be in place
 * before the modules it instruments load (ESM), so the wiring (serve.ts) is imported after.
 */
import { startTracing } from '../../shared/src/tracing/start.js';

await startTracing(process.env, 'region-agent');
await import('./serve.js');
