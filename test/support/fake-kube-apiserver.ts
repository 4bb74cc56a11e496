/**
 * A fake kube-apiserver over HTTP for the kubernetes driver, driven by the real
 * @kubernetes/client-node. It speaks the REST protocol for the kinds the driver uses:
 * discovery, create (POST, 409 AlreadyExists), get, list with label selectors, server-side
 * apply (application/apply-patch+yaml, fieldManager required, 409 Conflict on a stale
 * metadata.resourceVersion), delete (Foreground deletion can be made to take time), and
 * `Status` errors. Applied objects are validated against the Kubernetes OpenAPI schema
 * (kubernetes-models; @kubernetes-models/cert-manager for the Certificate CRD) and rejected with
 * 422 like a real API server would.
 *
 * Test controls: inject errors and latency, keep StatefulSets unready until `markReady`,
 * and observe every write (`onWrite`), which is how `fake-kubelet.ts` runs real pods.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Certificate } from '@kubernetes-models/cert-manager/cert-manager.io/v1/Certificate';
import { StatefulSet } from 'kubernetes-models/apps/v1';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, Secret, Service } from 'kubernetes-models/v1';

export type Obj = {
  apiVersion: string;
  kind: string;
  metadata: Record<string, unknown> & {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    resourceVersion?: string;
  };
  [k: string]: unknown;
};
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
  { group: '', version: 'v1', kind: 'ConfigMap', resource: 'configmaps', model: ConfigMap },
  {
    group: 'apps',
    version: 'v1',
    kind: 'StatefulSet',
    resource: 'statefulsets',
    model: StatefulSet,
  },
  {
    group: 'networking.k8s.io',
    version: 'v1',
    kind: 'NetworkPolicy',
    resource: 'networkpolicies',
    model: NetworkPolicy,
  },
  {
    group: 'policy',
    version: 'v1',
    kind: 'PodDisruptionBudget',
    resource: 'poddisruptionbudgets',
    model: PodDisruptionBudget,
  },
  // The cert-manager CRD, validated against its own OpenAPI schema.
  {
    group: 'cert-manager.io',
    version: 'v1',
    kind: 'Certificate',
    resource: 'certificates',
    model: Certificate,
  },
];

export interface KubeCallRecord {
  method: string;
  group: string;
  resource: string;
  verb: string;
  name: string | undefined;
  contentType: string | undefined;
  fieldManager: string | undefined;
}

/** An error the fake answers instead of doing the call, `times` times (default 1). */
export interface InjectedFault {
  verb?: string;
  resource?: string;
  name?: string;
  code: number;
  message?: string;
  times?: number;
}

export type WriteEvent = {
  type: 'applied' | 'created' | 'deleted';
  resource: string;
  namespace: string;
  obj: Obj;
};

export interface FakeKubeApiServerOptions {
  /** `auto` (default): StatefulSets are Ready at once. `manual`: only after `markReady`. */
  readiness?: 'auto' | 'manual';
  /** Added to every request. */
  latencyMs?: number;
  /** Foreground deletion: the object stays (with deletionTimestamp) this long. */
  deletionDelayMs?: number;
  /** `auto` (default): a LoadBalancer Service gets an address at once; `pending`: never. */
  loadBalancers?: 'auto' | 'pending';
}

export interface FakeKubeApiServer {
  url: string;
  calls: KubeCallRecord[];
  /** Stored objects by "resource/namespace/name". */
  objects: Map<string, Obj>;
  get(resource: string, namespace: string, name: string): Obj | undefined;
  /** Queue an error for matching calls. */
  fail(fault: InjectedFault): void;
  /** Marks a StatefulSet's pod Ready at its current revision (manual readiness). */
  markReady(namespace: string, name: string): void;
  /** Marks it not Ready (the pod restarted or is failing its probe). */
  markUnready(namespace: string, name: string): void;
  /** Called after every stored change. */
  onWrite(listener: (e: WriteEvent) => void): void;
  /** Stores an object as a controller would (no validation, no call record). */
  put(resource: string, obj: Obj): Obj;
  stop(): Promise<void>;
}

const REASONS: Record<number, string> = {
  400: 'BadRequest',
  403: 'Forbidden',
  404: 'NotFound',
  409: 'Conflict',
  410: 'Gone',
  422: 'Invalid',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
  504: 'Timeout',
};

function status(res: ServerResponse, code: number, reason: string, message: string): void {
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(
    JSON.stringify({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: code < 300 ? 'Success' : 'Failure',
      reason,
      message,
      code,
    }),
  );
}

