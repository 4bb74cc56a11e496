/** Picks and builds the driver for one region from the agent's config. */
import { join } from 'node:path';
import { requireBinary } from '../../../shared/src/binaries.js';
import type { Logger } from '../../../shared/src/logger.js';
import type { AgentConfig } from '../config.js';
import type { Driver } from '../driver.js';
import { createEngines, type Engines } from '../engines/index.js';
import { createRedisEngine } from '../engines/redis/engine.js';
import { createPrivateCa } from '../tls/private-ca.js';
import { secretCaStore } from './kubernetes/ca-secret.js';
import { createCertManagerCertificates } from './kubernetes/certificates.js';
import { createKubeApi, loadKubeConfig } from './kubernetes/client.js';
import { createKubernetesDriver, type InstanceTls } from './kubernetes/driver.js';
import { createLocalDriver } from './local/driver.js';

/** The engines this agent runs. Local processes need their binaries on this machine. */
function engines(config: AgentConfig, log: Logger): Engines {
  if (config.driver === 'kubernetes') return createEngines([createRedisEngine()]);
  const bin = requireBinary('redis-server', (line) =>
    log.info({ line }, 'installing system package'),
  );
  return createEngines([createRedisEngine({ bin })]);
}

export function createDriver(config: AgentConfig, region: string, log: Logger): Driver {
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
      engines: engines(config, log),
      log,
    });
  }
  const issuer = createPrivateCa({ dir: join(dataDir, 'ca'), region });
  return createLocalDriver({
    dataDir,
    hostname: config.hostname,
    issuer,
    engines: engines(config, log),
    log: log.child({ region }),
  });
}
