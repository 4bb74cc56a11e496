/** A minimal in-memory add-on partner (test double for conformance tests): sync provisioning, id = uuid. */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readBody } from './http-util.js';

export interface FakePartnerOptions {
  id: string;
  password: string;
  plans: string[];
  /** Answer provisions with 202 and no config (async provisioning, §4.4). */
  async?: boolean;
  /** Misbehaviours to check that conformance catches them. */
  faults?: { acceptAnyAuth?: boolean; unprefixedConfig?: boolean; deleteTwiceFails?: boolean };
}

export interface FakePartner {
  url: string;
  close(): Promise<void>;
}

interface Reply {
  status: number;
  body?: unknown;
}

export async function startFakePartner(opts: FakePartnerOptions): Promise<FakePartner> {
  const resources = new Map<string, { plan: string }>();
  const expected = 'Basic ' + Buffer.from(`${opts.id}:${opts.password}`).toString('base64');
  const config = (uuid: string): Record<string, string> => ({
    [opts.faults?.unprefixedConfig ? 'REDIS_URL' : 'TLSREDIS_URL']: `rediss://${uuid}.example:6380`,
  });

  function answer(method: string, id: string | undefined, body: Record<string, unknown>): Reply {
    if (method === 'POST' && id === undefined) {
      const uuid = String(body.uuid);
      if (!opts.plans.includes(String(body.plan)))
        return { status: 422, body: { message: `Unknown plan ${String(body.plan)}` } };
      if (!resources.has(uuid)) resources.set(uuid, { plan: String(body.plan) });
      return opts.async
        ? { status: 202, body: { id: uuid, message: 'creating' } }
        : { status: 200, body: { id: uuid, config: config(uuid) } };
    }
    const r = id === undefined ? undefined : resources.get(id);
    if (method === 'PUT' && id !== undefined) {
      if (!r) return { status: 404, body: { message: 'not found' } };
      if (!opts.plans.includes(String(body.plan)))
        return { status: 422, body: { message: 'Unknown plan' } };
      r.plan = String(body.plan);
      return { status: 200, body: { config: config(id) } };
    }
    if (method === 'DELETE' && id !== undefined) {
      if (!r && opts.faults?.deleteTwiceFails) return { status: 500, body: { message: 'boom' } };
      resources.delete(id);
      return { status: 204 };
    }
    return { status: 404, body: { message: 'not found' } };
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await readBody(req);
    const m = /^\/heroku\/resources(?:\/([^/]+))?\/?$/.exec(req.url ?? '');
    let reply: Reply;
    if (!m) reply = { status: 404, body: { message: 'not found' } };
    else if (!opts.faults?.acceptAnyAuth && req.headers.authorization !== expected)
      reply = { status: 401, body: { message: 'unauthorized' } };
    else {
      try {
        reply = answer(
          req.method ?? 'GET',
          m[1],
          raw ? (JSON.parse(raw) as Record<string, unknown>) : {},
        );
      } catch {
        reply = { status: 400, body: { message: 'malformed JSON' } };
      }
    }
    res.writeHead(
      reply.status,
      reply.body === undefined ? {} : { 'Content-Type': 'application/json' },
    );
    res.end(reply.body === undefined ? '' : JSON.stringify(reply.body));
  }

  const server: Server = createServer((req, res) => void handle(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
