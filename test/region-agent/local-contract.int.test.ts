/** The local driver passes the same driver contract as the kubernetes one. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireBinary } from '../../shared/src/binaries.js';
import { createLogger } from '../../shared/src/logger.js';
import { createLocalDriver } from '../../region-agent/src/drivers/local.js';
import { isRedisAlive } from '../../region-agent/src/engines/redis/local-process.js';
import { createPrivateCa } from '../../region-agent/src/tls/private-ca.js';
import { driverContract } from './driver-contract.js';
import { killRecorded, recordedPids } from './support.js';

const dataDir = mkdtempSync(join(tmpdir(), 'ra-local-contract-'));
const log = createLogger({ name: 'test', level: 'silent' });

afterAll(() => {
  killRecorded(dataDir);
  rmSync(dataDir, { recursive: true, force: true });
});

driverContract('local', () => ({
  driver: () =>
    createLocalDriver({ dataDir, hostname: 'localhost', issuer: createPrivateCa({ dir: join(dataDir, 'ca'), region: 'us-east' }), redisBin: requireBinary('redis-server'), log }),
  reach: (host, port) => ({ host: host === 'localhost' ? '127.0.0.1' : host, port }),
  processes: (uuid) => recordedPids(join(dataDir, 'instances', uuid)).filter(isRedisAlive).length,
}));