function json(res: ServerResponse, body: unknown, code = 200): void {
  res.writeHead(code, { 'content-type': 'application/json' });
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
  const match = TYPES.filter(
    (t) => (t.group ? `/apis/${t.group}/${t.version}` : `/api/${t.version}`) === path,
  );
  if (match.length === 0) return undefined;
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: gv(match[0]!),
    resources: match.map((t) => ({
      name: t.resource,
      singularName: '',
      namespaced: true,
      kind: t.kind,
      verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'],
    })),
  };
}

const ROUTE =
  /^\/(?:api\/(v1)|apis\/([^/]+)\/([^/]+))\/namespaces\/([^/]+)\/([^/]+)(?:\/([^/]+))?$/;

/** Equality-based selectors (`a=b,c=d`, also `a==b` and `a!=b`), as the driver uses them. */
function matchesSelector(obj: Obj, selector: string | null): boolean {
  if (!selector) return true;
  const labels = obj.metadata.labels ?? {};
  return selector.split(',').every((term) => {
    const neq = /^([^!=]+)!=(.*)$/.exec(term);
    if (neq) return labels[neq[1]!] !== neq[2];
    const eq = /^([^!=]+)==?(.*)$/.exec(term);
    return eq !== null && labels[eq[1]!] === eq[2];
  });
}

const sansMeta = (o: Obj | undefined): unknown =>
  o && {
    ...o,
    metadata: {
      ...o.metadata,
      resourceVersion: undefined,
      generation: undefined,
      uid: undefined,
      creationTimestamp: undefined,
      namespace: undefined,
    },
    status: undefined,
  };

/** What the API server does on write: Secret stringData → data, metadata.generation, uid. */
function materialize(
  t: ResourceType,
  applied: Obj,
  previous: Obj | undefined,
  namespace: string,
): Obj {
  const next: Obj = { ...applied, metadata: { ...applied.metadata, namespace } };
  delete next.metadata.resourceVersion;
  if (t.kind === 'Secret' && applied.stringData) {
    const data: Record<string, string> = { ...((applied.data as Record<string, string>) ?? {}) };
    for (const [k, v] of Object.entries(applied.stringData as Record<string, string>))
      data[k] = Buffer.from(v).toString('base64');
    next.data = data;
    delete next.stringData;
  }
  const changed = JSON.stringify(sansMeta(previous)) !== JSON.stringify(sansMeta(next));
  const prevMeta: Record<string, unknown> = previous?.metadata ?? {};
  const generation = ((prevMeta.generation as number | undefined) ?? 0) + (changed ? 1 : 0);
  next.metadata = {
    ...next.metadata,
    uid: prevMeta.uid ?? randomUUID(),
    generation,
    creationTimestamp: prevMeta.creationTimestamp ?? new Date().toISOString(),
  };
  if (previous?.status !== undefined) next.status = previous.status;
  return next;
}

interface Problem {
  code: number;
  reason: string;
  message: string;
}

const isProblem = (x: Obj | Problem): x is Problem =>
  typeof (x as Problem).code === 'number' && typeof (x as Problem).reason === 'string';

