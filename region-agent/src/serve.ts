/** Wiring only: config → logger → NATS → one agent per region → shutdown on signal. */
import type { NatsConnection } from 'nats';
import { createLogger, type Logger } from '../../shared/src/logger.js';
import { connectNats } from '../../shared/src/nats.js';
import { createAgent, type Agent } from './agent/agent.js';
import { holdRegion, localHolder } from './agent/ownership.js';
import { loadConfig, type AgentConfig } from './config.js';
import { createDriver } from './drivers/create.js';
import { createHealthServer } from './health.js';
import { stopTracing } from '../../shared/src/tracing/start.js';
import { createAgentMetrics, registerAgentGauges } from './metrics.js';

const SHUTDOWN_TIMEOUT_MS = 30_000;
const SECOND_SIGNAL_GRACE_MS = 1_000;

/** One data dir per region: a local agent refuses to start beside another one of its region. */
async function holdRegions(nc: NatsConnection, config: AgentConfig, log: Logger): Promise<void> {
  const me = { holder: localHolder(config.dataDir), agentId: config.agentId };
  await Promise.all(config.regions.map((region) => holdRegion(nc, region, me, log)));
}

async function main(): Promise<void> {
  const config = loadConfig(process.env);
  const log = createLogger({ name: 'region-agent', level: config.logLevel });
  const nc = await connectNats(config.nats);
  log.info(
    {
      server: nc.getServer(),
      inboxPrefix: config.nats.inboxPrefix,
      regions: config.regions,
      driver: config.driver,
    },
    'connected to NATS',
  );

  const metrics = createAgentMetrics();
  const drivers = config.regions.map((region) => createDriver(config, region, log, metrics));
  registerAgentGauges(metrics.registry, { nc, drivers });
  const agents: Agent[] = config.regions.map((region, i) =>
    createAgent({
      nc,
      region,
      agentId: config.agentId,
      driver: drivers[i]!,
      metrics,
      log,
      concurrency: config.concurrency,
      maxDeliver: config.maxDeliver,
      streamReplicas: config.streamReplicas,
      ackWaitMs: config.ackWaitMs,
      heartbeatMs: config.heartbeatMs,
      inventoryMs: config.inventoryMs,
    }),
  );
  let ready = false;
  let stopping = false;
  let firstSignalAt = 0;
  const health = createHealthServer(() => ready && !stopping && !nc.isClosed(), {
    registry: metrics.registry,
    token: config.metricsToken,
  });
  if (config.healthPort > 0) {
    // A busy port must not stop job processing (several local agents on one machine);
    // in a cluster the failing probes make it visible.
    await health
      .listen(config.healthPort)
      .catch((err: unknown) =>
        log.error({ port: config.healthPort, err }, 'health server not listening'),
      );
  }
  if (config.driver === 'local') await holdRegions(nc, config, log);
  for (const agent of agents) await agent.start();
  ready = true;

  const shutdown = (signal: string): void => {
    if (stopping) {
      // Ctrl-C reaches the whole process group and a supervisor forwards SIGTERM at the same
      // moment: only a signal sent later is a deliberate second one.
      if (Date.now() - firstSignalAt < SECOND_SIGNAL_GRACE_MS) return;
      log.warn({ signal }, 'second signal, exiting now');
      process.exit(1);
    }
    stopping = true;
    firstSignalAt = Date.now();
    log.info({ signal }, 'shutting down');
    const force = setTimeout(() => {
      log.error('shutdown timed out');
      process.exit(1);
    }, SHUTDOWN_TIMEOUT_MS);
    force.unref();
    Promise.all(agents.map((a) => a.stop()))
      .then(() => nc.drain())
      .then(() => health.close())
      .then(() => stopTracing()) // the last spans are flushed before exit
      .then(() => {
        log.info('shutdown complete');
        process.exit(0);
      })
      .catch((err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      });
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? `${err.name}: ${err.message}` : err);
  process.exit(1);
});
