/**
 * Entry point. Tracing starts first, when configured: its module hooks must be in place
 * before pg, http and koa load (ESM), so the wiring (serve.ts) is imported only afterwards.
 */
import { startTracing } from '../../shared/src/tracing/start.js';

await startTracing(process.env, 'control-plane');
await import('./serve.js');
