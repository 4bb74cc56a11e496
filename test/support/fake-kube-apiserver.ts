/**
 * A fake kube-apiserver over HTTP for the kubernetes driver: discovery, server-side apply
 * (application/apply-patch+yaml, fieldManager required), get, list with label selectors,
 * delete, Status errors. Applied objects are validated against the Kubernetes OpenAPI
 * schema (kubernetes-models) and rejected with 422 like a real API server would.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { StatefulSet } from 'kubernetes-models/apps/v1';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { Secret, Service } from 'kubernetes-models/v1';

type Obj = { apiVersion: string; kind: string; metadata: Record<string, unknown> & { name: string; labels?: Record<string, string> }; [k: string]: unknown };
type Model = new (data: never) => { validate(): void };

interface ResourceType {
  group: string;
  version: string;
  kind: string;
  resource: string;
  model: Model;
}

const TYPES: ResourceType[] = [
  { group: '', version: 'v1', kind: 'Secret', resource: 'secrets', model: Secret },
  { group: '', version: 'v1', kind: 'Service', resource: 'services', model: Service },
  { group: 'apps', version: 'v1', kind: 'StatefulSet', resource: 'statefulsets', model: StatefulSet },
  { group: 'networking.k8s.io', version: 'v1', kind: 'NetworkPolicy', resource: 'networkpolicies', model: NetworkPolicy },
  { group: 'policy', version: 'v1', kind: 'PodDisruptionBudget', resource: 'poddisruptionbudgets', model: PodDisruptionBudget },
];

export interface KubeCallRecord {
  method: string;
  group: string;
  resource: string;
  verb: string;
  contentType: string | undefined;
  fieldManager: string | undefined;
}

export interface FakeKubeApiServer {
  url: string;
  calls: KubeCallRecord[];
  /** Stored objects by "resource/namespace/name". */
  objects: Map<string, Obj>;
  get(resource: string, namespace: string, name: string): Obj | undefined;
  stop(): Promise<void>;
}

function status(res: ServerResponse, code: number, reason: string, message: string): void {
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: code < 300 ? 'Success' : 'Failure', reason, message, code }));
}

