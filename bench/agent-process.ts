/**
 * The region agent of `npm run bench:agent`, compiled (dist/bench/agent-process.js) and run in a
 * process of its own, as the image runs it: the bench's publishing client and the fake
 * apiserver are not on its thread. Configured by the agent's own env (loadConfig) and wired by
 * its own createDriver; the one difference from serve.ts is the kubernetes driver's TLS
 * readiness probe, which answers true (no pods run behind the fake apiserver).
 *
 * Started by bench/agent.ts with the agent's env; it sends `ready` over IPC once it consumes
 * jobs and stops on SIGTERM.
 */
import { createLogger } from '../shared/src/logger.js';
import { connectNats } from '../shared/src/nats.js';
import { createAgent } from '../region-agent/src/agent/agent.js';
import { loadConfig } from '../region-agent/src/config.js';
import { createDriver } from '../region-agent/src/drivers/create.js';

async function main(): Promise<void> {
  const config = loadConfig(process.env);
  const region = config.regions[0]!;
  const log = createLogger({
    name: 'bench-agent',
    level: config.logLevel,
    destination: process.stderr,
  });
  const nc = await connectNats(config.nats);
  const agent = createAgent({
    nc,
    region,
    agentId: config.agentId,
    driver: createDriver(config, region, log, undefined, async () => true),
    log,
    concurrency: config.concurrency,
    maxDeliver: config.maxDeliver,
    ackWaitMs: config.ackWaitMs,
    heartbeatMs: config.heartbeatMs,
    inventoryMs: config.inventoryMs,
  });
  await agent.start();
  process.on('SIGTERM', () => {
    void agent
      .stop()
      .then(() => nc.drain())
      .then(() => process.exit(0));
  });
  process.send?.('ready');
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
