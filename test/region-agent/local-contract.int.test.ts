/** The local driver passes the same driver contract as the kubernetes one, with each engine. */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../shared/src/logger.js';
import { isPortOpen } from '../../shared/src/ports.js';
import { createLocalDriver } from '../../region-agent/src/drivers/local/driver.js';
import { isServerAlive } from '../../region-agent/src/drivers/local/process.js';
import { createPrivateCa } from '../../region-agent/src/tls/private-ca.js';
import { createEngines } from '../../region-agent/src/engines/index.js';
import { createRedisEngine } from '../../region-agent/src/engines/redis/engine.js';
import { requireBinary } from '../../shared/src/binaries.js';
import { createEchoEngine } from '../support/echo-engine.js';
import { driverContract, redisContract, type DriverHarness } from './driver-contract.js';
import { killRecorded, makeJob, recordedPids } from './support.js';

const dataDir = mkdtempSync(join(tmpdir(), 'ra-local-contract-'));
const log = createLogger({ name: 'test', level: 'silent' });

afterAll(() => {
  killRecorded(dataDir);
  rmSync(dataDir, { recursive: true, force: true });
});

const redis = createRedisEngine({ bin: requireBinary('redis-server') });
const echo = createEchoEngine();
const engines = createEngines([redis, echo]);

const driver = (): ReturnType<typeof createLocalDriver> =>
  createLocalDriver({
    dataDir,
    hostname: 'localhost',
    issuer: createPrivateCa({ dir: join(dataDir, 'ca'), region: 'us-east' }),
    engines,
    log,
  });

const harness = (): DriverHarness => ({
  driver,
  reach: (host, port) => ({ host: host === 'localhost' ? '127.0.0.1' : host, port }),
  processes: (uuid) =>
    recordedPids(join(dataDir, 'instances', uuid)).filter((pid) => isServerAlive(pid)).length,
  destroy: async (uuid) => {
    const dir = join(dataDir, 'instances', uuid);
    for (const pid of recordedPids(dir)) process.kill(pid, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  },
});

driverContract('local', redis, harness);
driverContract('local', echo, harness);
redisContract('local', harness);

describe('local driver upkeep', () => {
  it('restarts an instance whose process died, on the same port', async () => {
    const uuid = randomUUID();
    const out = await driver().provision(makeJob('provision', uuid), async () => {});
    const [pid] = recordedPids(join(dataDir, 'instances', uuid));
    process.kill(pid ?? 0, 'SIGKILL');
    // The kernel closes the socket a moment after the process stops counting as alive.
    for (
      let i = 0;
      i < 100 && (isServerAlive(pid, 'redis-server') || (await isPortOpen(out.endpoint.port)));
      i++
    )
      await new Promise((r) => setTimeout(r, 20));
    expect(await isPortOpen(out.endpoint.port)).toBe(false);
    await driver().maintain(uuid);
    const [restarted] = recordedPids(join(dataDir, 'instances', uuid));
    expect(restarted).not.toBe(pid);
    expect(isServerAlive(restarted, 'redis-server')).toBe(true);
    expect(await isPortOpen(out.endpoint.port)).toBe(true);
    await driver().maintain(randomUUID()); // unknown: nothing
  });
});
