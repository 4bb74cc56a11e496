/** createHerokuSim: id.heroku.com, api.heroku.com and a logplex input on one node:http port. */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { herokuError, parseBody, readBody, sendJson } from './http-util.js';
import { LogplexParseError, parseLogplexBody } from './logplex.js';
import { handleToken, tokenParams, type SimResponse } from './oauth.js';
import { handlePlatformApi } from './platform-api.js';
import { SimState } from './state.js';
import { createHerokuDriver, type HerokuDriver } from './heroku-driver.js';
import { loadState, saveState } from './persist.js';
import { ssoPage } from './sso-page.js';
import type {
  HerokuSimOptions,
  Injection,
  LogLine,
  RecordedCall,
  SimAddon,
  SimApp,
} from './types.js';

export interface HerokuSim extends HerokuDriver {
  readonly url: string;
  /** Every request received, in arrival order, with the status answered. */
  readonly calls: RecordedCall[];
  close(): Promise<void>;
  inject(injection: Injection): void;
  clearInjections(): void;
  expireGrant(uuid: string): void;
  /** Makes the current access tokens (of one add-on, or all) expired. */
  expireAccessTokens(uuid?: string): void;
  logLines(uuid: string): LogLine[];
  addon(uuid: string): SimAddon | undefined;
  app(id: string): SimApp | undefined;
  /** How many times `POST /addons/{uuid}/actions/provision` was called. */
  provisionActionCount(uuid: string): number;
  /** Sets what is left of one add-on token's request budget (0 = its next call gets a 429). */
  setRateLimitRemaining(uuid: string, remaining: number): void;
}

interface ActiveInjection extends Injection {
  remaining: number;
}

