/** Picks and builds the driver for one region from the agent's config. */
import { join } from 'node:path';
import { requireBinary } from '../../../deploy/local/binaries.js';
import type { Logger } from '../../../shared/src/logger.js';
import type { AgentConfig } from '../config.js';
import type { Driver } from '../driver.js';
import { createPrivateCa } from '../tls/private-ca.js';
import { withResp } from '../engines/redis/resp-client.js';
import { createKubeApi, loadKubeConfig } from './kubernetes/client.js';
import { createKubernetesDriver, type ProbeTarget } from './kubernetes/driver.js';
import { createLocalDriver } from './local.js';

/** Readiness over the network: verified TLS handshake, AUTH, PING. */
async function tlsProbe(t: ProbeTarget): Promise<boolean> {
  const target = { host: t.host, port: t.port, servername: t.servername, ca: t.ca };
  return (await withResp(target, { user: t.user, password: t.password }, (c) => c.command('PING'))) === 'PONG';
}

export function createDriver(config: AgentConfig, region: string, log: Logger): Driver {
  // One subtree per region so several regions can share a process and a data dir.
  const dataDir = join(config.dataDir, region);
  const issuer = createPrivateCa({ dir: join(dataDir, 'ca'), region });
  if (config.tlsIssuer === 'cert-manager') {
    throw new Error('TLS_ISSUER=cert-manager is not implemented yet; use TLS_ISSUER=private-ca');
  }
  if (config.driver === 'kubernetes') {
    const kube = createKubeApi(loadKubeConfig(config.kubeconfig));
    return createKubernetesDriver({ kube, namespace: config.kubeNamespace, hostname: config.hostname, issuer, log, probe: tlsProbe });
  }
  const redisBin = requireBinary('redis-server', (line) => log.info({ line }, 'installing system package'));
  return createLocalDriver({ dataDir, hostname: config.hostname, issuer, redisBin, log: log.child({ region }) });
}
