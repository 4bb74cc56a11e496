/**
 * The `local` driver: each instance is a TLS-only server process on loopback, run as its
 * engine says, with its state under `<dataDir>/instances/<uuid>`. Every method is
 * idempotent; the agent guarantees one operation per uuid at a time.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Job } from '../../../../shared/src/messages.js';
import type { Logger } from '../../../../shared/src/logger.js';
import { freePort, isPortOpen } from '../../../../shared/src/ports.js';
import { PermanentError, type Driver, type InstanceOutcome, type Progress } from '../../driver.js';
import type { Engines } from '../../engines/index.js';
import type { TlsIssuer } from '../../tls/private-ca.js';
import { revokableUser } from '../revoke.js';
import { isInstanceProcess, stopServer } from './process.js';
import { createRunner, type Instance } from './runner.js';
import {
  instancePaths,
  layoutOf,
  listInstanceIds,
  readState,
  readTombstone,
  writeState,
  writeTombstone,
} from './state.js';

export interface LocalDriverDeps {
  dataDir: string;
  hostname: string;
  issuer: TlsIssuer;
  engines: Engines;
  log: Logger;
  readyTimeoutMs?: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function createLocalDriver(deps: LocalDriverDeps): Driver {
  const root = join(deps.dataDir, 'instances');
  const log = deps.log.child({ driver: 'local' });
  const runner = createRunner({ ...deps, log });
  const noProgress: Progress = async () => {};

  /** The instance as recorded; undefined when there is none. */
  async function find(uuid: string): Promise<Instance | undefined> {
    const state = await readState(root, uuid);
    if (!state) return undefined;
    const engine = deps.engines.get(state.engine);
    return { engine, paths: instancePaths(root, uuid, engine.name), state };
  }

  async function existing(job: Job): Promise<Instance> {
    deps.engines.get(job.resource.engine);
    const i = await find(job.resource.uuid);
    if (!i)
      throw new PermanentError(
        'instance_not_found',
        `no instance ${job.resource.uuid} in this region`,
      );
    return i;
  }

  async function outcome(i: Instance): Promise<InstanceOutcome> {
    const { state } = i;
    const endpoint = { host: deps.hostname, port: state.port };
    const vars = i.engine.connectionConfig(endpoint, {
      user: state.currentUser,
      password: state.users[state.currentUser] ?? '',
    });
    vars.TLS_CA = await deps.issuer.caPem();
    return {
      config: Object.fromEntries(Object.entries(vars).map(([k, v]) => [`${state.prefix}_${k}`, v])),
      endpoint,
      ...(state.certificate ? { certificate: state.certificate } : {}),
    };
  }

  async function allocate(job: Job): Promise<Instance> {
    const engine = deps.engines.get(job.resource.engine);
    const { uuid } = job.resource;
    if ((await readTombstone(root, uuid)) !== undefined)
      throw new PermanentError('instance_deprovisioned', `instance ${uuid} was deprovisioned`);
    const first = engine.newCredentials(job.generation);
    const i: Instance = {
      engine,
      paths: instancePaths(root, uuid, engine.name),
      state: {
        uuid,
        engine: engine.name,
        plan: job.resource.plan,
        generation: job.generation,
        memoryMb: job.resource.size.memoryMb,
        port: await freePort(),
        prefix: job.configVarsPrefix,
        users: { [first.user]: first.password },
        currentUser: first.user,
      },
    };
    await writeState(i.paths, i.state);
    return i;
  }

  return {
    name: 'local',

    async adopt(): Promise<void> {
      for (const uuid of await listInstanceIds(root)) {
        try {
          const i = await find(uuid);
          if (!i) continue;
          const alive = (await runner.livePid(i)) !== undefined;
          await runner.ensureRunning(i, noProgress);
          log.info({ resourceId: uuid, adopted: alive }, 'instance recovered');
        } catch (err) {
          log.error({ resourceId: uuid, err }, 'instance recovery failed');
        }
      }
    },

    async provision(job, progress): Promise<InstanceOutcome> {
      deps.engines.get(job.resource.engine);
      let i = await find(job.resource.uuid);
      if (!i) {
        await progress('allocating instance');
        i = await allocate(job);
      }
      await runner.ensureRunning(i, progress);
      return outcome(i);
    },

    async changePlan(job, progress): Promise<InstanceOutcome> {
      const i = await existing(job);
      await runner.ensureRunning(i, progress);
      await progress('resizing instance');
      await i.engine.resize(await runner.target(i), job.resource.size);
      i.state.plan = job.resource.plan;
      i.state.memoryMb = job.resource.size.memoryMb;
      i.state.generation = Math.max(i.state.generation, job.generation);
      await writeState(i.paths, i.state);
      await runner.writeConfig(i);
      return outcome(i);
    },

    async deprovision(job, progress): Promise<void> {
      const engine = deps.engines.get(job.resource.engine);
      const i = await find(job.resource.uuid);
      if (i) {
        await progress('stopping instance');
        await stopServer(await runner.livePid(i), i.engine.process(layoutOf(i.paths, i.state)).bin);
        for (let n = 0; n < 100 && (await isPortOpen(i.state.port)); n++) await sleep(50);
      }
      await writeTombstone(root, job.resource.uuid, job.generation);
      await rm(instancePaths(root, job.resource.uuid, engine.name).dir, {
        recursive: true,
        force: true,
      });
    },

    async rotateCredentials(job, progress): Promise<InstanceOutcome> {
      const i = await existing(job);
      await runner.ensureRunning(i, progress);
      const next = i.engine.newCredentials(job.generation);
      if (!i.state.users[next.user]) {
        await progress('adding credentials');
        const current = await runner.target(i);
        i.state.users[next.user] = next.password;
        await runner.writeConfig(i);
        await i.engine.addUser(current, next);
      }
      i.state.currentUser = next.user;
      i.state.generation = Math.max(i.state.generation, job.generation);
      await writeState(i.paths, i.state);
      return outcome(i);
    },

    async revokeCredentials(job, progress): Promise<InstanceOutcome> {
      const i = await existing(job);
      const revoke = revokableUser(job, i.state.currentUser);
      await runner.ensureRunning(i, progress);
      if (i.state.users[revoke]) {
        await progress('revoking credentials');
        delete i.state.users[revoke];
        await runner.writeConfig(i);
        await i.engine.removeUser(await runner.target(i), revoke);
      }
      i.state.generation = Math.max(i.state.generation, job.generation);
      await writeState(i.paths, i.state);
      return outcome(i);
    },

    async maintain(uuid: string): Promise<void> {
      const i = await find(uuid);
      // Renews a due leaf (reloaded live) and restarts a process that died.
      if (i) await runner.ensureRunning(i, noProgress);
    },

    async inventory() {
      const summaries = [];
      for (const uuid of await listInstanceIds(root)) {
        const i = await find(uuid);
        if (!i) continue;
        const bin = i.engine.process(layoutOf(i.paths, i.state)).bin;
        const ready = isInstanceProcess(i.state.pid, i.paths.dir, bin) && (await runner.probe(i));
        summaries.push({ uuid, generation: i.state.generation, plan: i.state.plan, ready });
      }
      return summaries;
    },
  };
}
