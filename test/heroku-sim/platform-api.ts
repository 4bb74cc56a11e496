/** api.heroku.com: the Platform API endpoints a partner's resource token may use (§4.3–§4.6). */
import type { IncomingHttpHeaders } from 'node:http';
import { herokuError, invalidJson } from './http-util.js';
import type { SimResponse } from './oauth.js';
import type { SimState } from './state.js';
import type { SimAddon, SimApp } from './types.js';

export const API_ACCEPT = 'application/vnd.heroku+json; version=3';
export const SERVICE_NAME = 'tlsredis';

const ACCEPT_RE = /application\/vnd\.heroku\+json;\s*version=3(?![.\d])/i;

export function addonJson(addon: SimAddon, app: SimApp | undefined): Record<string, unknown> {
  return {
    id: addon.id,
    name: addon.name,
    state: addon.state,
    plan: { id: `plan-${SERVICE_NAME}-${addon.plan}`, name: `${SERVICE_NAME}:${addon.plan}` },
    addon_service: { id: `service-${SERVICE_NAME}`, name: SERVICE_NAME },
    app: app ? { id: app.id, name: app.name } : null,
    config_vars: [...addon.config.keys()],
    provider_id: addon.providerId,
    web_url: `https://addons-sso.heroku.com/apps/${app?.id ?? ''}/addons/${addon.id}`,
  };
}

export function appJson(app: SimApp): Record<string, unknown> {
  return {
    id: app.id,
    name: app.name,
    region: { id: `region-${app.region}`, name: app.region },
    space: app.privateSpace
      ? { id: `space-${app.id}`, name: `${app.name}-space`, shield: false }
      : null,
    generation: { id: 'generation-cedar', name: 'cedar' },
  };
}

function configArray(addon: SimAddon): Array<{ name: string; value: string }> {
  return [...addon.config].map(([name, value]) => ({ name, value }));
}

/** 400 for a missing version, 401 for a bad token; resolves the add-on the token is scoped to. */
function authorize(
  state: SimState,
  headers: IncomingHttpHeaders,
): SimResponse | { addonId: string } {
  if (!ACCEPT_RE.test(headers.accept ?? '')) {
    return {
      status: 400,
      body: herokuError(
        400,
        `Please specify a version along with Heroku's API MIME type. For example, \`Accept: ${API_ACCEPT}\`.`,
      ),
    };
  }
  const m = /^Bearer\s+(\S+)$/i.exec(headers.authorization ?? '');
  if (!m) return { status: 401, body: herokuError(401, 'No credentials provided.') };
  const check = state.checkAccessToken(m[1]!);
  if (!check.ok)
    return {
      status: 401,
      body: herokuError(
        401,
        check.reason === 'expired'
          ? 'Your access token has expired.'
          : 'Invalid credentials provided.',
      ),
    };
  return { addonId: check.addonId };
}

function forbidden(): SimResponse {
  return {
    status: 403,
    body: herokuError(403, 'This OAuth authorization does not have access to that resource.'),
  };
}

export function handlePlatformApi(
  state: SimState,
  method: string,
  path: string,
  headers: IncomingHttpHeaders,
  body: unknown,
): SimResponse {
  const auth = authorize(state, headers);
  if ('status' in auth) return auth;
  const budget = state.spendRequest(auth.addonId);
  if (!budget.ok) return rateLimited(state);
  const answer = route(state, auth.addonId, method, path, body);
  return {
    ...answer,
    headers: { ...answer.headers, 'RateLimit-Remaining': String(budget.remaining) },
  };
}

/** Heroku's answer once a token's budget is spent: 429 `rate_limit`, nothing left. */
function rateLimited(state: SimState): SimResponse {
  const { retryAfterS } = state.rateLimit;
  return {
    status: 429,
    body: herokuError(429),
    headers: {
      'RateLimit-Remaining': '0',
      ...(retryAfterS === undefined ? {} : { 'Retry-After': String(retryAfterS) }),
    },
  };
}

function route(
  state: SimState,
  addonId: string,
  method: string,
  path: string,
  body: unknown,
): SimResponse {
  const addonRoute =
    /^\/addons\/([^/]+)(\/config|\/actions\/provision|\/actions\/deprovision)?$/.exec(path);
  if (addonRoute) {
    const ref = decodeURIComponent(addonRoute[1]!);
    // Like the real API, an add-on is addressed by id or by name.
    const addon = state.addons.get(ref) ?? [...state.addons.values()].find((a) => a.name === ref);
    if (!addon) return { status: 404, body: herokuError(404, "Couldn't find that add-on.") };
    if (addon.id !== addonId) return forbidden();
    return addonAction(state, addon, method, addonRoute[2] ?? '', body);
  }
  const appRoute = /^\/apps\/([^/]+)$/.exec(path);
  if (appRoute && method === 'GET') {
    // By id from the map; by name, as the real API also allows, the slow way.
    const ref = appRoute[1]!;
    const app = state.apps.get(ref) ?? [...state.apps.values()].find((a) => a.name === ref);
    if (!app) return { status: 404, body: herokuError(404, "Couldn't find that app.") };
    if (state.addons.get(addonId)?.appId !== app.id) return forbidden();
    return { status: 200, body: appJson(app) };
  }
  return { status: 404, body: herokuError(404, 'The requested API endpoint was not found.') };
}

function addonAction(
  state: SimState,
  addon: SimAddon,
  method: string,
  sub: string,
  body: unknown,
): SimResponse {
  const key = `${method} ${sub}`;
  switch (key) {
    case 'GET ':
      return { status: 200, body: addonJson(addon, state.apps.get(addon.appId)) };
    case 'GET /config':
      return { status: 200, body: configArray(addon) };
    case 'PATCH /config':
      return patchConfig(addon, body);
    case 'POST /actions/provision':
      addon.provisionActionCalls += 1;
      if (addon.state !== 'provisioning') {
        return {
          status: 422,
          body: herokuError(
            422,
            `Add-on ${addon.name} is ${addon.state}; only add-ons that are provisioning can be marked provisioned.`,
          ),
        };
      }
      addon.state = 'provisioned';
      return { status: 200, body: addonJson(addon, state.apps.get(addon.appId)) };
    case 'POST /actions/deprovision':
      addon.deprovisionActionCalls += 1;
      addon.state = 'deprovisioned';
      return { status: 200, body: addonJson(addon, state.apps.get(addon.appId)) };
    default:
      return { status: 405, body: herokuError(405, `${method} is not allowed here.`) };
  }
}

function patchConfig(addon: SimAddon, body: unknown): SimResponse {
  if (body === invalidJson)
    return { status: 400, body: herokuError(400, 'Request body is not valid JSON.') };
  const config = (body as { config?: unknown } | undefined)?.config;
  const valid =
    Array.isArray(config) &&
    config.every((c: unknown) => {
      const e = c as { name?: unknown; value?: unknown } | null;
      return !!e && typeof e.name === 'string' && (typeof e.value === 'string' || e.value === null);
    });
  if (!valid)
    return {
      status: 422,
      body: herokuError(422, 'Expected {"config":[{"name":string,"value":string|null}]}.'),
    };
  for (const { name, value } of config as Array<{ name: string; value: string | null }>) {
    if (value === null) addon.config.delete(name);
    else addon.config.set(name, value);
  }
  return { status: 200, body: configArray(addon) };
}
