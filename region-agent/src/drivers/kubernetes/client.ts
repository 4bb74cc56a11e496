/** The only module that talks to @kubernetes/client-node: apply, get, list, delete. */
import http from 'node:http';
import https from 'node:https';
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

type RequestContext = Parameters<KubeConfig['applySecurityAuthentication']>[0];

const AGENT_OPTIONS = [
  'ca',
  'cert',
  'key',
  'pfx',
  'passphrase',
  'rejectUnauthorized',
  'servername',
];

/**
 * client-node 1.4 builds a new Agent for every request, so each API call paid a TCP (and
 * TLS) handshake with the apiserver: most of a provision's cost against a fast apiserver.
 * Here the config's requests share one keep-alive Agent made with the same options, replaced
 * when they change (a rotated client certificate). Proxy agents are left as client-node
 * makes them.
 */
function withKeepAlive(kc: KubeConfig): KubeConfig {
  let pooled: { key: string; agent: http.Agent } | undefined;
  const shared = (agent: http.Agent): http.Agent => {
    const Kind = agent.constructor as typeof https.Agent;
    if (Kind !== http.Agent && Kind !== https.Agent) return agent;
    const options = (agent as https.Agent).options;
    const o = options as Record<string, unknown>;
    const key = JSON.stringify([Kind === https.Agent, ...AGENT_OPTIONS.map((k) => o[k] ?? null)]);
    if (pooled?.key !== key) {
      pooled?.agent.destroy();
      pooled = { key, agent: new Kind({ ...options, keepAlive: true }) };
    }
    return pooled.agent;
  };
  const authenticate = kc.applySecurityAuthentication.bind(kc);
  kc.applySecurityAuthentication = async (context: RequestContext): Promise<void> => {
    await authenticate(context);
    const agent = context.getAgent();
    if (agent) context.setAgent(shared(agent));
  };
  return kc;
}

/** In-cluster config unless a kubeconfig path (or a loaded KubeConfig) is given. */
export function loadKubeConfig(kubeconfig?: string): KubeConfig {
  const kc = new KubeConfig();
  if (kubeconfig) kc.loadFromFile(kubeconfig);
  else kc.loadFromCluster();
  return kc;
}

export function createKubeApi(kc: KubeConfig): KubeApi {
  const api = KubernetesObjectApi.makeApiClient(withKeepAlive(kc));
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
