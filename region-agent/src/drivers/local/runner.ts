/**
 * Keeps one local instance running: config files written from its state, a leaf that is not
 * due, exactly one server process (adopted or started), and readiness through the engine.
 */
import { join } from 'node:path';
import type { Logger } from '../../../../shared/src/logger.js';
import type { InstanceStats } from '../../../../shared/src/messages.js';
import { connect as tlsConnect } from 'node:tls';
import { freePort } from '../../../../shared/src/ports.js';
import type { Progress } from '../../driver.js';
import type { Engine, ServerTarget } from '../../engines/engine.js';
import { clientContext } from '../../tls/client-context.js';
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
  /** What the engine measures of the running server; undefined on any failure or none. */
  stats(i: Instance): Promise<InstanceStats | undefined>;
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

async function stats(deps: RunnerDeps, i: Instance): Promise<InstanceStats | undefined> {
  if (!i.engine.stats) return undefined;
  try {
    return await i.engine.stats(await target(deps, i));
  } catch (err) {
    deps.log.debug({ err, resourceId: i.state.uuid }, 'instance stats unavailable');
    return undefined;
  }
}

/** Between probes: 2 ms, doubling to 25 ms; a server starts in 10–30 ms. */
const READY_BACKOFF = { firstMs: 2, maxMs: 25 } as const;
const HANDSHAKE_TIMEOUT_MS = 1_000;

/**
 * True once a verified TLS handshake with the instance completes. A refused loopback connect
 * costs a fifth of a millisecond where the engine's client costs one; a plain TCP connect
 * would leave a handshake error in the server's log each time.
 */
async function handshakes(deps: RunnerDeps, i: Instance): Promise<boolean> {
  const t = await target(deps, i);
  return new Promise((resolve) => {
    const socket = tlsConnect({
      host: t.host,
      port: t.port,
      servername: t.servername,
      secureContext: clientContext(t.ca),
    });
    socket.once('secureConnect', () => {
      socket.end();
      resolve(true);
    });
    const fail = (): void => {
      socket.destroy();
      resolve(false);
    };
    socket.once('error', fail);
    // Something else on the port (taken meanwhile) may accept and never answer.
    socket.setTimeout(HANDSHAKE_TIMEOUT_MS, fail);
  });
}

/**
 * Ready once the engine's verified-TLS check answers, probed as soon as the server completes
 * a handshake: a short backoff instead of a fixed sleep, so a server that starts in 15 ms is
 * reported at about 15 ms, not at the next 50 ms tick.
 */
async function waitReady(deps: RunnerDeps, i: Instance): Promise<void> {
  const deadline = Date.now() + (deps.readyTimeoutMs ?? 20_000);
  for (let delay: number = READY_BACKOFF.firstMs; ;) {
    if ((await handshakes(deps, i)) && (await probe(deps, i))) return;
    if (!isServerAlive(i.state.pid, bin(i)))
      throw new Error(`${i.engine.name} server exited before becoming ready`);
    if (Date.now() > deadline)
      throw new Error(`${i.engine.name} server did not become ready in time`);
    await sleep(delay);
    delay = Math.min(delay * 2, READY_BACKOFF.maxMs);
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
  i.state.pid = await spawnServer(i.engine.process(layoutOf(i.paths, i.state)), i.paths.dir);
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
    stats: (i) => stats(deps, i),
    livePid: (i) => livePid(deps, i),
    writeConfig,
    ensureRunning: (i, progress) => ensureRunning(deps, i, progress),
  };
}
