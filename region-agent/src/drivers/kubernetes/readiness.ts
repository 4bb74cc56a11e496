/**
 * Ready = the StatefulSet controller observed our latest spec, the new pod is Ready, and the
 * engine's own check answers over verified TLS. A timeout says which of these it waited for.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import type { InstanceStats } from '../../../../shared/src/messages.js';
import type { Progress } from '../../driver.js';
import type { Engine, ServerTarget } from '../../engines/engine.js';
import type { KubeApi } from './client.js';
import { clusterHost, instanceName, type InstanceSpec } from './spec.js';

export type StatefulSetObject = KubernetesObject & {
  status?: { readyReplicas?: number; updatedReplicas?: number; observedGeneration?: number };
};

/** Objects as the apiserver answered an apply, by kind: the first check reads these. */
export type Applied = Map<string, KubernetesObject>;

export type Probe = (target: ServerTarget, engine: Engine) => Promise<boolean>;
/** What the engine measures of a server (undefined: it measures nothing). */
export type Measure = (target: ServerTarget, engine: Engine) => Promise<InstanceStats | undefined>;

export const engineStats: Measure = async (target, engine) => engine.stats?.(target);

export interface ReadinessDeps {
  kube: KubeApi;
  namespace: string;
  probe: Probe;
  measure: Measure;
  now: () => number;
  pollMs: number;
  readyTimeoutMs: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The cloud's address for the Service (what external-dns points the name at). */
async function loadBalancerAddress(
  deps: ReadinessDeps,
  name: string,
  applied?: Applied,
): Promise<string | undefined> {
  const svc = (applied?.get('Service') ??
    (await deps.kube.get('v1', 'Service', deps.namespace, name))) as
    | (KubernetesObject & {
        status?: { loadBalancer?: { ingress?: Array<{ ip?: string; hostname?: string }> } };
      })
    | undefined;
  const ingress = svc?.status?.loadBalancer?.ingress?.[0];
  return ingress?.hostname ?? ingress?.ip;
}

/** The object as the apply answered it, else as the apiserver has it now. */
async function current(
  deps: ReadinessDeps,
  apiVersion: string,
  kind: string,
  name: string,
  applied?: Applied,
): Promise<KubernetesObject | undefined> {
  return applied?.get(kind) ?? deps.kube.get(apiVersion, kind, deps.namespace, name);
}

async function rolloutBlocker(
  deps: ReadinessDeps,
  name: string,
  applied?: Applied,
): Promise<string | undefined> {
  const sts = (await current(deps, 'apps/v1', 'StatefulSet', name, applied)) as
    StatefulSetObject | undefined;
  const status = sts?.status ?? {};
  const rolledOut =
    (status.observedGeneration ?? 0) >= (sts?.metadata?.generation ?? 1) &&
    (status.updatedReplicas ?? 0) >= 1;
  if (!rolledOut) return 'rollout in progress';
  if ((status.readyReplicas ?? 0) < 1) return 'pod not ready';
  return undefined;
}

/** What readiness still waits for, or undefined once the instance answers. */
async function notReadyBecause(
  deps: ReadinessDeps,
  spec: InstanceSpec,
  target: ServerTarget,
  applied?: Applied,
): Promise<string | undefined> {
  const name = instanceName(spec.engine, spec.uuid);
  if (spec.serviceType === 'LoadBalancer' && !(await loadBalancerAddress(deps, name, applied)))
    return 'load balancer has no address yet';
  const blocker = await rolloutBlocker(deps, name, applied);
  if (blocker) return blocker;
  try {
    return (await deps.probe(target, spec.engine)) ? undefined : 'TLS probe did not answer';
  } catch (err) {
    return `TLS probe failed: ${(err as Error).message}`;
  }
}

/**
 * Through the in-cluster Service (no hairpin through the load balancer, no wait for DNS),
 * still verifying the certificate against the name clients use.
 */
function probeTarget(deps: ReadinessDeps, spec: InstanceSpec): ServerTarget {
  return {
    host: clusterHost(instanceName(spec.engine, spec.uuid), deps.namespace),
    port: spec.engine.port,
    servername: spec.publicHost,
    ca: spec.tls.caPem || undefined,
    user: spec.currentUser,
    password: spec.users[spec.currentUser] ?? '',
  };
}

/** Whether the instance answers its engine's check over verified TLS now (the inventory's `ready`). */
export async function answers(deps: ReadinessDeps, spec: InstanceSpec): Promise<boolean> {
  return deps.probe(probeTarget(deps, spec), spec.engine).catch(() => false);
}

/**
 * The inventory's view: whether it answers and, when it does, its numbers through the same
 * target; a failed measurement leaves them out, it never fails the inventory.
 */
export async function observe(
  deps: ReadinessDeps,
  spec: InstanceSpec,
): Promise<{ ready: boolean; stats?: InstanceStats }> {
  if (!(await answers(deps, spec))) return { ready: false };
  const stats = await deps.measure(probeTarget(deps, spec), spec.engine).catch(() => undefined);
  return stats ? { ready: true, stats } : { ready: true };
}

export async function waitReady(
  deps: ReadinessDeps,
  spec: InstanceSpec,
  progress: Progress,
  applied?: Applied,
): Promise<void> {
  await progress('waiting for TLS readiness');
  const deadline = deps.now() + deps.readyTimeoutMs;
  const target = probeTarget(deps, spec);
  // The first check reads the objects as the apply answered (the state right after it);
  // later ones ask the apiserver again.
  for (let known = applied; ; known = undefined) {
    const waitingFor = await notReadyBecause(deps, spec, target, known);
    if (waitingFor === undefined) return;
    if (deps.now() > deadline)
      throw new Error(`instance did not become ready in time (${waitingFor})`);
    await sleep(deps.pollMs);
  }
}
