/** The local driver against real redis-server processes, without NATS. */
import { createPrivateKey, generateKeyPairSync, randomUUID, X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { createLogger } from '../../shared/src/logger.js';
import { isPortOpen } from '../../shared/src/ports.js';
import { createLocalDriver } from '../../region-agent/src/drivers/local/driver.js';
import { createPrivateCa } from '../../region-agent/src/tls/private-ca.js';
import { withRedis } from '../../region-agent/src/engines/redis/client.js';
import { redisReadyOn, respCommand } from '../../region-agent/src/engines/redis/ready-on.js';
import { killRecorded, makeJob, processExists, recordedPids, redisEngines } from './support.js';

const dataDir = mkdtempSync(join(tmpdir(), 'ra-local-driver-'));
const log = createLogger({ name: 'test', level: 'silent' });

function driver(): ReturnType<typeof createLocalDriver> {
  const issuer = createPrivateCa({ dir: join(dataDir, 'ca'), region: 'us-east' });
  return createLocalDriver({
    dataDir,
    hostname: 'localhost',
    issuer,
    engines: redisEngines(),
    log,
  });
}

async function connect(url: string, ca: string): Promise<Redis> {
  const client = new Redis(url, {
    tls: { ca, servername: 'localhost' },
    lazyConnect: true,
    maxRetriesPerRequest: 0,
  });
  await client.connect();
  return client;
}

afterAll(() => {
  killRecorded(dataDir);
  rmSync(dataDir, { recursive: true, force: true });
});

describe('local redis driver', () => {
  const uuid = randomUUID();
  const progress = async (): Promise<void> => {};

  it('provisions a TLS-only redis reachable with verified TLS, idempotently', async () => {
    const d = driver();
    const first = await d.provision(makeJob('provision', uuid), progress);
    const url = first.config.MYREDIS_URL ?? '';
    const ca = first.config.MYREDIS_TLS_CA ?? '';
    expect(url).toMatch(/^rediss:\/\/u1:[^@]+@localhost:\d+$/);
    const client = await connect(url, ca);
    await client.set('k', 'v');
    expect(await client.get('k')).toBe('v');
    expect(await client.config('GET', 'maxmemory')).toEqual([
      'maxmemory',
      String(32 * 1024 * 1024),
    ]);
    client.disconnect();

    const again = await d.provision(makeJob('provision', uuid), progress);
    expect(again.config).toEqual(first.config);
    expect(recordedPids(dataDir)).toHaveLength(1);
  });

  it('rejects a client that does not trust the CA', async () => {
    const d = driver();
    const { config } = await d.provision(makeJob('provision', uuid), progress);
    const url = new URL(config.MYREDIS_URL ?? '');
    const target = {
      host: '127.0.0.1',
      port: Number(url.port),
      servername: 'localhost',
      user: url.username,
      password: decodeURIComponent(url.password),
    };
    const ping = (t: typeof target & { ca: string }): Promise<string> =>
      withRedis(t, (c) => c.ping());
    // Another CA's certificate, and the right CA with the wrong host name, both fail the handshake.
    const otherCa = await createPrivateCa({
      dir: join(dataDir, 'other-ca'),
      region: 'elsewhere',
    }).caPem();
    await expect(ping({ ...target, ca: otherCa })).rejects.toThrow(/certificate/i);
    await expect(
      ping({ ...target, servername: 'example.com', ca: config.MYREDIS_TLS_CA ?? '' }),
    ).rejects.toThrow(/altnames|Hostname/i);
    expect(await ping({ ...target, ca: config.MYREDIS_TLS_CA ?? '' })).toBe('PONG');
  });

  it("readiness on the handshake's own connection: PONG as the instance's user, refused with a wrong password", async () => {
    const d = driver();
    const { config } = await d.provision(makeJob('provision', uuid), progress);
    const url = new URL(config.MYREDIS_URL ?? '');
    const readyAs = (password: string): Promise<boolean> =>
      new Promise((resolve, reject) => {
        const socket = tlsConnect({
          host: '127.0.0.1',
          port: Number(url.port),
          servername: 'localhost',
          ca: config.MYREDIS_TLS_CA ?? '',
        });
        socket.once('error', reject);
        socket.once('secureConnect', () => {
          redisReadyOn(socket, { user: url.username, password })
            .then(resolve, reject)
            .finally(() => socket.destroy());
        });
      });
    expect(await readyAs(decodeURIComponent(url.password))).toBe(true);
    expect(await readyAs('not-the-password')).toBe(false);
    // A password with multi-byte characters is framed by its byte length.
    expect(respCommand('AUTH', 'u1', 'pässwörd')).toBe(
      '*3\r\n$4\r\nAUTH\r\n$2\r\nu1\r\n$10\r\npässwörd\r\n',
    );
  });

  it('re-adopts the running process after an agent restart', async () => {
    const [pid] = recordedPids(dataDir);
    await driver().adopt();
    expect(recordedPids(dataDir)).toEqual([pid]);
    const inventory = await driver().inventory();
    expect(inventory).toEqual([
      {
        uuid,
        generation: 1,
        plan: 'mini',
        ready: true,
        engine: 'redis',
        // Measured on the adopted process: it still runs with the plan's maxmemory.
        stats: expect.objectContaining({ maxMemoryBytes: 32 * 1024 * 1024 }),
      },
    ]);
  });

  it('changes maxmemory live and keeps the data', async () => {
    const d = driver();
    const out = await d.changePlan(
      makeJob('change_plan', uuid, { generation: 2, memoryMb: 64, plan: 'big' }),
      progress,
    );
    const client = await connect(out.config.MYREDIS_URL ?? '', out.config.MYREDIS_TLS_CA ?? '');
    expect(await client.get('k')).toBe('v');
    expect(await client.config('GET', 'maxmemory')).toEqual([
      'maxmemory',
      String(64 * 1024 * 1024),
    ]);
    client.disconnect();
  });

  it('rotates and revokes credentials', async () => {
    const d = driver();
    const before = await d.provision(makeJob('provision', uuid), progress);
    const rotated = await d.rotateCredentials(
      makeJob('rotate_credentials', uuid, { generation: 3 }),
      progress,
    );
    expect(rotated.config.MYREDIS_URL).toMatch(/^rediss:\/\/u3:/);
    const fresh = await connect(
      rotated.config.MYREDIS_URL ?? '',
      rotated.config.MYREDIS_TLS_CA ?? '',
    );
    expect(await fresh.get('k')).toBe('v');
    fresh.disconnect();
    await d.revokeCredentials(
      makeJob('revoke_credentials', uuid, { generation: 4, params: { revokeUser: 'u1' } }),
      progress,
    );
    const url = new URL(before.config.MYREDIS_URL ?? '');
    const target = {
      host: '127.0.0.1',
      port: Number(url.port),
      servername: 'localhost',
      ca: before.config.MYREDIS_TLS_CA ?? '',
    };
    const creds = { user: 'u1', password: decodeURIComponent(url.password) };
    await expect(withRedis({ ...target, ...creds }, (c) => c.ping())).rejects.toThrow(/WRONGPASS/);
  });

  it('renews a leaf close to expiry and the running server presents it', async () => {
    const d = driver();
    const before = await d.provision(makeJob('provision', uuid), progress);
    const stateFile = join(dataDir, 'instances', uuid, 'state.json');
    const state = JSON.parse(readFileSync(stateFile, 'utf8')) as {
      certificate: { notAfter: string };
    };
    expect(await d.certificateExpiries!()).toEqual([state.certificate.notAfter]);
    state.certificate.notAfter = new Date(Date.now() + 86_400_000).toISOString();
    writeFileSync(stateFile, JSON.stringify(state));
    expect(await d.certificateExpiries!()).toEqual([state.certificate.notAfter]);
    const [pid] = recordedPids(dataDir);
    await driver().adopt();
    expect(recordedPids(dataDir)).toEqual([pid]);
    const after = await d.provision(makeJob('provision', uuid), progress);
    expect(after.certificate?.fingerprint).not.toBe(before.certificate?.fingerprint);
    const seen = await new Promise<string>((resolve, reject) => {
      const s = tlsConnect(
        {
          host: '127.0.0.1',
          port: after.endpoint.port,
          servername: 'localhost',
          ca: after.config.MYREDIS_TLS_CA ?? '',
        },
        () => {
          resolve(s.getPeerX509Certificate()?.fingerprint256 ?? '');
          s.destroy();
        },
      );
      s.once('error', reject);
    });
    expect(seen).toBe(after.certificate?.fingerprint);
  });

  it('issues again a leaf whose key is not the one on record (an agent killed among its files)', async () => {
    const d = driver();
    const before = await d.provision(makeJob('provision', uuid), progress);
    // A leaf that holds up is kept: upkeep and a replayed provision issue nothing.
    await d.maintain(uuid);
    const kept = await d.provision(makeJob('provision', uuid), progress);
    expect(kept.certificate?.fingerprint).toBe(before.certificate?.fingerprint);
    const keyFile = join(dataDir, 'instances', uuid, 'tls.key');
    // A new key written, the agent gone before the certificate that goes with it.
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    writeFileSync(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }));
    await d.maintain(uuid);
    const after = await d.provision(makeJob('provision', uuid), progress);
    expect(after.certificate?.fingerprint).not.toBe(before.certificate?.fingerprint);
    const cert = new X509Certificate(readFileSync(join(dataDir, 'instances', uuid, 'tls.crt')));
    expect(cert.checkPrivateKey(createPrivateKey(readFileSync(keyFile)))).toBe(true);
    expect(cert.fingerprint256).toBe(after.certificate?.fingerprint);
    // And the server answers on it, with verified TLS.
    const client = await connect(after.config.MYREDIS_URL ?? '', after.config.MYREDIS_TLS_CA ?? '');
    expect(await client.ping()).toBe('PONG');
    client.disconnect();
  });

  it('serves data written before the append-only file from its snapshot', async () => {
    const other = randomUUID();
    const d = driver();
    const out = await d.provision(makeJob('provision', other), progress);
    const url = new URL(out.config.MYREDIS_URL ?? '');
    const target = {
      host: '127.0.0.1',
      port: out.endpoint.port,
      servername: 'localhost',
      ca: out.config.MYREDIS_TLS_CA ?? '',
      user: url.username,
      password: decodeURIComponent(url.password),
    };
    await withRedis(target, async (c) => [await c.set('old', 'kept'), await c.save()]);
    // What an instance of the snapshot-only days left on disk: dump.rdb and no AOF.
    const dir = join(dataDir, 'instances', other);
    const [pid] = recordedPids(dir);
    process.kill(pid ?? 0, 'SIGKILL');
    while (processExists(pid ?? 0)) await new Promise((r) => setTimeout(r, 20));
    rmSync(join(dir, 'appendonlydir'), { recursive: true, force: true });
    await d.maintain(other);
    expect(recordedPids(dir)).not.toEqual([pid]);
    expect(
      await withRedis(target, async (c) => [
        await c.get('old'),
        await c.config('GET', 'appendonly'),
      ]),
    ).toEqual(['kept', ['appendonly', 'no']]);
    await d.deprovision(makeJob('deprovision', other, { generation: 2 }), progress);
  });

  it('moves a never-ready instance to a new port when its port was taken', async () => {
    const other = randomUUID();
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const taken = (blocker.address() as AddressInfo).port;
    const dir = join(dataDir, 'instances', other);
    mkdirSync(dir, { recursive: true });
    const state = {
      uuid: other,
      plan: 'mini',
      generation: 1,
      memoryMb: 16,
      port: taken,
      prefix: 'MYREDIS',
      users: { u1: 'pw-0123456789abcdef' },
      currentUser: 'u1',
    };
    writeFileSync(join(dir, 'state.json'), JSON.stringify(state));
    const d = createLocalDriver({
      dataDir,
      hostname: 'localhost',
      issuer: createPrivateCa({ dir: join(dataDir, 'ca'), region: 'us-east' }),
      engines: redisEngines(),
      log,
      readyTimeoutMs: 3_000,
    });
    try {
      await expect(d.provision(makeJob('provision', other), progress)).rejects.toThrow(
        /exited|ready/,
      );
      const out = await d.provision(makeJob('provision', other), progress);
      expect(out.endpoint.port).not.toBe(taken);
    } finally {
      blocker.close();
      await d.deprovision(makeJob('deprovision', other), progress);
    }
  });

  it('deprovisions: no process, port closed, state gone', async () => {
    const d = driver();
    const [pid] = recordedPids(dataDir);
    const { endpoint } = await d.provision(makeJob('provision', uuid), progress);
    await d.deprovision(makeJob('deprovision', uuid, { generation: 5 }), progress);
    expect(processExists(pid ?? 0)).toBe(false);
    expect(await isPortOpen(endpoint.port)).toBe(false);
    expect(await d.inventory()).toEqual([]);
    await d.deprovision(makeJob('deprovision', uuid, { generation: 5 }), progress);
    // A provision retry arriving after the deprovision must not bring the instance back.
    await expect(d.provision(makeJob('provision', uuid), progress)).rejects.toMatchObject({
      code: 'instance_deprovisioned',
    });
    expect(recordedPids(dataDir)).toEqual([]);
  });
});
