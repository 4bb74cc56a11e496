/**
 * The region agent of `npm run bench:agent`, compiled (dist/bench/agent-process.js) and run in a
 * process of its own, as the image runs it: the bench's publishing client and the fake
 * apiserver are not on its thread. Its driver is built here rather than by the agent's config
 * because the kubernetes phase replaces the TLS readiness probe (no pods run behind the fake)
 * and both phases set maxDeliver 1 (a failing job reports `failed` at once instead of hiding a
 * retry in its latency).
 *
 * Started by bench/agent.ts with BENCH_AGENT_SETTINGS (JSON, `AgentProcessSettings`); it sends
 * `ready` over IPC once it consumes jobs and stops on SIGTERM.
 */
import { join } from 'node:path';
import { createLogger } from '../shared/src/logger.js';
import { agentInboxPrefix, connectNats } from '../shared/src/nats.js';
import { createAgent } from '../region-agent/src/agent/agent.js';
import type { Driver } from '../region-agent/src/driver.js';
import { secretCaStore } from '../region-agent/src/drivers/kubernetes/ca-secret.js';
import { createKubeApi, loadKubeConfig } from '../region-agent/src/drivers/kubernetes/client.js';
import { createKubernetesDriver } from '../region-agent/src/drivers/kubernetes/driver.js';
import { createLocalDriver } from '../region-agent/src/drivers/local/driver.js';
import { createAgentEngines } from '../region-agent/src/engines/index.js';
import { createPrivateCa } from '../region-agent/src/tls/private-ca.js';

export interface AgentProcessSettings {
  natsUrl: string;
  region: string;
  concurrency: number;
  driver:
    | { kind: 'kubernetes'; kubeconfig: string; namespace: string; hostname: string }
    | { kind: 'local'; dataDir: string };
}

const log = createLogger({
  name: 'bench-agent',
  level: process.env.BENCH_LOG_LEVEL ?? 'warn',
  destination: process.stderr,
});

function driverFor(s: AgentProcessSettings): Driver {
  const d = s.driver;
  if (d.kind === 'local') {
    return createLocalDriver({
      dataDir: d.dataDir,
      hostname: 'localhost',
      issuer: createPrivateCa({ dir: join(d.dataDir, 'ca'), region: s.region }),
      engines: createAgentEngines({ localProcesses: true, log }),
      log,
    });
  }
  const kube = createKubeApi(loadKubeConfig(d.kubeconfig));
  const issuer = createPrivateCa({
    store: secretCaStore(kube, d.namespace, `region-agent-ca-${s.region}`),
    region: s.region,
  });
  return createKubernetesDriver({
    kube,
    namespace: d.namespace,
    hostname: d.hostname,
    tls: { mode: 'private-ca', issuer },
    log,
    engines: createAgentEngines({ localProcesses: false, log }),
    probe: async () => true,
  });
}

async function main(): Promise<void> {
  const settings = JSON.parse(process.env.BENCH_AGENT_SETTINGS ?? '') as AgentProcessSettings;
  // The connection options the agent's own wiring uses (serve.ts → connectNats).
  const nc = await connectNats({
    url: settings.natsUrl,
    name: `bench region-agent ${settings.region}`,
    inboxPrefix: agentInboxPrefix([settings.region]),
  });
  const agent = createAgent({
    nc,
    region: settings.region,
    agentId: `bench-${settings.region}`,
    driver: driverFor(settings),
    log,
    concurrency: settings.concurrency,
    maxDeliver: 1,
    heartbeatMs: 10_000,
    inventoryMs: 3_600_000,
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
