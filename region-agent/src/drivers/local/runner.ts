/**
 * Keeps one local instance running: config files written from its state, a leaf that is not
 * due, exactly one server process (adopted or started), and readiness through the engine.
 */
import { join } from 'node:path';
import type { Logger } from '../../../../shared/src/logger.js';
import { freePort } from '../../../../shared/src/ports.js';
import type { Progress } from '../../driver.js';
import type { Engine, ServerTarget } from '../../engines/engine.js';
import type { TlsIssuer } from '../../tls/private-ca.js';
import { ensureCertificate } from './certificate.js';
import {
  isInstanceProcess,
  isServerAlive,
  readPidFile,
  spawnServer,
  stopServer,
} from './process.js';
import {
  engineInstance,
  layoutOf,
  writePrivate,
  writeState,
  type InstancePaths,
  type InstanceState,
} from './state.js';

export interface RunnerDeps {
  hostname: string;
  issuer: TlsIssuer;
  log: Logger;
  readyTimeoutMs?: number;
}

export interface Instance {
  engine: Engine;
  paths: InstancePaths;
  state: InstanceState;
}

export interface Runner {
  /** The server as its current user sees it; `ca` overrides the trusted CAs. */
  target(i: Instance, ca?: string[]): Promise<ServerTarget>;
  /** Honest readiness through the engine; false on any failure. */
  probe(i: Instance): Promise<boolean>;
  /** The live process's pid (recorded, or adopted from the server's pid file). */
  livePid(i: Instance): Promise<number | undefined>;
  writeConfig(i: Instance): Promise<void>;
  ensureRunning(i: Instance, progress: Progress): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const bin = (i: Instance): string => i.engine.process(layoutOf(i.paths, i.state)).bin;

async function target(deps: RunnerDeps, i: Instance, ca?: string[]): Promise<ServerTarget> {
  const { state } = i;
  return {
    host: '127.0.0.1',
    port: state.port,
    servername: deps.hostname,
    ca: ca ?? (await deps.issuer.caPem()),
    user: state.currentUser,
    password: state.users[state.currentUser] ?? '',
  };
}

async function probe(deps: RunnerDeps, i: Instance): Promise<boolean> {
  try {
    return await i.engine.ready(await target(deps, i));
  } catch {
    return false;
  }
}

async function waitReady(deps: RunnerDeps, i: Instance): Promise<void> {
  const deadline = Date.now() + (deps.readyTimeoutMs ?? 20_000);
  while (!(await probe(deps, i))) {
    if (!isServerAlive(i.state.pid, bin(i)))
      throw new Error(`${i.engine.name} server exited before becoming ready`);
    if (Date.now() > deadline)
      throw new Error(`${i.engine.name} server did not become ready in time`);
    await sleep(50);
  }
}

/**
 * The recorded pid, or else the one in the pid file the server writes itself. An agent
 * killed between spawning a process and recording its pid leaves one running on the
 * instance's port; it is adopted, never doubled (a second one could not bind, and the
 * first would outlive every later stop).
 */
async function livePid(deps: RunnerDeps, i: Instance): Promise<number | undefined> {
  const { paths, state } = i;
  if (isInstanceProcess(state.pid, paths.dir, bin(i))) return state.pid;
  const unrecorded = readPidFile(paths.pid);
  if (!isInstanceProcess(unrecorded, paths.dir, bin(i))) return undefined;
  deps.log.warn(
    { resourceId: state.uuid, pid: unrecorded, recorded: state.pid },
    'unrecorded instance process adopted',
  );
  state.pid = unrecorded;
  await writeState(paths, state);
  return unrecorded;
}

async function writeConfig(i: Instance): Promise<void> {
  const files = i.engine.configFiles(engineInstance(i.state), layoutOf(i.paths, i.state));
  for (const [name, content] of Object.entries(files))
    await writePrivate(join(i.paths.dir, name), content);
}

async function start(deps: RunnerDeps, i: Instance, progress: Progress): Promise<void> {
  await progress('starting instance');
  i.state.pid = spawnServer(i.engine.process(layoutOf(i.paths, i.state)), i.paths.dir);
  await writeState(i.paths, i.state);
  deps.log.info(
    { resourceId: i.state.uuid, port: i.state.port, pid: i.state.pid },
    'instance process started',
  );
}

/** Waits for readiness; a never-ready instance moves to a new port for the retry. */
async function settle(deps: RunnerDeps, i: Instance, progress: Progress): Promise<void> {
  await progress('waiting for TLS readiness');
  try {
    await waitReady(deps, i);
  } catch (err) {
    if (!i.state.everReady) {
      // The port we picked may have been taken meanwhile: the retry starts on a new one.
      await stopServer(i.state.pid, bin(i));
      i.state.port = await freePort();
      await writeState(i.paths, i.state);
    }
    throw err;
  }
  if (!i.state.everReady) {
    i.state.everReady = true;
    await writeState(i.paths, i.state);
  }
}

async function ensureRunning(deps: RunnerDeps, i: Instance, progress: Progress): Promise<void> {
  const renewed = await ensureCertificate(i.paths, i.state, deps, progress);
  await writeConfig(i);
  const running = await livePid(deps, i);
  if (renewed && running) {
    // The running server still presents the old leaf: trust the CA that issued it too.
    await i.engine.reloadTls(await target(deps, i, renewed), layoutOf(i.paths, i.state));
    deps.log.info(
      { resourceId: i.state.uuid, notAfter: i.state.certificate?.notAfter },
      'instance certificate renewed',
    );
  }
  if (!running) await start(deps, i, progress);
  await settle(deps, i, progress);
}

export function createRunner(deps: RunnerDeps): Runner {
  return {
    target: (i, ca) => target(deps, i, ca),
    probe: (i) => probe(deps, i),
    livePid: (i) => livePid(deps, i),
    writeConfig,
    ensureRunning: (i, progress) => ensureRunning(deps, i, progress),
  };
}
