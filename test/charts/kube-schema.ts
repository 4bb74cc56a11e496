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
import { ConfigMap, Pod, Secret, Service, ServiceAccount } from 'kubernetes-models/v1';
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

/** Problems of one object: "" when it is valid. */
export function schemaProblems(obj: K8sObject): string {
  const key = `${obj.apiVersion}/${obj.kind}`;
  const Model = MODELS[key];
  if (!Model) {
    return ALLOWED_EXTERNAL_KINDS.has(key) ? '' : `${key} ${obj.metadata?.name}: kind has no schema in the test`;
  }
  try {
    new Model(obj as never).validate();
    return '';
  } catch (err) {
    return `${key} ${obj.metadata.name}: ${(err as Error).message}`;
  }
}
