/** Wiring only: config → logger → control plane → listen → shutdown. */
import { createLogger } from '../../shared/src/logger.js';
import { loadConfig } from './config.js';
import { createControlPlane } from './composition-root.js';
import { stopTracing } from '../../shared/src/tracing/start.js';

const config = loadConfig(process.env);
const log = createLogger({ name: 'control-plane', level: config.logLevel });

const plane = await createControlPlane(config, log, {
  afterPublish:
    process.env.FAULT_CRASH_AFTER_PUBLISH === '1'
      ? () => process.kill(process.pid, 'SIGKILL')
      : undefined,
});
await plane.start();

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) {
    log.warn({ signal }, 'second signal: exiting now');
    process.exit(1);
  }
  stopping = true;
  log.info({ signal }, 'shutting down');
  const force = setTimeout(() => process.exit(1), 15_000);
  force.unref();
  await plane.stop();
  await stopTracing(); // the last spans are flushed before exit
  log.info('stopped');
  process.exit(0);
}
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));
