/**
 * Keeps one local instance running: config files written from its state, a leaf that is not
 * due, exactly one server process (adopted or started), and readiness through the engine.
 */
import { watch } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Logger } from '../../../../shared/src/logger.js';
import type { InstanceStats } from '../../../../shared/src/messages.js';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
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
 * True once the instance completes a verified TLS handshake and passes the engine's check on
 * that connection (readyOn; or `probe`, a connection of its own, for an engine without it).
 * A refused loopback connect costs a fifth of a millisecond where the engine's client costs
 * one; a plain TCP connect would leave a handshake error in the server's log each time.
 */
async function answers(deps: RunnerDeps, i: Instance): Promise<boolean> {
  const t = await target(deps, i);
  const socket = await new Promise<TLSSocket | undefined>((resolve) => {
    const s = tlsConnect({
      host: t.host,
      port: t.port,
      servername: t.servername,
      secureContext: clientContext(t.ca),
    });
    s.once('secureConnect', () => resolve(s));
    const fail = (): void => {
      s.destroy();
      resolve(undefined);
    };
    s.once('error', fail);
    // Something else on the port (taken meanwhile) may accept and never answer.
    s.setTimeout(HANDSHAKE_TIMEOUT_MS, fail);
  });
  if (!socket) return false;
  if (!i.engine.readyOn) {
    socket.end();
    return probe(deps, i);
  }
  try {
    return await i.engine.readyOn(socket, t);
  } catch {
    return false;
  } finally {
    socket.setTimeout(0);
    socket.end();
  }
}

/** A pause that ends early when something happens. */
interface Wake {
  /** Resolves after `ms`, or sooner when the event fires. */
  after(ms: number): Promise<void>;
  close(): void;
}

/**
 * Wakes when the server writes its pid file, which redis does once its TLS port listens (about
 * 10 ms after the spawn, 5 before it serves): the handshake tried then completes as soon as
 * the server answers, so readiness is seen when it happens, not at the next poll. Polling stays
 * as the fallback (no inotify watch left, a pid file written before the watch began).
 */
export function pidFileWake(pidFile: string): Wake {
  let woken: (() => void) | undefined;
  const name = basename(pidFile);
  let watcher: ReturnType<typeof watch> | undefined;
  try {
    watcher = watch(dirname(pidFile), { persistent: false }, (_event, file) => {
      if (file === name) woken?.();
    });
    watcher.on('error', () => watcher?.close());
  } catch {
    watcher = undefined;
  }
  return {
    after: (ms) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(done, ms);
        function done(): void {
          clearTimeout(timer);
          woken = undefined;
          resolve();
        }
        woken = done;
      }),
    close: () => watcher?.close(),
  };
}

/**
 * Ready once the server answers (`answers`): a short backoff instead of a fixed sleep, cut
 * short when the server writes its pid file (pidFileWake), so a server that serves 15 ms after
 * its spawn is reported then.
 */
async function waitReady(deps: RunnerDeps, i: Instance): Promise<void> {
  const deadline = Date.now() + (deps.readyTimeoutMs ?? 20_000);
  const wake = pidFileWake(i.paths.pid);
  try {
    for (let delay: number = READY_BACKOFF.firstMs; ;) {
      if (await answers(deps, i)) return;
      if (!isServerAlive(i.state.pid, bin(i)))
        throw new Error(`${i.engine.name} server exited before becoming ready`);
      if (Date.now() > deadline)
        throw new Error(`${i.engine.name} server did not become ready in time`);
      await wake.after(delay);
      delay = Math.min(delay * 2, READY_BACKOFF.maxMs);
    }
  } finally {
    wake.close();
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
  await Promise.all(
    Object.entries(files).map(([name, content]) => writePrivate(join(i.paths.dir, name), content)),
  );
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