export async function createHerokuSim(opts: HerokuSimOptions = {}): Promise<HerokuSim> {
  const now = opts.now ?? Date.now;
  const clientSecret = opts.clientSecret ?? 'dev-oauth-client-secret';
  const state = new SimState(now, opts.accessTokenTtlS ?? 28800, opts.grantTtlS ?? 300, {
    capacity: opts.rateLimit?.capacity ?? 4500,
    refillPerMinute: opts.rateLimit?.refillPerMinute ?? 75,
    retryAfterS: opts.rateLimit?.retryAfterS,
  });
  if (opts.stateFile) loadState(state, opts.stateFile);
  const persist = (): void => {
    if (opts.stateFile) saveState(state, opts.stateFile);
  };
  const calls: RecordedCall[] = [];
  const injections: ActiveInjection[] = [];

  const server: Server = createServer((req, res) => {
    void handle(req, res);
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const u = new URL(req.url ?? '/', 'http://sim.invalid');
    const method = (req.method ?? 'GET').toUpperCase();
    let body: unknown;
    let answer: SimResponse;
    try {
      body = parseBody(req.headers['content-type'], await readBody(req));
      answer = await answerFor(method, u, req, body);
    } catch (err) {
      answer = {
        status: 500,
        body: herokuError(500, err instanceof Error ? err.message : String(err)),
      };
    }
    calls.push({
      method,
      path: u.pathname,
      query: Object.fromEntries(u.searchParams),
      headers: req.headers,
      body,
      status: answer.status,
      time: new Date(now()),
    });
    persist();
    if (answer.html !== undefined) {
      res.writeHead(answer.status, {
        'Content-Type': 'text/html; charset=utf-8',
        'Cache-Control': 'no-store',
      });
      res.end(answer.html);
      return;
    }
    sendJson(res, answer.status, answer.body, { 'RateLimit-Remaining': '4500', ...answer.headers });
  }

  async function answerFor(
    method: string,
    u: URL,
    req: IncomingMessage,
    body: unknown,
  ): Promise<SimResponse> {
    const injected = takeInjection(method, u.pathname);
    if (injected?.delayMs) await sleep(injected.delayMs);
    if (injected?.status !== undefined) {
      return {
        status: injected.status,
        body: injected.body ?? herokuError(injected.status),
        headers: injected.headers ?? {},
      };
    }
    const answer = route(method, u, req, body);
    return injected?.headers
      ? { ...answer, headers: { ...answer.headers, ...injected.headers } }
      : answer;
  }

  function takeInjection(method: string, path: string): ActiveInjection | undefined {
    const i = injections.findIndex(
      (x) =>
        x.remaining > 0 && (!x.method || x.method.toUpperCase() === method) && x.path.test(path),
    );
    if (i < 0) return undefined;
    const inj = injections[i]!;
    inj.remaining -= 1;
    if (inj.remaining <= 0) injections.splice(i, 1);
    return inj;
  }

  function route(method: string, u: URL, req: IncomingMessage, body: unknown): SimResponse {
    if (u.pathname === '/oauth/token') {
      if (method !== 'POST') return { status: 405, body: herokuError(405, 'Use POST.') };
      return handleToken(state, clientSecret, tokenParams(u.searchParams, body));
    }
    const sso = /^\/sso\/([^/]+)$/.exec(u.pathname);
    if (sso && method === 'GET')
      return ssoPage(state, driver, opts.sso, decodeURIComponent(sso[1]!), u.searchParams);
    const logs = /^\/logs(?:\/([^/]+))?$/.exec(u.pathname);
    if (logs && method === 'POST')
      return acceptLogs(logs[1] ?? basicPassword(req.headers.authorization), req, body);
    return handlePlatformApi(state, method, u.pathname, req.headers, body);
  }

  /** Real log_input_urls carry the token as userinfo (`https://token:t.…@host/logs`), i.e. Basic auth. */
  function basicPassword(header: string | undefined): string {
    const m = /^Basic\s+(\S+)$/i.exec(header ?? '');
    const decoded = m ? Buffer.from(m[1]!, 'base64').toString('utf8') : '';
    return decoded.slice(decoded.indexOf(':') + 1);
  }

  function acceptLogs(token: string, req: IncomingMessage, body: unknown): SimResponse {
    const addonId = state.addonByLogToken.get(decodeURIComponent(token));
    if (!addonId) return { status: 404, body: herokuError(404, 'Unknown log input token.') };
    if (!/^application\/logplex-1\b/i.test(req.headers['content-type'] ?? '')) {
      return { status: 400, body: herokuError(400, 'Content-Type must be application/logplex-1.') };
    }
    try {
      const lines = parseLogplexBody(typeof body === 'string' ? body : '');
      state.logs.get(addonId)?.push(...lines);
      return { status: 204 };
    } catch (err) {
      if (err instanceof LogplexParseError)
        return { status: 400, body: herokuError(400, err.message) };
      throw err;
    }
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const url = `http://${addr.address.includes(':') ? `[${addr.address}]` : addr.address}:${addr.port}`;
  const driver = persisting(createHerokuDriver(state, url, now), persist);

  return {
    ...driver,
    url,
    calls,
    close: () =>
      new Promise<void>((resolve, reject) => {
        persist();
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
    inject: (injection) => {
      injections.push({ ...injection, remaining: injection.times ?? 1 });
    },
    clearInjections: () => {
      injections.length = 0;
    },
    expireGrant: (uuid) => state.expireGrant(uuid),
    expireAccessTokens: (uuid) => state.expireAccessTokens(uuid),
    logLines: (uuid) => [...(state.logs.get(uuid) ?? [])],
    addon: (uuid) => state.addons.get(uuid),
    app: (id) => state.apps.get(id),
    provisionActionCount: (uuid) => state.addons.get(uuid)?.provisionActionCalls ?? 0,
    setRateLimitRemaining: (uuid, remaining) => state.setRateLimitRemaining(uuid, remaining),
  };
}

/** The driver with the state written out after each change it makes. */
function persisting(driver: HerokuDriver, persist: () => void): HerokuDriver {
  return {
    ...driver,
    createAddon: (input) => {
      const body = driver.createAddon(input);
      persist();
      return body;
    },
    provision: (cpUrl, body, auth) => driver.provision(cpUrl, body, auth).finally(persist),
    changePlan: (cpUrl, uuid, plan, auth) =>
      driver.changePlan(cpUrl, uuid, plan, auth).finally(persist),
    deprovision: (cpUrl, uuid, auth) => driver.deprovision(cpUrl, uuid, auth).finally(persist),
  };
}
