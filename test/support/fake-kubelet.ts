/**
 * A fake kubelet for the fake kube-apiserver: it runs each instance StatefulSet's pod as a
 * real local process (the image's program from `images`, e.g. redis-server), from the files
 * in the pod's Secret volume, with a data dir that plays the PersistentVolume (kept across
 * pod restarts, removed with the StatefulSet: `persistentVolumeClaimRetentionPolicy.whenDeleted:
 * Delete`). Knowing no engine, it localizes the pod the way a container runtime would
 * isolate it: every volume mount path in the config files and the container's arguments
 * becomes this pod's directory, and the container port becomes a free loopback port. A new
 * pod template restarts the pod; the pod is marked Ready once its port accepts connections.
 *
 * `endpoint(host)` plays DNS + the LoadBalancer: it maps the instance hostname the driver
 * reports to the loopback port, so clients still verify the certificate against that name.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { requireBinary } from '../../shared/src/binaries.js';
import { freePort, isPortOpen } from '../../shared/src/ports.js';
import type { FakeKubeApiServer, Obj } from './fake-kube-apiserver.js';
import { createSerialWork } from './serial-work.js';

interface Pod {
  name: string;
  revision: string;
  port: number;
  child: ChildProcess;
  exited: Promise<void>;
}

export interface FakeKubelet {
  /** Where the instance with this hostname (`<sts name>.<zone>`) listens. */
  endpoint(host: string): { host: string; port: number };
  /** Live pod processes by StatefulSet name. */
  running(): string[];
  /** Resolves when nothing is starting or stopping. */
  idle(): Promise<void>;
  stop(): Promise<void>;
}

/** How this machine runs an image: its program, and arguments that keep it on loopback. */
export interface ImageRuntime {
  bin: string;
  extraArgs?: string[];
}

/** A pod's own network namespace keeps its server on loopback: so does this machine's run. */
export const LOOPBACK_ARGS = ['--bind', '127.0.0.1'];

/** The redis image the kubernetes driver deploys, run by this machine's redis-server. */
export function redisImage(): Record<string, ImageRuntime> {
  return { 'redis:7.4-alpine': { bin: requireBinary('redis-server'), extraArgs: LOOPBACK_ARGS } };
}

interface KubeletOptions {
  namespace: string;
  /** By image name. */
  images: Record<string, ImageRuntime>;
  dir: string;
}

interface Container {
  image: string;
  command?: string[];
  args?: string[];
  ports: Array<{ containerPort: number }>;
  volumeMounts: Array<{ name: string; mountPath: string }>;
}

const escapeRegExp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function terminate(pod: Pod): Promise<void> {
  if (pod.child.exitCode === null && pod.child.signalCode === null) pod.child.kill('SIGTERM');
  const force = setTimeout(() => pod.child.kill('SIGKILL'), 10_000);
  return pod.exited.finally(() => clearTimeout(force));
}

