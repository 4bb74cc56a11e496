/** Picks and builds the driver for one region from the agent's config. */
import { join } from 'node:path';
import { requireBinary } from '../../../deploy/local/binaries.js';
import type { Logger } from '../../../shared/src/logger.js';
import type { AgentConfig } from '../config.js';
import type { Driver } from '../driver.js';
import { createPrivateCa } from '../tls/private-ca.js';
import { createLocalDriver } from './local.js';

export function createDriver(config: AgentConfig, region: string, log: Logger): Driver {
  if (config.driver === 'kubernetes') {
    throw new Error('AGENT_DRIVER=kubernetes is not available in this build yet; use AGENT_DRIVER=local');
  }
  // One subtree per region so several regions can share a process and a data dir.
  const dataDir = join(config.dataDir, region);
  const issuer = createPrivateCa({ dir: join(dataDir, 'ca'), region });
  const redisBin = requireBinary('redis-server', (line) => log.info({ line }, 'installing system package'));
  return createLocalDriver({ dataDir, hostname: config.hostname, issuer, redisBin, log: log.child({ region }) });
}
