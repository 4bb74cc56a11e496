/**
 * One contract both drivers pass: what the agent and the control plane may rely on from any
 * driver, checked through a real TLS client (chain + hostname verified) against real
 * redis-server processes: local ones, or pods run by the fake kubelet.
 */
import { randomUUID } from 'node:crypto';
import type { Driver, InstanceOutcome } from '../../region-agent/src/driver.js';
import { connectResp, withResp } from '../../region-agent/src/engines/redis/resp-client.js';
import { isPortOpen } from '../../region-agent/src/engines/redis/local-process.js';
import { makeJob } from './support.js';

export interface DriverHarness {
  driver(): Driver;
  /** Where a client on this machine reaches the host and port the URL names. */
  reach(host: string, port: number): { host: string; port: number };
  /** Running server processes of one instance. */
  processes(uuid: string): Promise<number> | number;
}

const progress = async (): Promise<void> => {};

function parts(out: InstanceOutcome): {
  host: string;
  port: number;
  user: string;
  password: string;
  ca: string;
} {
  const url = new URL(out.config.MYREDIS_URL ?? '');
  return {
    host: url.hostname,
    port: Number(url.port),
    user: url.username,
    password: decodeURIComponent(url.password),
    ca: out.config.MYREDIS_TLS_CA ?? '',
  };
}

/** Runs commands as a client would: verified TLS to the URL's host name, AUTH as its user. */
async function asClient<T>(
  h: DriverHarness,
  out: InstanceOutcome,
  fn: (cmd: (...a: string[]) => Promise<unknown>) => Promise<T>,
  user?: { user: string; password: string },
): Promise<T> {
  const p = parts(out);
  const target = { ...h.reach(p.host, p.port), servername: p.host, ca: p.ca };
  return withResp(target, user ?? { user: p.user, password: p.password }, (c) =>
    fn((...a) => c.command(...a)),
  );
}

export function driverContract(name: string, harness: () => DriverHarness): void {
  describe(`driver contract: ${name}`, () => {
    const uuid = randomUUID();
    let h: DriverHarness;
    let first: InstanceOutcome;

    beforeAll(() => {
      h = harness();
    });

    it('provisions an instance a client reaches over verified TLS only', async () => {
      first = await h.driver().provision(makeJob('provision', uuid, { memoryMb: 32 }), progress);
      expect(first.config.MYREDIS_URL).toMatch(/^rediss:\/\/u1:[^@]+@[^:]+:\d+$/);
      expect(first.config.MYREDIS_TLS_CA).toContain('BEGIN CERTIFICATE');
      expect(first.certificate?.fingerprint).toMatch(/^[0-9A-F:]+$/);
      expect(
        await asClient(h, first, async (cmd) => [
          await cmd('SET', 'k', 'v'),
          await cmd('GET', 'k'),
          await cmd('CONFIG', 'GET', 'maxmemory'),
        ]),
      ).toEqual(['OK', 'v', ['maxmemory', String(32 * 1024 * 1024)]]);
      const p = parts(first);
      const at = h.reach(p.host, p.port);
      // The wrong host name fails the handshake even with the right CA.
      await expect(
        connectResp({ ...at, servername: 'wrong.example.com', ca: p.ca }),
      ).rejects.toThrow(/altnames|Hostname|certificate/i);
    });

    it('answers a redelivered provision with the same instance and credentials', async () => {
      const again = await h
        .driver()
        .provision(makeJob('provision', uuid, { memoryMb: 32 }), progress);
      expect(again.config).toEqual(first.config);
      expect(await h.processes(uuid)).toBe(1);
    });

    it('changes the plan without losing data', async () => {
      const out = await h
        .driver()
        .changePlan(
          makeJob('change_plan', uuid, { generation: 2, memoryMb: 64, plan: 'big' }),
          progress,
        );
      expect(out.config.MYREDIS_URL).toBe(first.config.MYREDIS_URL);
      expect(
        await asClient(h, out, async (cmd) => [
          await cmd('GET', 'k'),
          await cmd('CONFIG', 'GET', 'maxmemory'),
        ]),
      ).toEqual(['v', ['maxmemory', String(64 * 1024 * 1024)]]);
      expect(await h.driver().inventory()).toContainEqual({
        uuid,
        generation: 2,
        plan: 'big',
        ready: true,
      });
    });

    it('rotates credentials: both work until the old user is revoked', async () => {
      const rotated = await h
        .driver()
        .rotateCredentials(
          makeJob('rotate_credentials', uuid, { generation: 3, memoryMb: 64, plan: 'big' }),
          progress,
        );
      expect(rotated.config.MYREDIS_URL).toMatch(/^rediss:\/\/u3:/);
      const old = parts(first);
      expect(await asClient(h, rotated, (cmd) => cmd('GET', 'k'))).toBe('v');
      expect(
        await asClient(h, rotated, (cmd) => cmd('PING'), {
          user: old.user,
          password: old.password,
        }),
      ).toBe('PONG');
      await expect(
        h.driver().revokeCredentials(
          makeJob('revoke_credentials', uuid, {
            generation: 4,
            memoryMb: 64,
            plan: 'big',
            params: { revokeUser: 'u3' },
          }),
          progress,
        ),
      ).rejects.toMatchObject({ code: 'revoke_current_user' });
      await h.driver().revokeCredentials(
        makeJob('revoke_credentials', uuid, {
          generation: 4,
          memoryMb: 64,
          plan: 'big',
          params: { revokeUser: 'u1' },
        }),
        progress,
      );
      await expect(
        asClient(h, rotated, (cmd) => cmd('PING'), { user: old.user, password: old.password }),
      ).rejects.toThrow(/WRONGPASS/);
      expect(await asClient(h, rotated, (cmd) => cmd('GET', 'k'))).toBe('v');
    });

    it('refuses work on an unknown instance as permanent', async () => {
      await expect(
        h.driver().changePlan(makeJob('change_plan', randomUUID()), progress),
      ).rejects.toMatchObject({ code: 'instance_not_found' });
    });

    it('deprovisions: no process, endpoint closed, idempotent, and it stays gone', async () => {
      const p = parts(first);
      await h.driver().deprovision(makeJob('deprovision', uuid, { generation: 5 }), progress);
      expect(await h.processes(uuid)).toBe(0);
      const at = h.reach(p.host, p.port);
      expect(await isPortOpen(at.port, at.host)).toBe(false);
      expect((await h.driver().inventory()).map((i) => i.uuid)).not.toContain(uuid);
      await h.driver().deprovision(makeJob('deprovision', uuid, { generation: 5 }), progress);
      await expect(
        h.driver().provision(makeJob('provision', uuid), progress),
      ).rejects.toMatchObject({ code: 'instance_deprovisioned' });
      expect(await h.processes(uuid)).toBe(0);
    });
  });
}
