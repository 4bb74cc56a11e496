/**
 * The `local` driver: each instance is a TLS-only redis-server process on loopback with its
 * state under `<dataDir>/instances/<uuid>`. Every method is idempotent; the agent guarantees
 * one operation per uuid at a time.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Job } from '../../../shared/src/messages.js';
import type { Logger } from '../../../shared/src/logger.js';
import { freePort } from '../../../shared/src/ports.js';
import {
  PermanentError,
  type Driver,
  type InstanceOutcome,
  type InstanceSummary,
  type Progress,
} from '../driver.js';
import {
  instancePaths,
  listInstanceIds,
  readState,
  readTombstone,
  renderAcl,
  renderConf,
  writePrivate,
  writeState,
  writeTombstone,
  type InstancePaths,
  type InstanceState,
} from '../engines/redis/local-files.js';
import {
  isInstanceRedis,
  isPortOpen,
  isRedisAlive,
  readPidFile,
  spawnRedis,
  stopRedis,
} from '../engines/redis/local-process.js';
import { withResp, type RespTarget } from '../engines/redis/resp-client.js';
import type { TlsIssuer } from '../tls/private-ca.js';

export interface LocalDriverDeps {
  dataDir: string;
  hostname: string;
  issuer: TlsIssuer;
  redisBin: string;
  log: Logger;
  readyTimeoutMs?: number;
}

const RENEW_BEFORE_MS = 30 * 86_400_000;
const newPassword = (): string => randomBytes(24).toString('base64url');
const userFor = (generation: number): string => `u${generation}`;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function createLocalDriver(deps: LocalDriverDeps): Driver {
  const root = join(deps.dataDir, 'instances');
  const log = deps.log.child({ driver: 'local' });

  async function target(paths: InstancePaths, state: InstanceState): Promise<RespTarget> {
    const ca = await deps.issuer.caPem();
    return { host: '127.0.0.1', port: state.port, servername: deps.hostname, ca };
  }

  function auth(state: InstanceState): { user: string; password: string } {
    return { user: state.currentUser, password: state.users[state.currentUser] ?? '' };
  }

  /** Honest readiness: verified TLS handshake, AUTH, PING. */
  async function probe(paths: InstancePaths, state: InstanceState): Promise<boolean> {
    try {
      const reply = await withResp(await target(paths, state), auth(state), (c) =>
        c.command('PING'),
      );
      return reply === 'PONG';
    } catch {
      return false;
    }
  }

  /**
   * Loads a renewed leaf into a running redis (CONFIG SET re-reads the TLS files). The
   * running server still presents the old leaf, so this connection also trusts the CA that
   * issued it; clients see the new leaf on their next handshake.
   */
  async function reloadTls(
    paths: InstancePaths,
    state: InstanceState,
    trusted: string[],
  ): Promise<void> {
    const t: RespTarget = {
      host: '127.0.0.1',
      port: state.port,
      servername: deps.hostname,
      ca: trusted,
    };
    await withResp(t, auth(state), (c) =>
      c.command(
        'CONFIG',
        'SET',
        'tls-cert-file',
        paths.cert,
        'tls-key-file',
        paths.key,
        'tls-ca-cert-file',
        paths.ca,
      ),
    );
  }

  async function waitReady(paths: InstancePaths, state: InstanceState): Promise<void> {
    const deadline = Date.now() + (deps.readyTimeoutMs ?? 20_000);
    while (!(await probe(paths, state))) {
      if (!isRedisAlive(state.pid)) throw new Error('redis-server exited before becoming ready');
      if (Date.now() > deadline) throw new Error('redis-server did not become ready in time');
      await sleep(50);
    }
  }

  /** A leaf is (re-)issued when missing, close to expiry, or signed by an older CA. */
  async function needsCertificate(paths: InstancePaths, state: InstanceState): Promise<boolean> {
    if (
      !existsSync(paths.cert) ||
      !existsSync(paths.key) ||
      !existsSync(paths.ca) ||
      !state.certificate
    )
      return true;
    if (Date.parse(state.certificate.notAfter) - Date.now() < RENEW_BEFORE_MS) return true;
    return (await readFile(paths.ca, 'utf8')) !== (await deps.issuer.caPem());
  }

  /** Returns the CAs a running server may still present when a new leaf was written. */
  async function ensureCertificate(
    paths: InstancePaths,
    state: InstanceState,
    progress: Progress,
  ): Promise<string[] | undefined> {
    if (!(await needsCertificate(paths, state))) return undefined;
    const previousCa = existsSync(paths.ca) ? await readFile(paths.ca, 'utf8') : undefined;
    await progress('issuing certificate');
    const names = [...new Set([deps.hostname, 'localhost', '127.0.0.1'])];
    const issued = await deps.issuer.issue(state.uuid, names);
    await writePrivate(paths.key, issued.keyPem);
    await writeFile(paths.cert, issued.certPem);
    await writeFile(paths.ca, issued.caPem);
    state.certificate = { notAfter: issued.notAfter, fingerprint: issued.fingerprint };
    await writeState(paths, state);
    return previousCa ? [issued.caPem, previousCa] : [issued.caPem];
  }

  /**
   * The instance's live redis-server: the recorded pid, or else the one in the pid file redis
   * writes itself. An agent killed between spawning a process and recording its pid leaves
   * one running on the instance's port; it is adopted, never doubled (a second one could not
   * bind, and the first would outlive every later stop).
   */
  async function livePid(paths: InstancePaths, state: InstanceState): Promise<number | undefined> {
    if (isInstanceRedis(state.pid, paths.dir)) return state.pid;
    const unrecorded = readPidFile(paths.pid);
    if (!isInstanceRedis(unrecorded, paths.dir)) return undefined;
    log.warn(
      { resourceId: state.uuid, pid: unrecorded, recorded: state.pid },
      'unrecorded instance process adopted',
    );
    state.pid = unrecorded;
    await writeState(paths, state);
    return unrecorded;
  }

  /** Writes config from state and starts the process unless it already runs. */
  async function ensureRunning(
    paths: InstancePaths,
    state: InstanceState,
    progress: Progress,
  ): Promise<void> {
    const renewed = await ensureCertificate(paths, state, progress);
    await writePrivate(paths.acl, renderAcl(state));
    await writePrivate(paths.conf, renderConf(state, paths));
    const running = await livePid(paths, state);
    if (renewed && running) {
      await reloadTls(paths, state, renewed);
      log.info(
        { resourceId: state.uuid, notAfter: state.certificate?.notAfter },
        'instance certificate renewed',
      );
    }
    if (!running) {
      await progress('starting instance');
      state.pid = spawnRedis(deps.redisBin, paths.conf);
      await writeState(paths, state);
      log.info(
        { resourceId: state.uuid, port: state.port, pid: state.pid },
        'instance process started',
      );
    }
    await progress('waiting for TLS readiness');
    try {
      await waitReady(paths, state);
    } catch (err) {
      if (!state.everReady) {
        // The port we picked may have been taken meanwhile: the retry starts on a new one.
        await stopRedis(state.pid);
        state.port = await freePort();
        await writeState(paths, state);
      }
      throw err;
    }
    if (!state.everReady) {
      state.everReady = true;
      await writeState(paths, state);
    }
  }

  async function outcome(state: InstanceState): Promise<InstanceOutcome> {
    const password = encodeURIComponent(state.users[state.currentUser] ?? '');
    const prefix = state.prefix;
    return {
      config: {
        [`${prefix}_URL`]: `rediss://${state.currentUser}:${password}@${deps.hostname}:${state.port}`,
        [`${prefix}_TLS_CA`]: await deps.issuer.caPem(),
      },
      endpoint: { host: deps.hostname, port: state.port },
      ...(state.certificate ? { certificate: state.certificate } : {}),
    };
  }

  async function existing(job: Job): Promise<{ paths: InstancePaths; state: InstanceState }> {
    const paths = instancePaths(root, job.resource.uuid);
    const state = await readState(paths);
    if (!state)
      throw new PermanentError(
        'instance_not_found',
        `no instance ${job.resource.uuid} in this region`,
      );
    return { paths, state };
  }

  return {
    name: 'local',

    async adopt(): Promise<void> {
      for (const uuid of await listInstanceIds(root)) {
        const paths = instancePaths(root, uuid);
        try {
          const state = await readState(paths);
          if (!state) continue;
          const alive = isInstanceRedis(state.pid, paths.dir);
          await ensureRunning(paths, state, async () => {});
          log.info({ resourceId: uuid, adopted: alive }, 'instance recovered');
        } catch (err) {
          log.error({ resourceId: uuid, err }, 'instance recovery failed');
        }
      }
    },

    async provision(job: Job, progress: Progress): Promise<InstanceOutcome> {
      const paths = instancePaths(root, job.resource.uuid);
      let state = await readState(paths);
      if (!state && (await readTombstone(root, job.resource.uuid)) !== undefined) {
        throw new PermanentError(
          'instance_deprovisioned',
          `instance ${job.resource.uuid} was deprovisioned`,
        );
      }
      if (!state) {
        await progress('allocating instance');
        const user = userFor(job.generation);
        state = {
          uuid: job.resource.uuid,
          plan: job.resource.plan,
          generation: job.generation,
          memoryMb: job.resource.size.memoryMb,
          port: await freePort(),
          prefix: job.configVarsPrefix,
          users: { [user]: newPassword() },
          currentUser: user,
        };
        await writeState(paths, state);
      }
      await ensureRunning(paths, state, progress);
      return outcome(state);
    },

    async changePlan(job: Job, progress: Progress): Promise<InstanceOutcome> {
      const { paths, state } = await existing(job);
      await ensureRunning(paths, state, progress);
      await progress('resizing instance');
      const memory = `${job.resource.size.memoryMb}mb`;
      await withResp(await target(paths, state), auth(state), (c) =>
        c.command('CONFIG', 'SET', 'maxmemory', memory),
      );
      state.plan = job.resource.plan;
      state.memoryMb = job.resource.size.memoryMb;
      state.generation = Math.max(state.generation, job.generation);
      await writeState(paths, state);
      await writePrivate(paths.conf, renderConf(state, paths));
      return outcome(state);
    },

    async deprovision(job: Job, progress: Progress): Promise<void> {
      const paths = instancePaths(root, job.resource.uuid);
      const state = await readState(paths);
      if (state) {
        await progress('stopping instance');
        await stopRedis(await livePid(paths, state));
        for (let i = 0; i < 100 && (await isPortOpen(state.port)); i++) await sleep(50);
      }
      await writeTombstone(root, job.resource.uuid, job.generation);
      await rm(paths.dir, { recursive: true, force: true });
    },

    async rotateCredentials(job: Job, progress: Progress): Promise<InstanceOutcome> {
      const { paths, state } = await existing(job);
      await ensureRunning(paths, state, progress);
      const user = userFor(job.generation);
      if (!state.users[user]) {
        await progress('adding credentials');
        const password = newPassword();
        await withResp(await target(paths, state), auth(state), async (c) => {
          await c.command(
            'ACL',
            'SETUSER',
            user,
            'on',
            'resetpass',
            `>${password}`,
            '~*',
            '&*',
            '+@all',
          );
          await c.command('ACL', 'SAVE');
        });
        state.users[user] = password;
      }
      state.currentUser = user;
      state.generation = Math.max(state.generation, job.generation);
      await writeState(paths, state);
      return outcome(state);
    },

    async revokeCredentials(job: Job, progress: Progress): Promise<InstanceOutcome> {
      const { paths, state } = await existing(job);
      const revoke = job.params.revokeUser;
      if (typeof revoke !== 'string' || revoke === '') {
        throw new PermanentError('invalid_params', 'revoke_credentials needs params.revokeUser');
      }
      if (revoke === state.currentUser) {
        throw new PermanentError(
          'revoke_current_user',
          'cannot revoke the credentials currently in use',
        );
      }
      await ensureRunning(paths, state, progress);
      if (state.users[revoke]) {
        await progress('revoking credentials');
        await withResp(await target(paths, state), auth(state), async (c) => {
          await c.command('ACL', 'DELUSER', revoke);
          await c.command('ACL', 'SAVE');
        });
        delete state.users[revoke];
      }
      state.generation = Math.max(state.generation, job.generation);
      await writeState(paths, state);
      return outcome(state);
    },

    async maintain(uuid: string): Promise<void> {
      const paths = instancePaths(root, uuid);
      const state = await readState(paths);
      // Renews a due leaf (reloaded live) and restarts a process that died.
      if (state) await ensureRunning(paths, state, async () => {});
    },

    async inventory(): Promise<InstanceSummary[]> {
      const summaries: InstanceSummary[] = [];
      for (const uuid of await listInstanceIds(root)) {
        const paths = instancePaths(root, uuid);
        const state = await readState(paths);
        if (!state) continue;
        const ready = isInstanceRedis(state.pid, paths.dir) && (await probe(paths, state));
        summaries.push({ uuid, generation: state.generation, plan: state.plan, ready });
      }
      return summaries;
    },
  };
}
