/** Small typed accessors over rendered chart objects, for the chart tests. */
import type { K8sObject } from './helm.js';

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    secretKeyRef?: { name: string; key: string; optional?: boolean };
    configMapKeyRef?: { name: string; key: string };
    fieldRef?: { fieldPath: string };
  };
}

export interface Probe {
  httpGet?: { path: string; port: string | number };
}

export interface Container {
  name: string;
  image: string;
  command?: string[];
  env?: EnvVar[];
  envFrom?: Array<{ configMapRef?: { name: string }; secretRef?: { name: string } }>;
  ports?: Array<{ name?: string; containerPort: number }>;
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  startupProbe?: Probe;
  securityContext?: {
    runAsNonRoot?: boolean;
    readOnlyRootFilesystem?: boolean;
    allowPrivilegeEscalation?: boolean;
    privileged?: boolean;
    capabilities?: { drop?: string[]; add?: string[] };
    seccompProfile?: { type: string };
  };
  volumeMounts?: Array<{ name: string; mountPath: string }>;
}

export interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  securityContext?: { runAsNonRoot?: boolean; seccompProfile?: { type: string } };
  volumes?: Array<{ name: string; emptyDir?: object; secret?: object; configMap?: object }>;
  automountServiceAccountToken?: boolean;
  serviceAccountName?: string;
  affinity?: object;
}

export interface PodTemplate {
  metadata?: { annotations?: Record<string, string>; labels?: Record<string, string> };
  spec: PodSpec;
}

export interface RoleRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

export function ofKind(objects: K8sObject[], kind: string): K8sObject[] {
  return objects.filter((o) => o.kind === kind);
}

export function one(objects: K8sObject[], kind: string): K8sObject {
  const found = ofKind(objects, kind);
  if (found.length !== 1) throw new Error(`expected exactly one ${kind}, found ${found.length}`);
  return found[0]!;
}

export function spec<T>(obj: K8sObject): T {
  return obj.spec as T;
}

/** Every pod template or pod spec in a render: Deployments, Jobs and bare Pods (helm tests). */
export function podSpecs(objects: K8sObject[]): Array<{ owner: string; pod: PodSpec }> {
  const out: Array<{ owner: string; pod: PodSpec }> = [];
  for (const o of objects) {
    const owner = `${o.kind}/${o.metadata.name}`;
    if (o.kind === 'Pod') out.push({ owner, pod: o.spec as PodSpec });
    if (o.kind === 'Deployment' || o.kind === 'Job') {
      out.push({ owner, pod: spec<{ template: PodTemplate }>(o).template.spec });
    }
  }
  return out;
}

/** The main Deployment's pod template. */
export function deploymentTemplate(objects: K8sObject[]): PodTemplate {
  return spec<{ template: PodTemplate }>(one(objects, 'Deployment')).template;
}

/**
 * Env var names the main container gets: explicit `env` plus every key of the ConfigMaps it
 * loads with `envFrom` (the ConfigMaps must be in the same render).
 */
export function containerEnvNames(objects: K8sObject[], container: Container): string[] {
  const names = (container.env ?? []).map((e) => e.name);
  for (const from of container.envFrom ?? []) {
    if (from.secretRef)
      throw new Error('envFrom secretRef hides the variable names; use secretKeyRef per variable');
    const ref = from.configMapRef?.name;
    const cm = ofKind(objects, 'ConfigMap').find((c) => c.metadata.name === ref);
    if (!cm) throw new Error(`envFrom ConfigMap ${ref} is not rendered by the chart`);
    names.push(...Object.keys((cm.data as Record<string, string> | undefined) ?? {}));
  }
  return names;
}

/** The value of an env var, resolving `envFrom` ConfigMaps; undefined when not a plain value. */
export function envValue(
  objects: K8sObject[],
  container: Container,
  name: string,
): string | undefined {
  const direct = container.env?.find((e) => e.name === name);
  if (direct) return direct.value;
  for (const from of container.envFrom ?? []) {
    const cm = ofKind(objects, 'ConfigMap').find(
      (c) => c.metadata.name === from.configMapRef?.name,
    );
    const data = (cm?.data as Record<string, string> | undefined) ?? {};
    if (name in data) return data[name];
  }
  return undefined;
}
