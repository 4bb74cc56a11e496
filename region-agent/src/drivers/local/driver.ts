/**
 * The `local` driver: each instance is a TLS-only server process on loopback, run as its
 * engine says, with its state under `<dataDir>/instances/<uuid>`. Every method is
 * idempotent; the agent guarantees one operation per uuid at a time.
 */
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Job } from '../../../../shared/src/messages.js';
import type { Logger } from '../../../../shared/src/logger.js';
import { freePort, isPortOpen } from '../../../../shared/src/ports.js';
import {
  PermanentError,
  type Driver,
  type InstanceOutcome,
  type InstanceSummary,
  type Progress,
} from '../../driver.js';
import type { Engines } from '../../engines/index.js';
import type { TlsIssuer } from '../../tls/private-ca.js';
import { refuseSuperseded } from '../fence.js';
import { revokableUser } from '../revoke.js';
import { isInstanceProcess, stopServer } from './process.js';
import { createRunner, type Instance, type Runner } from './runner.js';
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

interface Ctx {
  deps: LocalDriverDeps;
  root: string;
  log: Logger;
  runner: Runner;
}

const noProgress: Progress = async () => {};

/** The instance as recorded; undefined when there is none. */
async function find(ctx: Ctx, uuid: string): Promise<Instance | undefined> {
  const state = await readState(ctx.root, uuid);
  if (!state) return undefined;
  const engine = ctx.deps.engines.get(state.engine);
  return { engine, paths: instancePaths(ctx.root, uuid, engine.name), state };
}

async function existing(ctx: Ctx, job: Job): Promise<Instance> {
  ctx.deps.engines.get(job.resource.engine);
  const i = await find(ctx, job.resource.uuid);
  if (!i)
    throw new PermanentError(
      'instance_not_found',
      `no instance ${job.resource.uuid} in this region`,
    );
  refuseSuperseded(i.state.generation, job);
  return i;
}

async function outcome(ctx: Ctx, i: Instance): Promise<InstanceOutcome> {
  const { state } = i;
  const endpoint = { host: ctx.deps.hostname, port: state.port };
  const vars = i.engine.connectionConfig(endpoint, {
    user: state.currentUser,
    password: state.users[state.currentUser] ?? '',
  });
  vars.TLS_CA = await ctx.deps.issuer.caPem();
  return {
    config: Object.fromEntries(Object.entries(vars).map(([k, v]) => [`${state.prefix}_${k}`, v])),
    endpoint,
    ...(state.certificate ? { certificate: state.certificate } : {}),
  };
}

