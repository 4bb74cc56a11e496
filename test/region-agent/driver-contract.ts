/**
 * One contract every driver passes with every engine: what the agent and the control plane
 * may rely on, checked through the engine's own verified TLS client (chain + host name)
 * against real server processes: local ones, or pods run by the fake kubelet. A redis-only
 * section adds what only redis clients see (data kept across a plan change, maxmemory, ACL).
 */
import { randomUUID } from 'node:crypto';
import type { Driver, InstanceOutcome } from '../../region-agent/src/driver.js';
import type { Engine, ServerTarget } from '../../region-agent/src/engines/engine.js';
import { withRedis } from '../../region-agent/src/engines/redis/client.js';
import { isPortOpen } from '../../shared/src/ports.js';
import { makeJob } from './support.js';

export interface DriverHarness {
  driver(): Driver;
  /** Where a client on this machine reaches the host and port the URL names. */
  reach(host: string, port: number): { host: string; port: number };
  /** Running server processes of one instance. */
  processes(uuid: string, engine: string): Promise<number> | number;
  /** Breaks the instance behind the driver's back (local: kill and delete; kubernetes: delete the StatefulSet). */
  destroy(uuid: string, engine: string): Promise<void>;
}

const progress = async (): Promise<void> => {};

/** A client's view of the outcome: the URL's host and user, verified against the reported CA. */
function clientTarget(h: DriverHarness, out: InstanceOutcome): ServerTarget {
  const url = new URL(out.config.MYREDIS_URL ?? '');
  return {
    ...h.reach(url.hostname, Number(url.port)),
    servername: url.hostname,
    ca: out.config.MYREDIS_TLS_CA ?? '',
    user: decodeURIComponent(url.username),
    password: decodeURIComponent(url.password),
  };
}

/** The engine's readiness check as a yes/no: refused credentials are a no. */
const answers = (engine: Engine, t: ServerTarget): Promise<boolean> =>
  engine.ready(t).catch(() => false);

const job = (
  kind: Parameters<typeof makeJob>[0],
  uuid: string,
  engine: Engine,
  generation: number,
  extra: Parameters<typeof makeJob>[2] = {},
): ReturnType<typeof makeJob> =>
  makeJob(kind, uuid, {
    engine: engine.name,
    generation,
    ...(generation > 1 ? { memoryMb: 64, plan: 'big' } : {}),
    ...extra,
  });

export function driverContract(name: string, engine: Engine, harness: () => DriverHarness): void {
  describe(`driver contract: ${name} with ${engine.name}`, () => {
    const uuid = randomUUID();
    let h: DriverHarness;
    let first: InstanceOutcome;

    beforeAll(() => {
      h = harness();
    });

    it('provisions an instance a client reaches over verified TLS only', async () => {
      first = await h.driver().provision(job('provision', uuid, engine, 1), progress);
      expect(first.config.MYREDIS_URL).toMatch(/^[a-z]+s:\/\/u1:[^@]+@[^:]+:\d+$/);
      expect(first.config.MYREDIS_TLS_CA).toContain('BEGIN CERTIFICATE');
      expect(first.certificate?.fingerprint).toMatch(/^[0-9A-F:]+$/);
      expect(await engine.ready(clientTarget(h, first))).toBe(true);
      // The wrong host name fails the handshake even with the right CA.
      await expect(
        engine.ready({ ...clientTarget(h, first), servername: 'wrong.example.com' }),
      ).rejects.toThrow(/altnames|Hostname|certificate/i);
    });

    it('answers a redelivered provision with the same instance and credentials', async () => {
      const again = await h.driver().provision(job('provision', uuid, engine, 1), progress);
      expect(again.config).toEqual(first.config);
      expect(await h.processes(uuid, engine.name)).toBe(1);
    });

    it('changes the plan, keeping the URL', async () => {
      const out = await h.driver().changePlan(job('change_plan', uuid, engine, 2), progress);
      expect(out.config.MYREDIS_URL).toBe(first.config.MYREDIS_URL);
      expect(await engine.ready(clientTarget(h, out))).toBe(true);
      expect(await h.driver().inventory()).toContainEqual(
        expect.objectContaining({ uuid, generation: 2, plan: 'big', ready: true }),
      );
    });

    it('reports the numbers of an answering instance when its engine measures them', async () => {
      const seen = (await h.driver().inventory()).find((i) => i.uuid === uuid);
      if (!engine.stats) return void expect(seen?.stats).toBeUndefined();
      // Measured on the live server: the new plan's limit, and at least the measuring client.
      expect(seen?.stats).toEqual(
        expect.objectContaining({ maxMemoryBytes: 64 * 1024 * 1024, keys: 0 }),
      );
      expect(seen?.stats?.usedMemoryBytes).toBeGreaterThan(0);
      expect(seen?.stats?.clients).toBeGreaterThanOrEqual(1);
      expect(seen?.stats?.uptimeS).toBeGreaterThanOrEqual(0);
    });

    it('rotates credentials: both work until the old user is revoked', async () => {
      const rotated = await h
        .driver()
        .rotateCredentials(job('rotate_credentials', uuid, engine, 3), progress);
      expect(rotated.config.MYREDIS_URL).toMatch(/^[a-z]+s:\/\/u3:/);
      const old = clientTarget(h, first);
      expect(await answers(engine, clientTarget(h, rotated))).toBe(true);
      expect(await answers(engine, old)).toBe(true);
      const revoke = (user: string): Promise<InstanceOutcome> =>
        h
          .driver()
          .revokeCredentials(
            job('revoke_credentials', uuid, engine, 4, { params: { revokeUser: user } }),
            progress,
          );
      await expect(revoke('u3')).rejects.toMatchObject({ code: 'revoke_current_user' });
      await revoke('u1');
      expect(await answers(engine, old)).toBe(false);
      expect(await answers(engine, clientTarget(h, rotated))).toBe(true);
    });

    it('refuses a plan change or rotation older than the instance (a late copy): nothing rolls back', async () => {
      const stale = { memoryMb: 32, plan: 'mini' };
      await expect(
        h.driver().changePlan(job('change_plan', uuid, engine, 2, stale), progress),
      ).rejects.toMatchObject({ code: 'superseded' });
      await expect(
        h.driver().rotateCredentials(job('rotate_credentials', uuid, engine, 3), progress),
      ).rejects.toMatchObject({ code: 'superseded' });
      expect(await h.driver().inventory()).toContainEqual(
        expect.objectContaining({ uuid, generation: 4, plan: 'big' }),
      );
    });

    it('refuses work on an unknown instance as permanent', async () => {
      await expect(
        h.driver().changePlan(job('change_plan', randomUUID(), engine, 1), progress),
      ).rejects.toMatchObject({ code: 'instance_not_found' });
    });

    it('repairs an instance broken behind its back: it answers again, at the job plan', async () => {
      await h.destroy(uuid, engine.name);
      const seen = (await h.driver().inventory()).find((i) => i.uuid === uuid);
      expect(seen?.ready ?? false).toBe(false);
      const repaired = await h.driver().repair(job('repair', uuid, engine, 5), progress);
      expect(await engine.ready(clientTarget(h, repaired))).toBe(true);
      expect(await h.processes(uuid, engine.name)).toBe(1);
      expect(await h.driver().inventory()).toContainEqual(
        expect.objectContaining({ uuid, generation: 5, plan: 'big', ready: true }),
      );
      // A repair of a healthy instance changes nothing a client holds.
      const again = await h.driver().repair(job('repair', uuid, engine, 5), progress);
      expect(again.config).toEqual(repaired.config);
      first = repaired;
    });

    it('deprovisions: no process, endpoint closed, idempotent, and it stays gone', async () => {
      const url = new URL(first.config.MYREDIS_URL ?? '');
      await h.driver().deprovision(job('deprovision', uuid, engine, 6), progress);
      expect(await h.processes(uuid, engine.name)).toBe(0);
      const at = h.reach(url.hostname, Number(url.port));
      expect(await isPortOpen(at.port, at.host)).toBe(false);
      expect((await h.driver().inventory()).map((i) => i.uuid)).not.toContain(uuid);
      await h.driver().deprovision(job('deprovision', uuid, engine, 6), progress);
      await expect(
        h.driver().provision(job('provision', uuid, engine, 1), progress),
      ).rejects.toMatchObject({ code: 'instance_deprovisioned' });
      await expect(
        h.driver().repair(job('repair', uuid, engine, 7), progress),
      ).rejects.toMatchObject({ code: 'instance_deprovisioned' });
      expect(await h.processes(uuid, engine.name)).toBe(0);
    });
  });
}

