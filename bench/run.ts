/**
 * `npm run bench`: provision acceptance side by side with the durable-commit floor and the
 * bare ceiling (bench/acceptance.ts → bench/results/provision-acceptance.json; BENCH_SECONDS,
 * BENCH_ROUNDS, BENCH_CONCURRENCY; BENCH_ONLY=plain,lookup measures only those targets and
 * writes nothing; BENCH_PG_STATEMENTS=1 prints the top statements after each round;
 * BENCH_PG_SETTINGS="name=value …" runs the private PostgreSQL with those settings; then the
 * plain path's checks at 100,000 resources and after a 20 s round, bench/scale.ts, which
 * BENCH_SKIP_SCALE=1 leaves out), then the
 * e2e latency bench (bench/e2e.ts) and the region agent bench (bench/agent.ts);
 * BENCH_SKIP_E2E=1 / BENCH_SKIP_AGENT=1 leave them out.
 */
import { runAcceptanceBench } from './acceptance.js';
import { keepRunningWhenStdoutCloses } from './stdout.js';
import { runE2eBench } from './e2e.js';
import { runAgentBench } from './agent.js';

const say = (s: string): void => void process.stdout.write(`${s}\n`);

keepRunningWhenStdoutCloses();
await runAcceptanceBench();
if (process.env.BENCH_SKIP_E2E !== '1') {
  say(
    '\n▶ end-to-end provision latency (local driver, POST → provision action at the Heroku simulator)',
  );
  await runE2eBench();
}
if (process.env.BENCH_SKIP_AGENT !== '1') {
  say(
    '\n▶ region agent alone (kubernetes driver on the fake apiserver, local driver with real redis)',
  );
  await runAgentBench();
}