async function allocate(ctx: Ctx, job: Job): Promise<Instance> {
  const engine = ctx.deps.engines.get(job.resource.engine);
  const { uuid } = job.resource;
  if ((await readTombstone(ctx.root, uuid)) !== undefined)
    throw new PermanentError('instance_deprovisioned', `instance ${uuid} was deprovisioned`);
  const first = engine.newCredentials(job.generation);
  const i: Instance = {
    engine,
    paths: instancePaths(ctx.root, uuid, engine.name),
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
  // Its state is first written with its certificate (ensureCertificate), before anything is
  // started: one file fewer per provision (a new file costs ~0.5 ms here, 5-15 under load),
  // and an attempt that dies before then left nothing to adopt, so the retry allocates anew.
  await mkdir(i.paths.dir, { recursive: true, mode: 0o700 });
  return i;
}

const serverBin = (i: Instance): string => i.engine.process(layoutOf(i.paths, i.state)).bin;

async function adopt(ctx: Ctx): Promise<void> {
  for (const uuid of await listInstanceIds(ctx.root)) {
    try {
      const i = await find(ctx, uuid);
      if (!i) continue;
      const alive = isInstanceProcess(i.state.pid, i.paths.dir, serverBin(i));
      await ctx.runner.ensureRunning(i, noProgress);
      ctx.log.info({ resourceId: uuid, adopted: alive }, 'instance recovered');
    } catch (err) {
      ctx.log.error({ resourceId: uuid, err }, 'instance recovery failed');
    }
  }
}

/** The job's instance as recorded, or a new one (refused if it was deprovisioned). */
async function findOrAllocate(ctx: Ctx, job: Job, progress: Progress): Promise<Instance> {
  ctx.deps.engines.get(job.resource.engine);
  const found = await find(ctx, job.resource.uuid);
  if (found) refuseSuperseded(found.state.generation, job);
  if (found) return found;
  await progress('allocating instance');
  return allocate(ctx, job);
}

async function provision(ctx: Ctx, job: Job, progress: Progress): Promise<InstanceOutcome> {
  const i = await findOrAllocate(ctx, job, progress);
  await ctx.runner.ensureRunning(i, progress);
  return outcome(ctx, i);
}

/** Running, at the job's plan and size and (at least) its generation. */
async function converge(
  ctx: Ctx,
  i: Instance,
  job: Job,
  progress: Progress,
): Promise<InstanceOutcome> {
  await ctx.runner.ensureRunning(i, progress);
  await progress('resizing instance');
  await i.engine.resize(await ctx.runner.target(i), job.resource.size);
  i.state.plan = job.resource.plan;
  i.state.memoryMb = job.resource.size.memoryMb;
  i.state.generation = Math.max(i.state.generation, job.generation);
  await writeState(i.paths, i.state);
  await ctx.runner.writeConfig(i);
  return outcome(ctx, i);
}

async function changePlan(ctx: Ctx, job: Job, progress: Progress): Promise<InstanceOutcome> {
  return converge(ctx, await existing(ctx, job), job, progress);
}

/** A dir deleted behind our back comes back with new credentials (the control plane pushes them). */
async function repair(ctx: Ctx, job: Job, progress: Progress): Promise<InstanceOutcome> {
  return converge(ctx, await findOrAllocate(ctx, job, progress), job, progress);
}

async function deprovision(ctx: Ctx, job: Job, progress: Progress): Promise<void> {
  const engine = ctx.deps.engines.get(job.resource.engine);
  const i = await find(ctx, job.resource.uuid);
  if (i) {
    await progress('stopping instance');
    await stopServer(await ctx.runner.livePid(i), serverBin(i));
    for (let n = 0; n < 100 && (await isPortOpen(i.state.port)); n++) await sleep(50);
  }
  await writeTombstone(ctx.root, job.resource.uuid, job.generation);
  await rm(instancePaths(ctx.root, job.resource.uuid, engine.name).dir, {
    recursive: true,
    force: true,
  });
}

/** Adds user `u<generation>` (live and in the config files) and makes it the URL's. */
async function rotateCredentials(ctx: Ctx, job: Job, progress: Progress): Promise<InstanceOutcome> {
  const i = await existing(ctx, job);
  await ctx.runner.ensureRunning(i, progress);
  const next = i.engine.newCredentials(job.generation);
  if (!i.state.users[next.user]) {
    await progress('adding credentials');
    const current = await ctx.runner.target(i);
    i.state.users[next.user] = next.password;
    await ctx.runner.writeConfig(i);
    await i.engine.addUser(current, next);
  }
  i.state.currentUser = next.user;
  i.state.generation = Math.max(i.state.generation, job.generation);
  await writeState(i.paths, i.state);
  return outcome(ctx, i);
}

async function revokeCredentials(ctx: Ctx, job: Job, progress: Progress): Promise<InstanceOutcome> {
  const i = await existing(ctx, job);
  const revoke = revokableUser(job, i.state.currentUser);
  await ctx.runner.ensureRunning(i, progress);
  if (i.state.users[revoke]) {
    await progress('revoking credentials');
    delete i.state.users[revoke];
    await ctx.runner.writeConfig(i);
    await i.engine.removeUser(await ctx.runner.target(i), revoke);
  }
  i.state.generation = Math.max(i.state.generation, job.generation);
  await writeState(i.paths, i.state);
  return outcome(ctx, i);
}

async function inventory(ctx: Ctx): Promise<InstanceSummary[]> {
  const summaries: InstanceSummary[] = [];
  for (const uuid of await listInstanceIds(ctx.root)) {
    const i = await find(ctx, uuid);
    if (!i) continue;
    const alive = isInstanceProcess(i.state.pid, i.paths.dir, serverBin(i));
    const ready = alive && (await ctx.runner.probe(i));
    const { generation, plan, engine } = i.state;
    const stats = ready ? await ctx.runner.stats(i) : undefined;
    summaries.push({ uuid, generation, plan, ready, engine, ...(stats ? { stats } : {}) });
  }
  return summaries;
}

async function certificateExpiries(ctx: Ctx): Promise<string[]> {
  const expiries: string[] = [];
  for (const uuid of await listInstanceIds(ctx.root)) {
    const state = await readState(ctx.root, uuid);
    if (state?.certificate) expiries.push(state.certificate.notAfter);
  }
  return expiries;
}

export function createLocalDriver(deps: LocalDriverDeps): Driver {
  const log = deps.log.child({ driver: 'local' });
  const ctx: Ctx = {
    deps,
    root: join(deps.dataDir, 'instances'),
    log,
    runner: createRunner({ ...deps, log }),
  };
  return {
    name: 'local',
    adopt: () => adopt(ctx),
    provision: (job, progress) => provision(ctx, job, progress),
    changePlan: (job, progress) => changePlan(ctx, job, progress),
    deprovision: (job, progress) => deprovision(ctx, job, progress),
    rotateCredentials: (job, progress) => rotateCredentials(ctx, job, progress),
    revokeCredentials: (job, progress) => revokeCredentials(ctx, job, progress),
    repair: (job, progress) => repair(ctx, job, progress),
    async maintain(uuid: string): Promise<void> {
      const i = await find(ctx, uuid);
      // Renews a due leaf (reloaded live) and restarts a process that died.
      if (i) await ctx.runner.ensureRunning(i, noProgress);
    },
    inventory: () => inventory(ctx),
    certificateExpiries: () => certificateExpiries(ctx),
  };
}
