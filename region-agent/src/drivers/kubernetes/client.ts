/** The only module that talks to @kubernetes/client-node: apply, get, list, delete. */
import {
  KubeConfig,
  KubernetesObjectApi,
  PatchStrategy,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { FIELD_MANAGER } from './calls.js';
import type { KubeObject } from './objects.js';

export interface KubeApi {
  /** Server-side apply with field manager `region-agent`, forcing ownership of our fields. */
  apply(obj: KubeObject): Promise<KubernetesObject>;
  /** Plain create: undefined when an object with that name already exists (409). */
  create(obj: KubeObject): Promise<KubernetesObject | undefined>;
  get(
    apiVersion: string,
    kind: string,
    namespace: string,
    name: string,
  ): Promise<KubernetesObject | undefined>;
  list(
    apiVersion: string,
    kind: string,
    namespace: string,
    labelSelector: string,
  ): Promise<KubernetesObject[]>;
  /** False when the object was already gone. */
  remove(apiVersion: string, kind: string, namespace: string, name: string): Promise<boolean>;
}

function isNotFound(err: unknown): boolean {
  return (err as { code?: number }).code === 404;
}

function isAlreadyExists(err: unknown): boolean {
  return (err as { code?: number }).code === 409;
}

/** In-cluster config unless a kubeconfig path (or a loaded KubeConfig) is given. */
export function loadKubeConfig(kubeconfig?: string): KubeConfig {
  const kc = new KubeConfig();
  if (kubeconfig) kc.loadFromFile(kubeconfig);
  else kc.loadFromCluster();
  return kc;
}

export function createKubeApi(kc: KubeConfig): KubeApi {
  const api = KubernetesObjectApi.makeApiClient(kc);
  return {
    apply(obj: KubeObject): Promise<KubernetesObject> {
      return api.patch(
        obj,
        undefined,
        undefined,
        FIELD_MANAGER,
        true,
        PatchStrategy.ServerSideApply,
      );
    },
    async create(obj: KubeObject): Promise<KubernetesObject | undefined> {
      try {
        return await api.create(obj, undefined, undefined, FIELD_MANAGER);
      } catch (err) {
        if (isAlreadyExists(err)) return undefined;
        throw err;
      }
    },
    async get(apiVersion, kind, namespace, name): Promise<KubernetesObject | undefined> {
      try {
        return await api.read({ apiVersion, kind, metadata: { name, namespace } });
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    },
    async list(apiVersion, kind, namespace, labelSelector): Promise<KubernetesObject[]> {
      const list = await api.list(
        apiVersion,
        kind,
        namespace,
        undefined,
        undefined,
        undefined,
        undefined,
        labelSelector,
      );
      return list.items;
    },
    async remove(apiVersion, kind, namespace, name): Promise<boolean> {
      try {
        await api.delete(
          { apiVersion, kind, metadata: { name, namespace } },
          undefined,
          undefined,
          undefined,
          undefined,
          'Foreground',
        );
        return true;
      } catch (err) {
        if (isNotFound(err)) return false;
        throw err;
      }
    },
  };
}
