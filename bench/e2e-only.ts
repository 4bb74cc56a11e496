/** `npm run bench:e2e`: only the end-to-end provision latency benchmark. */
import { runE2eBench } from './e2e.js';
import { keepRunningWhenStdoutCloses } from './stdout.js';
keepRunningWhenStdoutCloses();
await runE2eBench();
