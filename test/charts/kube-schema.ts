/**
 * Validates rendered objects against the Kubernetes OpenAPI schema (kubernetes-models),
 * by apiVersion/kind. A kind the charts render must be listed here: an unknown kind fails.
 */
import { Deployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { Job } from 'kubernetes-models/batch/v1';
import { Ingress } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { Role, RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import {
  ConfigMap,
  PersistentVolumeClaim,
  Pod,
  Secret,
  Service,
  ServiceAccount,
} from 'kubernetes-models/v1';
import * as kubeModels from '@kubernetes/client-node';
import type { K8sObject } from './helm.js';

interface Validatable {
  validate(): void;
}
type ModelClass = new (data: never) => Validatable;

const MODELS: Record<string, ModelClass> = {
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'v1/ServiceAccount': ServiceAccount,
  'v1/Pod': Pod,
  'v1/PersistentVolumeClaim': PersistentVolumeClaim,
  'apps/v1/Deployment': Deployment,
  'batch/v1/Job': Job,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'networking.k8s.io/v1/Ingress': Ingress,
  'rbac.authorization.k8s.io/v1/Role': Role,
  'rbac.authorization.k8s.io/v1/RoleBinding': RoleBinding,
};

/**
 * Custom resources a chart may render without a schema here. Empty on purpose: the charts
 * render no CRD objects (the agent creates cert-manager Certificates at run time, it does
 * not ship them).
 */
export const ALLOWED_EXTERNAL_KINDS: ReadonlySet<string> = new Set<string>();

interface TypeMapEntry {
  baseName: string;
  type: string;
}
type ModelWithTypeMap = { getAttributeTypeMap(): TypeMapEntry[] };

function typeMap(type: string): TypeMapEntry[] | undefined {
  const model = (kubeModels as unknown as Record<string, Partial<ModelWithTypeMap> | undefined>)[
    type
  ];
  return typeof model?.getAttributeTypeMap === 'function' ? model.getAttributeTypeMap() : undefined;
}

/**
 * Field names the API server does not know (kubernetes-models' validators accept unknown
 * fields; `kubectl apply --validate=strict` and server-side field validation do not). Walks
 * the object along @kubernetes/client-node's generated type maps.
 */
export function unknownFields(value: unknown, type: string, path = ''): string[] {
  if (value === null || value === undefined) return [];
  const array = /^Array<(.+)>$/.exec(type);
  if (array)
    return Array.isArray(value)
      ? value.flatMap((v, i) => unknownFields(v, array[1]!, `${path}[${i}]`))
      : [];
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map) {
    return typeof value === 'object'
      ? Object.entries(value).flatMap(([k, v]) => unknownFields(v, map[1]!, `${path}.${k}`))
      : [];
  }
  const attributes = typeMap(type);
  if (!attributes || typeof value !== 'object' || Array.isArray(value)) return [];
  return Object.entries(value as Record<string, unknown>).flatMap(([key, v]) => {
    const attr = attributes.find((a) => a.baseName === key);
    return attr ? unknownFields(v, attr.type, `${path}.${key}`) : [`${path}.${key}`];
  });
}

function modelType(obj: K8sObject): string {
  const version = obj.apiVersion.split('/').pop() ?? '';
  return `${version.charAt(0).toUpperCase()}${version.slice(1)}${obj.kind}`;
}

/** Problems of one object: "" when it is valid. */
export function schemaProblems(obj: K8sObject): string {
  const key = `${obj.apiVersion}/${obj.kind}`;
  const Model = MODELS[key];
  if (!Model) {
    return ALLOWED_EXTERNAL_KINDS.has(key)
      ? ''
      : `${key} ${obj.metadata?.name}: kind has no schema in the test`;
  }
  try {
    new Model(obj as never).validate();
  } catch (err) {
    return `${key} ${obj.metadata.name}: ${(err as Error).message}`;
  }
  const type = modelType(obj);
  if (!typeMap(type)) return `${key} ${obj.metadata.name}: no field list for ${type}`;
  const unknown = unknownFields(obj, type);
  return unknown.length > 0
    ? `${key} ${obj.metadata.name}: unknown fields ${unknown.join(', ')}`
    : '';
}
