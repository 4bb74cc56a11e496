/** The local driver passes the same driver contract as the kubernetes one. */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireBinary } from '../../shared/src/binaries.js';
import { createLogger } from '../../shared/src/logger.js';
import { createLocalDriver } from '../../region-agent/src/drivers/local.js';
import { isPortOpen, isRedisAlive } from '../../region-agent/src/engines/redis/local-process.js';
import { createPrivateCa } from '../../region-agent/src/tls/private-ca.js';
import { driverContract } from './driver-contract.js';
import { killRecorded, makeJob, recordedPids } from './support.js';

const dataDir = mkdtempSync(join(tmpdir(), 'ra-local-contract-'));
const log = createLogger({ name: 'test', level: 'silent' });

afterAll(() => {
  killRecorded(dataDir);
  rmSync(dataDir, { recursive: true, force: true });
});

const driver = (): ReturnType<typeof createLocalDriver> =>
  createLocalDriver({
    dataDir,
    hostname: 'localhost',
    issuer: createPrivateCa({ dir: join(dataDir, 'ca'), region: 'us-east' }),
    redisBin: requireBinary('redis-server'),
    log,
  });

driverContract('local', () => ({
  driver,
  reach: (host, port) => ({ host: host === 'localhost' ? '127.0.0.1' : host, port }),
  processes: (uuid) => recordedPids(join(dataDir, 'instances', uuid)).filter(isRedisAlive).length,
}));

describe('local driver upkeep', () => {
  it('restarts an instance whose process died, on the same port', async () => {
    const uuid = randomUUID();
    const out = await driver().provision(makeJob('provision', uuid), async () => {});
    const [pid] = recordedPids(join(dataDir, 'instances', uuid));
    process.kill(pid ?? 0, 'SIGKILL');
    // The kernel closes the socket a moment after the process stops counting as alive.
    for (let i = 0; i < 100 && (isRedisAlive(pid) || (await isPortOpen(out.endpoint.port))); i++)
      await new Promise((r) => setTimeout(r, 20));
    expect(await isPortOpen(out.endpoint.port)).toBe(false);
    await driver().maintain(uuid);
    const [restarted] = recordedPids(join(dataDir, 'instances', uuid));
    expect(restarted).not.toBe(pid);
    expect(isRedisAlive(restarted)).toBe(true);
    expect(await isPortOpen(out.endpoint.port)).toBe(true);
    await driver().maintain(randomUUID()); // unknown: nothing
  });
});