function json(res: ServerResponse, body: unknown): void {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function gv(t: ResourceType): string {
  return t.group ? `${t.group}/${t.version}` : t.version;
}

function discovery(path: string): unknown {
  const match = TYPES.filter((t) => (t.group ? `/apis/${t.group}/${t.version}` : `/api/${t.version}`) === path);
  if (match.length === 0) return undefined;
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: gv(match[0]!),
    resources: match.map((t) => ({ name: t.resource, singularName: '', namespaced: true, kind: t.kind, verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'] })),
  };
}

const ROUTE = /^\/(?:api\/(v1)|apis\/([^/]+)\/([^/]+))\/namespaces\/([^/]+)\/([^/]+)(?:\/([^/]+))?$/;

function matchesSelector(obj: Obj, selector: string | null): boolean {
  if (!selector) return true;
  const labels = obj.metadata.labels ?? {};
  return selector.split(',').every((term) => {
    const [k, v] = term.split('=');
    return k !== undefined && labels[k] === v;
  });
}

/** What the API server does on write: Secret stringData → data, StatefulSet status, metadata. */
function materialize(t: ResourceType, applied: Obj, previous: Obj | undefined, namespace: string): Obj {
  const next: Obj = { ...applied, metadata: { ...applied.metadata, namespace } };
  if (t.kind === 'Secret' && applied.stringData) {
    const data: Record<string, string> = { ...((applied.data as Record<string, string>) ?? {}) };
    for (const [k, v] of Object.entries(applied.stringData as Record<string, string>)) data[k] = Buffer.from(v).toString('base64');
    next.data = data;
    delete next.stringData;
  }
  const changed = JSON.stringify(previous && { ...previous, metadata: undefined, status: undefined }) !== JSON.stringify({ ...next, metadata: undefined });
  const prevMeta: Record<string, unknown> = previous?.metadata ?? {};
  const generation = ((prevMeta.generation as number | undefined) ?? 0) + (changed ? 1 : 0);
  next.metadata = { ...next.metadata, uid: prevMeta.uid ?? randomUUID(), generation, creationTimestamp: prevMeta.creationTimestamp ?? new Date().toISOString() };
  if (t.kind === 'StatefulSet') next.status = { replicas: 1, readyReplicas: 1, observedGeneration: generation };
  return next;
}

interface Problem {
  code: number;
  reason: string;
  message: string;
}

/** Checks an apply request the way the API server does; the parsed object when it passes. */
function applyProblem(t: ResourceType, name: string, namespace: string, contentType: string | undefined, fieldManager: string | undefined, raw: string): Obj | Problem {
  const bad = (message: string): Problem => ({ code: 400, reason: 'BadRequest', message });
  if (contentType !== 'application/apply-patch+yaml') return { code: 415, reason: 'UnsupportedMediaType', message: `unsupported patch type ${contentType}` };
  if (!fieldManager) return bad('fieldManager is required for apply patch');
  let body: Obj;
  try {
    body = JSON.parse(raw) as Obj;
  } catch {
    return bad('body is not valid YAML/JSON');
  }
  if (body.apiVersion !== gv(t) || body.kind !== t.kind) return bad('apiVersion/kind does not match the URL');
  if (body.metadata?.name !== name) return bad('metadata.name does not match the URL');
  if (body.metadata.namespace && body.metadata.namespace !== namespace) {
    return bad('the namespace of the object does not match the namespace on the request');
  }
  try {
    new t.model(body as never).validate();
  } catch (err) {
    return { code: 422, reason: 'Invalid', message: `${t.kind} "${name}" is invalid: ${(err as Error).message}` };
  }
  return body;
}

interface Route {
  t: ResourceType;
  group: string;
  namespace: string;
  name: string | undefined;
  verb: string;
  contentType: string | undefined;
  fieldManager: string | undefined;
}

function parseRoute(req: IncomingMessage, url: URL): Route | undefined {
  const m = ROUTE.exec(url.pathname);
  if (!m) return undefined;
  const group = m[2] ?? '';
  const version = m[1] ?? m[3];
  const t = TYPES.find((x) => x.group === group && x.version === version && x.resource === m[5]);
  if (!t) return undefined;
  const name = m[6];
  const method = req.method ?? '';
  const verb = method === 'GET' ? (name ? 'get' : 'list') : method.toLowerCase();
  const fieldManager = url.searchParams.get('fieldManager') ?? undefined;
  return { t, group, namespace: m[4] ?? '', name, verb, contentType: req.headers['content-type'], fieldManager };
}

export async function startFakeKubeApiServer(): Promise<FakeKubeApiServer> {
  const objects = new Map<string, Obj>();
  const calls: KubeCallRecord[] = [];
  let rv = 1;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');
    const disc = req.method === 'GET' ? discovery(url.pathname) : undefined;
    if (disc) return json(res, disc);
    const route = parseRoute(req, url);
    if (!route) return status(res, 404, 'NotFound', `the server could not find the requested resource ${url.pathname}`);
    const { t, group, namespace, name, verb, contentType, fieldManager } = route;
    const key = `${t.resource}/${namespace}/${name}`;
    calls.push({ method: req.method ?? '', group, resource: t.resource, verb, contentType, fieldManager });

    if (verb === 'list') {
      const items = [...objects.entries()]
        .filter(([k, o]) => k.startsWith(`${t.resource}/${namespace}/`) && matchesSelector(o, url.searchParams.get('labelSelector')))
        .map(([, o]) => o);
      return json(res, { kind: `${t.kind}List`, apiVersion: gv(t), metadata: { resourceVersion: String(rv) }, items });
    }
    if (!name) return status(res, 405, 'MethodNotAllowed', 'method not allowed on a collection');
    const existing = objects.get(key);
    if (verb === 'get') return existing ? json(res, existing) : status(res, 404, 'NotFound', `${t.resource} "${name}" not found`);
    if (verb === 'delete') {
      if (!existing) return status(res, 404, 'NotFound', `${t.resource} "${name}" not found`);
      objects.delete(key);
      return status(res, 200, '', `${t.resource} "${name}" deleted`);
    }
    if (verb !== 'patch') return status(res, 405, 'MethodNotAllowed', `${req.method} not supported by the fake`);
    const problem = applyProblem(t, name, namespace, contentType, fieldManager, await readBody(req));
    if (typeof problem !== 'object' || 'code' in problem) {
      const p = problem as { code: number; reason: string; message: string };
      return status(res, p.code, p.reason, p.message);
    }
    const stored = materialize(t, problem, existing, namespace);
    stored.metadata.resourceVersion = String(++rv);
    objects.set(key, stored);
    return json(res, stored);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => status(res, 500, 'InternalError', (err as Error).message));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    objects,
    get: (resource, namespace, name) => objects.get(`${resource}/${namespace}/${name}`),
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