/** What a redis client sees through the same drivers: data, maxmemory, ACL users. */
export function redisContract(name: string, harness: () => DriverHarness): void {
  describe(`redis through ${name}`, () => {
    const uuid = randomUUID();
    let h: DriverHarness;

    beforeAll(() => {
      h = harness();
    });
    afterAll(async () => {
      await h.driver().deprovision(makeJob('deprovision', uuid, { generation: 9 }), progress);
    });

    const run = <T>(out: InstanceOutcome, fn: Parameters<typeof withRedis<T>>[1]): Promise<T> =>
      withRedis(clientTarget(h, out), fn);
    const maxmemory = async (out: InstanceOutcome): Promise<unknown> =>
      run(out, (c) => c.config('GET', 'maxmemory'));

    it('keeps data across a plan change and applies the new maxmemory', async () => {
      const out = await h.driver().provision(makeJob('provision', uuid), progress);
      expect(out.config.MYREDIS_URL).toMatch(/^rediss:\/\/u1:/);
      expect(await run(out, async (c) => [await c.set('k', 'v'), await c.get('k')])).toEqual([
        'OK',
        'v',
      ]);
      expect(await maxmemory(out)).toEqual(['maxmemory', String(32 * 1024 * 1024)]);
      const bigger = await h
        .driver()
        .changePlan(makeJob('change_plan', uuid, { generation: 2, memoryMb: 64 }), progress);
      expect(await run(bigger, (c) => c.get('k'))).toBe('v');
      expect(await maxmemory(bigger)).toEqual(['maxmemory', String(64 * 1024 * 1024)]);
      // The inventory's numbers come from the live server: its new limit and the one key.
      const seen = (await h.driver().inventory()).find((i) => i.uuid === uuid);
      expect(seen?.stats).toEqual(
        expect.objectContaining({ maxMemoryBytes: 64 * 1024 * 1024, keys: 1 }),
      );
    });

    it('a revoked ACL user gets WRONGPASS; the rotated one still reads the data', async () => {
      const before = await h.driver().provision(makeJob('provision', uuid), progress);
      const rotated = await h
        .driver()
        .rotateCredentials(makeJob('rotate_credentials', uuid, { generation: 3 }), progress);
      await h
        .driver()
        .revokeCredentials(
          makeJob('revoke_credentials', uuid, { generation: 4, params: { revokeUser: 'u1' } }),
          progress,
        );
      await expect(run(before, (c) => c.ping())).rejects.toThrow(/WRONGPASS/);
      expect(await run(rotated, (c) => c.get('k'))).toBe('v');
    });
  });
}
