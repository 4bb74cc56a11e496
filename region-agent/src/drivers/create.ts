/** Picks and builds the driver for one region from the agent's config. */
import { join } from 'node:path';
import type { Logger } from '../../../shared/src/logger.js';
import type { AgentConfig } from '../config.js';
import type { Driver } from '../driver.js';
import { createAgentEngines } from '../engines/index.js';
import { createPrivateCa } from '../tls/private-ca.js';
import { secretCaStore } from './kubernetes/ca-secret.js';
import { createCertManagerCertificates } from './kubernetes/certificates.js';
import { createKubeApi, loadKubeConfig } from './kubernetes/client.js';
import { createKubernetesDriver, type InstanceTls } from './kubernetes/driver.js';
import { createLocalDriver } from './local/driver.js';
import { countingProbeFailures, type AgentMetrics } from '../metrics.js';
import type { Probe } from './kubernetes/readiness.js';

export function createDriver(
  config: AgentConfig,
  region: string,
  log: Logger,
  metrics?: AgentMetrics,
  /** kubernetes: replaces the TLS readiness check (the agent bench's apiserver runs no pods). */
  kubeProbe?: Probe,
): Driver {
  const engines = countingProbeFailures(
    createAgentEngines({ localProcesses: config.driver === 'local', log }),
    metrics,
  );
  // One subtree per region so several regions can share a process and a data dir.
  const dataDir = join(config.dataDir, region);
  if (config.driver === 'kubernetes') {
    const kube = createKubeApi(loadKubeConfig(config.kubeconfig));
    const namespace = config.kubeNamespace;
    const tls: InstanceTls =
      config.tlsIssuer === 'cert-manager' && config.certManagerIssuer
        ? {
            mode: 'cert-manager',
            certificates: createCertManagerCertificates({
              kube,
              namespace,
              issuerRef: config.certManagerIssuer,
              log,
            }),
          }
        : {
            mode: 'private-ca',
            issuer: createPrivateCa({
              store: secretCaStore(
                kube,
                namespace,
                config.caSecretName ?? `region-agent-ca-${region}`,
              ),
              region,
            }),
          };
    return createKubernetesDriver({
      kube,
      namespace,
      hostname: config.hostname,
      serviceType: config.kubeServiceType,
      tls,
      engines,
      log,
      ...(kubeProbe ? { probe: kubeProbe } : {}),
    });
  }
  const issuer = createPrivateCa({ dir: join(dataDir, 'ca'), region });
  return createLocalDriver({
    dataDir,
    hostname: config.hostname,
    issuer,
    engines,
    log: log.child({ region }),
  });
}
