/** `npm run bench:agent`: only the region agent benchmark (kubernetes and local drivers). */
import { runAgentBench } from './agent.js';
import { keepRunningWhenStdoutCloses } from './stdout.js';
keepRunningWhenStdoutCloses();
await runAgentBench();