/** Checks a write the way the API server does; the parsed object when it passes. */
function writeProblem(route: Route, raw: string): Obj | Problem {
  const { t, name, namespace, contentType, fieldManager, verb } = route;
  const bad = (message: string): Problem => ({ code: 400, reason: 'BadRequest', message });
  if (verb === 'patch') {
    if (contentType !== 'application/apply-patch+yaml')
      return {
        code: 415,
        reason: 'UnsupportedMediaType',
        message: `unsupported patch type ${contentType}`,
      };
    if (!fieldManager) return bad('fieldManager is required for apply patch');
  }
  let body: Obj;
  try {
    body = JSON.parse(raw) as Obj;
  } catch {
    return bad('body is not valid YAML/JSON');
  }
  if (body.apiVersion !== gv(t) || body.kind !== t.kind)
    return bad('apiVersion/kind does not match the URL');
  if (verb === 'patch' && body.metadata?.name !== name)
    return bad('metadata.name does not match the URL');
  if (!body.metadata?.name)
    return {
      code: 422,
      reason: 'Invalid',
      message: `${t.kind} is invalid: metadata.name: Required value`,
    };
  if (body.metadata.namespace && body.metadata.namespace !== namespace) {
    return bad('the namespace of the object does not match the namespace on the request');
  }
  try {
    new t.model(body as never).validate();
  } catch (err) {
    return {
      code: 422,
      reason: 'Invalid',
      message: `${t.kind} "${body.metadata.name}" is invalid: ${(err as Error).message}`,
    };
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
  const verbs: Record<string, string> = {
    GET: name ? 'get' : 'list',
    POST: 'create',
    PATCH: 'patch',
    DELETE: 'delete',
    PUT: 'update',
  };
  const verb = verbs[method] ?? method.toLowerCase();
  const fieldManager = url.searchParams.get('fieldManager') ?? undefined;
  return {
    t,
    group,
    namespace: m[4] ?? '',
    name,
    verb,
    contentType: req.headers['content-type']?.split(';')[0],
    fieldManager,
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function startFakeKubeApiServer(
  options: FakeKubeApiServerOptions = {},
): Promise<FakeKubeApiServer> {
  const objects = new Map<string, Obj>();
  const calls: KubeCallRecord[] = [];
  const faults: InjectedFault[] = [];
  const listeners: Array<(e: WriteEvent) => void> = [];
  const readiness = options.readiness ?? 'auto';
  let rv = 1;

  function emit(e: WriteEvent): void {
    for (const l of listeners) l(e);
  }

  function store(resource: string, namespace: string, obj: Obj): Obj {
    obj.metadata.resourceVersion = String(++rv);
    objects.set(`${resource}/${namespace}/${obj.metadata.name}`, obj);
    return obj;
  }

  /** The cloud controller's view: a LoadBalancer Service gets an external address. */
  function serviceStatus(obj: Obj): void {
    const type = (obj.spec as { type?: string }).type;
    const ingress =
      type === 'LoadBalancer' && options.loadBalancers !== 'pending'
        ? [{ ip: '203.0.113.10' }]
        : [];
    obj.status = { loadBalancer: { ingress } };
  }

  /** The StatefulSet controller's view: a template change is a new revision, not yet Ready. */
  function statefulSetStatus(obj: Obj, previous: Obj | undefined): void {
    const template = JSON.stringify((obj.spec as Record<string, unknown>).template);
    const revision = `${obj.metadata.name}-${createHash('sha256').update(template).digest('hex').slice(0, 10)}`;
    const prev = previous?.status as Record<string, unknown> | undefined;
    const sameRevision = prev?.updateRevision === revision;
    const ready = readiness === 'auto' || (sameRevision && prev?.readyReplicas === 1);
    obj.status = {
      replicas: 1,
      observedGeneration: obj.metadata.generation,
      updateRevision: revision,
      currentRevision: ready ? revision : (prev?.currentRevision ?? revision),
      readyReplicas: ready ? 1 : 0,
      // The controller replaced the pod with one at the new revision; Ready is the kubelet's say.
      updatedReplicas: 1,
    };
  }

  function setReady(namespace: string, name: string, ready: boolean): void {
    const key = `statefulsets/${namespace}/${name}`;
    const obj = objects.get(key);
    if (!obj) throw new Error(`no StatefulSet ${namespace}/${name}`);
    const st = obj.status as Record<string, unknown> | undefined;
    obj.status = {
      ...st,
      readyReplicas: ready ? 1 : 0,
      ...(ready ? { currentRevision: st?.updateRevision } : {}),
    };
    store('statefulsets', namespace, obj);
  }

  function takeFault(route: Route): InjectedFault | undefined {
    const i = faults.findIndex(
      (f) =>
        (!f.verb || f.verb === route.verb) &&
        (!f.resource || f.resource === route.t.resource) &&
        (!f.name || f.name === route.name),
    );
    if (i < 0) return undefined;
    const fault = faults[i]!;
    fault.times = (fault.times ?? 1) - 1;
    if (fault.times <= 0) faults.splice(i, 1);
    return fault;
  }

  function remove(route: Route, key: string, existing: Obj): void {
    const finish = (): void => {
      if (objects.get(key) !== existing) return;
      objects.delete(key);
      emit({
        type: 'deleted',
        resource: route.t.resource,
        namespace: route.namespace,
        obj: existing,
      });
    };
    if (options.deletionDelayMs) {
      existing.metadata.deletionTimestamp = new Date().toISOString();
      existing.metadata.finalizers = ['foregroundDeletion'];
      setTimeout(finish, options.deletionDelayMs).unref();
    } else {
      finish();
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (options.latencyMs) await sleep(options.latencyMs);
    const url = new URL(req.url ?? '/', 'http://fake');
    const disc = req.method === 'GET' ? discovery(url.pathname) : undefined;
    if (disc) return json(res, disc);
    const route = parseRoute(req, url);
    if (!route)
      return status(
        res,
        404,
        'NotFound',
        `the server could not find the requested resource ${url.pathname}`,
      );
    const { t, group, name, verb, contentType, fieldManager } = route;
    calls.push({
      method: req.method ?? '',
      group,
      resource: t.resource,
      verb,
      name,
      contentType,
      fieldManager,
    });
    const raw = await readBody(req);
    const fault = takeFault(route);
    if (fault)
      return status(
        res,
        fault.code,
        REASONS[fault.code] ?? 'Unknown',
        fault.message ?? `injected ${fault.code} for ${verb} ${t.resource}`,
      );

    if (verb === 'list') return list(route, url, res);
    if (verb === 'create') return create(route, raw, res);
    if (!name) return status(res, 405, 'MethodNotAllowed', 'method not allowed on a collection');
    return byName(route, name, raw, res);
  }

  function list(route: Route, url: URL, res: ServerResponse): void {
    const { t, namespace } = route;
    const items = [...objects.entries()]
      .filter(
        ([k, o]) =>
          k.startsWith(`${t.resource}/${namespace}/`) &&
          matchesSelector(o, url.searchParams.get('labelSelector')),
      )
      .map(([, o]) => o);
    json(res, {
      kind: `${t.kind}List`,
      apiVersion: gv(t),
      metadata: { resourceVersion: String(rv) },
      items,
    });
  }

  function create(route: Route, raw: string, res: ServerResponse): void {
    const { t, namespace } = route;
    if (route.name)
      return status(res, 405, 'MethodNotAllowed', 'POST is only allowed on a collection');
    const body = writeProblem(route, raw);
    if (isProblem(body)) return status(res, body.code, body.reason, body.message);
    const key = `${t.resource}/${namespace}/${body.metadata.name}`;
    if (objects.has(key))
      return status(
        res,
        409,
        'AlreadyExists',
        `${t.resource} "${body.metadata.name}" already exists`,
      );
    const created = store(t.resource, namespace, materialize(t, body, undefined, namespace));
    if (t.kind === 'StatefulSet') statefulSetStatus(created, undefined);
    if (t.kind === 'Service') serviceStatus(created);
    emit({ type: 'created', resource: t.resource, namespace, obj: created });
    json(res, created, 201);
  }

  function byName(route: Route, name: string, raw: string, res: ServerResponse): void {
    const { t, namespace, verb } = route;
    const key = `${t.resource}/${namespace}/${name}`;
    const existing = objects.get(key);
    if (verb === 'get')
      return existing
        ? json(res, existing)
        : status(res, 404, 'NotFound', `${t.resource} "${name}" not found`);
    if (verb === 'delete') {
      if (!existing) return status(res, 404, 'NotFound', `${t.resource} "${name}" not found`);
      if (!existing.metadata.deletionTimestamp) remove(route, key, existing);
      return json(res, {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Success',
        details: { name, kind: t.resource, uid: existing.metadata.uid },
      });
    }
    if (verb !== 'patch')
      return status(res, 405, 'MethodNotAllowed', `${verb} not supported by the fake`);
    const body = writeProblem(route, raw);
    if (isProblem(body)) return status(res, body.code, body.reason, body.message);
    if (
      body.metadata.resourceVersion !== undefined &&
      body.metadata.resourceVersion !== existing?.metadata.resourceVersion
    ) {
      return status(
        res,
        409,
        'Conflict',
        `Operation cannot be fulfilled on ${t.resource} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
      );
    }
    if (existing?.metadata.deletionTimestamp)
      return status(res, 409, 'Conflict', `${t.resource} "${name}" is being deleted`);
    const stored = materialize(t, body, existing, namespace);
    if (t.kind === 'StatefulSet') statefulSetStatus(stored, existing);
    if (t.kind === 'Service') serviceStatus(stored);
    store(t.resource, namespace, stored);
    emit({ type: 'applied', resource: t.resource, namespace, obj: stored });
    json(res, stored, existing ? 200 : 201);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) =>
      status(res, 500, 'InternalError', (err as Error).message),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    objects,
    get: (resource, namespace, name) => objects.get(`${resource}/${namespace}/${name}`),
    fail: (fault) => faults.push({ ...fault }),
    markReady: (namespace, name) => setReady(namespace, name, true),
    markUnready: (namespace, name) => setReady(namespace, name, false),
    onWrite: (listener) => listeners.push(listener),
    put: (resource, obj) => {
      const namespace = obj.metadata.namespace ?? 'default';
      const stored = store(resource, namespace, obj);
      emit({ type: 'applied', resource, namespace, obj: stored });
      return stored;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