export function startFakeKubelet(fake: FakeKubeApiServer, opts: KubeletOptions): FakeKubelet {
  const pods = new Map<string, Pod>();
  const work = createSerialWork('fake kubelet');
  let stopped = false;

  const enqueue = (fn: () => Promise<void>): void => void work.enqueue(fn);

  /** The Secrets behind the pod's config volume (a projected volume or a plain secret one). */
  function volumeSecrets(sts: Obj): string[] {
    type Volume = {
      secret?: { secretName: string };
      projected?: { sources: Array<{ secret?: { name: string } }> };
    };
    const volumes = (sts.spec as { template: { spec: { volumes: Volume[] } } }).template.spec
      .volumes;
    return volumes.flatMap((v) => [
      ...(v.secret ? [v.secret.secretName] : []),
      ...(v.projected?.sources.flatMap((src) => (src.secret ? [src.secret.name] : [])) ?? []),
    ]);
  }

  function containerOf(sts: Obj): Container {
    const spec = sts.spec as { template: { spec: { containers: Container[] } } };
    const container = spec.template.spec.containers[0];
    if (!container) throw new Error(`StatefulSet ${sts.metadata.name} has no container`);
    return container;
  }

  /** Rewrites in-pod paths and the container port to this pod's dirs and loopback port. */
  function localizer(
    c: Container,
    dirs: Record<string, string>,
    port: number,
  ): (t: string) => string {
    const paths = new Map(c.volumeMounts.map((m) => [m.mountPath, dirs[m.name] ?? m.mountPath]));
    const containerPort = String(c.ports[0]?.containerPort ?? 0);
    const pattern = new RegExp(
      [...[...paths.keys()].map(escapeRegExp), `\\b${containerPort}\\b`].join('|'),
      'g',
    );
    return (text) => text.replace(pattern, (hit) => paths.get(hit) ?? String(port));
  }

  /** Writes the Secret volume; returns the command line that runs the pod here. */
  function materialize(name: string, sts: Obj, secrets: Obj[], port: number): string[] {
    const dirs = { config: join(opts.dir, name, 'config'), data: join(opts.dir, name, 'data') };
    // Like the kubelet's atomic Secret volume update: a running pod never sees a file missing
    // or half written (each file is renamed into place; keys no longer in the Secret go).
    mkdirSync(dirs.config, { recursive: true, mode: 0o700 });
    mkdirSync(dirs.data, { recursive: true });
    const c = containerOf(sts);
    const localize = localizer(c, dirs, port);
    const files = Object.assign(
      {},
      ...secrets.map((secret) => (secret.data as Record<string, string>) ?? {}),
    ) as Record<string, string>;
    for (const [key, value] of Object.entries(files)) {
      const text = Buffer.from(value, 'base64').toString('utf8');
      // Certificates and keys are data, not config: base64 may spell a path or the port.
      const local = text.startsWith('-----BEGIN') ? text : localize(text);
      writeFileSync(join(dirs.config, `.${key}.tmp`), local, { mode: 0o600 });
      renameSync(join(dirs.config, `.${key}.tmp`), join(dirs.config, key));
    }
    for (const stale of readdirSync(dirs.config))
      if (!(stale in files)) rmSync(join(dirs.config, stale), { force: true });
    const runtime = opts.images[c.image];
    if (!runtime) throw new Error(`fake kubelet: no runtime for image ${c.image}`);
    const args = [...(c.command?.slice(1) ?? []), ...(c.args ?? [])].map(localize);
    return [runtime.bin, ...args, ...(runtime.extraArgs ?? [])];
  }

  async function startPod(sts: Obj): Promise<void> {
    const name = sts.metadata.name;
    const revision = String(
      (sts.status as Record<string, unknown> | undefined)?.updateRevision ?? '',
    );
    const old = pods.get(name);
    if (old?.revision === revision && old.child.exitCode === null) return;
    const secrets = volumeSecrets(sts).map((n) => fake.get('secrets', opts.namespace, n));
    if (secrets.some((x) => x === undefined)) return; // ContainerCreating until the Secrets exist
    if (old) {
      pods.delete(name);
      fake.markUnready(opts.namespace, name);
      await terminate(old);
    }
    const port = old?.port ?? (await freePort());
    const [bin = '', ...args] = materialize(name, sts, secrets as Obj[], port);
    const child = spawn(bin, args, { stdio: 'ignore' });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.once('error', () => undefined);
    const pod: Pod = { name, revision, port, child, exited };
    pods.set(name, pod);
    const deadline = Date.now() + 15_000;
    while (!(await isPortOpen(port))) {
      if (child.exitCode !== null || Date.now() > deadline) return; // CrashLoopBackOff: never Ready
      await new Promise((r) => setTimeout(r, 25));
    }
    if (pods.get(name) === pod && fake.get('statefulsets', opts.namespace, name))
      fake.markReady(opts.namespace, name);
  }

  async function deletePod(name: string): Promise<void> {
    const pod = pods.get(name);
    pods.delete(name);
    if (pod) await terminate(pod);
    rmSync(join(opts.dir, name), { recursive: true, force: true });
  }

  fake.onWrite((e) => {
    if (stopped || e.namespace !== opts.namespace) return;
    if (e.resource === 'statefulsets' && e.type !== 'deleted') {
      const sts = e.obj;
      enqueue(() => startPod(sts));
    } else if (e.resource === 'statefulsets' && e.type === 'deleted') {
      const name = e.obj.metadata.name;
      enqueue(() => deletePod(name));
    } else if (e.resource === 'secrets') {
      // A pod waiting for its Secret starts when it appears.
      for (const [key, obj] of fake.objects) {
        if (key.startsWith(`statefulsets/${opts.namespace}/`) && !pods.has(obj.metadata.name))
          enqueue(() => startPod(obj));
      }
    }
  });

  return {
    endpoint(host: string) {
      const name = host.split('.')[0] ?? '';
      const pod = pods.get(name);
      // No pod: a port nobody listens on, as a LoadBalancer without endpoints would refuse.
      return { host: '127.0.0.1', port: pod?.port ?? 1 };
    },
    running: () => [...pods.values()].filter((p) => p.child.exitCode === null).map((p) => p.name),
    idle: () => work.idle(),
    async stop(): Promise<void> {
      stopped = true;
      await work.idle();
      await Promise.all([...pods.values()].map(terminate));
      pods.clear();
    },
  };
}
