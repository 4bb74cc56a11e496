import { createHerokuSim, type HerokuSim } from './sim.js';
import { formatLogplexBody, parseLogplexBody } from './logplex.js';
import { API_ACCEPT } from './platform-api.js';
import { createHash } from 'node:crypto';

let clock = Date.parse('2026-11-22T05:00:00Z');
let sim: HerokuSim;

beforeEach(async () => {
  clock = Date.parse('2026-11-22T05:00:00Z');
  sim = await createHerokuSim({ now: () => clock, accessTokenTtlS: 3600, grantTtlS: 300 });
});
afterEach(async () => {
  await sim.close();
});

async function tokenCall(
  params: Record<string, string>,
  via: 'query' | 'form' = 'query',
): Promise<{ status: number; body: Record<string, unknown> }> {
  const qs = new URLSearchParams(params).toString();
  const res =
    via === 'query'
      ? await fetch(`${sim.url}/oauth/token?${qs}`, { method: 'POST' })
      : await fetch(`${sim.url}/oauth/token`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
          body: qs,
        });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function api(
  method: string,
  path: string,
  token: string | undefined,
  body?: unknown,
  accept = API_ACCEPT,
): Promise<{ status: number; body: unknown; headers: Headers }> {
  const headers: Record<string, string> = { Accept: accept, 'Content-Type': 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  const res = await fetch(`${sim.url}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return {
    status: res.status,
    body: text ? (JSON.parse(text) as unknown) : undefined,
    headers: res.headers,
  };
}

async function provisionedToken(
  plan = 'standard',
): Promise<{ uuid: string; token: string; refresh: string }> {
  const body = sim.createAddon({ plan, region: 'us' });
  const res = await tokenCall({
    grant_type: 'authorization_code',
    code: body.oauth_grant.code,
    client_secret: 'dev-oauth-client-secret',
  });
  expect(res.status).toBe(200);
  return {
    uuid: body.uuid,
    token: res.body.access_token as string,
    refresh: res.body.refresh_token as string,
  };
}

describe('createAddon', () => {
  it('returns the v3 provision body Heroku would send', () => {
    const body = sim.createAddon({ plan: 'standard', region: 'eu', app: { name: 'my-app' } });
    expect(body).toMatchObject({
      plan: 'standard',
      region: 'amazon-web-services::eu-west-1',
      callback_url: `${sim.url}/addons/${body.uuid}`,
      options: {},
      oauth_grant: { type: 'authorization_code', expires_at: '2026-11-22T05:05:00.000Z' },
    });
    expect(body.uuid).toMatch(/^[0-9a-f-]{36}$/);
    expect(body.log_input_url).toMatch(new RegExp(`^${sim.url}/logs/t\\.`));
    expect(sim.addon(body.uuid)?.state).toBe('provisioning');
  });
});

describe('OAuth grant exchange', () => {
  it('exchanges a grant code once (query string), then refuses it', async () => {
    const body = sim.createAddon({ plan: 'standard', region: 'us' });
    const params = {
      grant_type: 'authorization_code',
      code: body.oauth_grant.code,
      client_secret: 'dev-oauth-client-secret',
    };
    const first = await tokenCall(params);
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({
      token_type: 'Bearer',
      expires_in: 3600,
      session_nonce: null,
    });
    expect(typeof first.body.access_token).toBe('string');
    expect(typeof first.body.refresh_token).toBe('string');
    expect(typeof first.body.user_id).toBe('string');
    const second = await tokenCall(params);
    expect(second.status).toBe(401);
    expect(second.body.id).toBe('unauthorized');
  });

  it('accepts the params as a form body too', async () => {
    const body = sim.createAddon({ plan: 'standard', region: 'us' });
    const res = await tokenCall(
      {
        grant_type: 'authorization_code',
        code: body.oauth_grant.code,
        client_secret: 'dev-oauth-client-secret',
      },
      'form',
    );
    expect(res.status).toBe(200);
    expect(sim.calls.at(-1)).toMatchObject({
      method: 'POST',
      path: '/oauth/token',
      status: 200,
      body: { grant_type: 'authorization_code' },
    });
  });

  it('refuses an expired grant (clock past grantTtlS, or expireGrant)', async () => {
    const a = sim.createAddon({ plan: 'standard', region: 'us' });
    clock += 301_000;
    expect(
      (
        await tokenCall({
          grant_type: 'authorization_code',
          code: a.oauth_grant.code,
          client_secret: 'dev-oauth-client-secret',
        })
      ).status,
    ).toBe(401);
    const b = sim.createAddon({ plan: 'standard', region: 'us' });
    sim.expireGrant(b.uuid);
    const res = await tokenCall({
      grant_type: 'authorization_code',
      code: b.oauth_grant.code,
      client_secret: 'dev-oauth-client-secret',
    });
    expect(res.status).toBe(401);
    expect(res.body.id).toBe('unauthorized');
  });

  it('refuses a wrong client secret without burning the code', async () => {
    const a = sim.createAddon({ plan: 'standard', region: 'us' });
    expect(
      (
        await tokenCall({
          grant_type: 'authorization_code',
          code: a.oauth_grant.code,
          client_secret: 'nope',
        })
      ).status,
    ).toBe(401);
    expect(
      (
        await tokenCall({
          grant_type: 'authorization_code',
          code: a.oauth_grant.code,
          client_secret: 'dev-oauth-client-secret',
        })
      ).status,
    ).toBe(200);
  });

  it('refreshes an expired access token; the old one stays dead', async () => {
    const { uuid, token, refresh } = await provisionedToken();
    expect((await api('GET', `/addons/${uuid}`, token)).status).toBe(200);
    clock += 3601_000;
    const expired = await api('GET', `/addons/${uuid}`, token);
    expect(expired.status).toBe(401);
    expect(expired.body).toMatchObject({ id: 'unauthorized' });
    const refreshed = await tokenCall({
      grant_type: 'refresh_token',
      refresh_token: refresh,
      client_secret: 'dev-oauth-client-secret',
    });
    expect(refreshed.status).toBe(200);
    expect(refreshed.body.access_token).not.toBe(token);
    expect(
      (await api('GET', `/addons/${uuid}`, refreshed.body.access_token as string)).status,
    ).toBe(200);
    expect((await api('GET', `/addons/${uuid}`, token)).status).toBe(401);
    expect(
      (
        await tokenCall({
          grant_type: 'refresh_token',
          refresh_token: 'bogus',
          client_secret: 'dev-oauth-client-secret',
        })
      ).status,
    ).toBe(401);
  });
});

describe('Platform API', () => {
  it('answers 401 for missing/unknown tokens, 403 for another add-on, 400 without the version', async () => {
    const { uuid, token } = await provisionedToken();
    const other = await provisionedToken();
    expect((await api('GET', `/addons/${uuid}`, undefined)).status).toBe(401);
    expect((await api('GET', `/addons/${uuid}`, 'not-a-token')).body).toMatchObject({
      id: 'unauthorized',
    });
    const forbidden = await api('GET', `/addons/${other.uuid}`, token);
    expect(forbidden.status).toBe(403);
    expect(forbidden.body).toMatchObject({ id: 'forbidden' });
    const noVersion = await api('GET', `/addons/${uuid}`, token, undefined, 'application/json');
    expect(noVersion.status).toBe(400);
    expect(noVersion.body).toMatchObject({ id: 'bad_request' });
  });

  it('serves the add-on and its app (Private Space app has a space)', async () => {
    const body = sim.createAddon({
      plan: 'premium',
      region: 'virginia',
      app: { name: 'space-app', privateSpace: true },
    });
    const tok = await tokenCall({
      grant_type: 'authorization_code',
      code: body.oauth_grant.code,
      client_secret: 'dev-oauth-client-secret',
    });
    const token = tok.body.access_token as string;
    const addon = await api('GET', `/addons/${body.uuid}`, token);
    expect(addon.body).toMatchObject({
      id: body.uuid,
      name: body.name,
      state: 'provisioning',
      plan: { name: 'tlsredis:premium' },
      app: { name: 'space-app' },
      provider_id: null,
    });
    const appId = (addon.body as { app: { id: string } }).app.id;
    const app = await api('GET', `/apps/${appId}`, token);
    expect(app.body).toMatchObject({
      id: appId,
      name: 'space-app',
      region: { name: 'virginia' },
      space: { shield: false },
    });
    // Addressed by name too, as the real API allows.
    expect((await api('GET', '/apps/space-app', token)).body).toMatchObject({ id: appId });
    expect((await api('GET', '/apps/no-such-app', token)).status).toBe(404);
    const common = await provisionedToken();
    const commonAddon = (await api('GET', `/addons/${common.uuid}`, common.token)).body as {
      app: { id: string };
    };
    expect((await api('GET', `/apps/${commonAddon.app.id}`, common.token)).body).toMatchObject({
      space: null,
      region: { name: 'us' },
    });
    expect((await api('GET', `/apps/${appId}`, common.token)).status).toBe(403);
  });

  it('stores PATCHed config and returns it', async () => {
    const { uuid, token } = await provisionedToken();
    const config = [
      { name: 'TLSREDIS_URL', value: 'rediss://x:6380' },
      { name: 'TLSREDIS_TLS_CA', value: 'pem' },
    ];
    const patched = await api('PATCH', `/addons/${uuid}/config`, token, { config });
    expect(patched.status).toBe(200);
    expect(patched.body).toEqual(config);
    expect((await api('GET', `/addons/${uuid}/config`, token)).body).toEqual(config);
    expect((await api('GET', `/addons/${uuid}`, token)).body).toMatchObject({
      config_vars: ['TLSREDIS_URL', 'TLSREDIS_TLS_CA'],
    });
    expect((await api('PATCH', `/addons/${uuid}/config`, token, { config: 'nope' })).status).toBe(
      422,
    );
  });

  it('counts provision actions and answers 422 once provisioned', async () => {
    const { uuid, token } = await provisionedToken();
    const done = await api('POST', `/addons/${uuid}/actions/provision`, token);
    expect(done.status).toBe(200);
    expect(done.body).toMatchObject({ state: 'provisioned' });
    const again = await api('POST', `/addons/${uuid}/actions/provision`, token);
    expect(again.status).toBe(422);
    expect(again.body).toMatchObject({ id: 'invalid_params' });
    expect(sim.provisionActionCount(uuid)).toBe(2);
    expect(sim.addon(uuid)?.state).toBe('provisioned');
    expect((await api('POST', `/addons/${uuid}/actions/deprovision`, token)).body).toMatchObject({
      state: 'deprovisioned',
    });
  });
});

describe('rate limits', () => {
  it('gives each add-on token its own budget: a spent one answers 429 rate_limit until it refills', async () => {
    const a = await provisionedToken();
    const b = await provisionedToken();
    sim.setRateLimitRemaining(a.uuid, 1);
    const last = await api('GET', `/addons/${a.uuid}`, a.token);
    expect(last.status).toBe(200);
    expect(last.headers.get('ratelimit-remaining')).toBe('0');
    const limited = await api('GET', `/addons/${a.uuid}`, a.token);
    expect(limited.status).toBe(429);
    expect(limited.body).toMatchObject({ id: 'rate_limit' });
    expect(limited.headers.get('ratelimit-remaining')).toBe('0');
    expect(limited.headers.get('retry-after')).toBeNull();
    const other = await api('GET', `/addons/${b.uuid}`, b.token);
    expect(other.status).toBe(200);
    expect(other.headers.get('ratelimit-remaining')).toBe('4499');
    clock += 800; // 75 a minute: one request back every 800 ms
    expect((await api('GET', `/addons/${a.uuid}`, a.token)).status).toBe(200);
    expect((await api('GET', `/addons/${a.uuid}`, a.token)).status).toBe(429);
  });

  it('sends Retry-After with a 429 only when configured', async () => {
    await sim.close();
    sim = await createHerokuSim({ now: () => clock, rateLimit: { capacity: 1, retryAfterS: 3 } });
    const { uuid, token } = await provisionedToken();
    expect((await api('GET', `/addons/${uuid}`, token)).status).toBe(200);
    const limited = await api('PATCH', `/addons/${uuid}/config`, token, { config: [] });
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('3');
    expect(sim.addon(uuid)?.config.size).toBe(0);
  });
});

describe('fault injection', () => {
  it('answers 429 with the given headers for `times` requests, then normally', async () => {
    const { uuid, token } = await provisionedToken();
    sim.inject({
      method: 'PATCH',
      path: /\/config$/,
      status: 429,
      times: 2,
      headers: { 'RateLimit-Remaining': '0', 'Retry-After': '7' },
    });
    const body = { config: [{ name: 'TLSREDIS_URL', value: 'v' }] };
    for (let i = 0; i < 2; i++) {
      const res = await api('PATCH', `/addons/${uuid}/config`, token, body);
      expect(res.status).toBe(429);
      expect(res.body).toMatchObject({ id: 'rate_limit' });
      expect(res.headers.get('ratelimit-remaining')).toBe('0');
      expect(res.headers.get('retry-after')).toBe('7');
    }
    expect((await api('GET', `/addons/${uuid}`, token)).status).toBe(200);
    expect((await api('PATCH', `/addons/${uuid}/config`, token, body)).status).toBe(200);
    expect(sim.calls.filter((c) => c.method === 'PATCH').map((c) => c.status)).toEqual([
      429, 429, 200,
    ]);
  });

  it('answers an injected 503 with a custom body once, on any method', async () => {
    const { uuid, token } = await provisionedToken();
    sim.inject({
      path: /^\/addons\//,
      status: 503,
      times: 1,
      body: { id: 'service_unavailable', message: 'maintenance' },
    });
    const res = await api('GET', `/addons/${uuid}`, token);
    expect(res.status).toBe(503);
    expect(res.body).toEqual({ id: 'service_unavailable', message: 'maintenance' });
    expect((await api('GET', `/addons/${sim.addon(uuid)?.name ?? ''}`, token)).status).toBe(200);
  });

  it('can fail the token endpoint too', async () => {
    const a = sim.createAddon({ plan: 'standard', region: 'us' });
    sim.inject({ method: 'POST', path: /^\/oauth\/token$/, status: 503, times: 1 });
    const params = {
      grant_type: 'authorization_code',
      code: a.oauth_grant.code,
      client_secret: 'dev-oauth-client-secret',
    };
    expect((await tokenCall(params)).status).toBe(503);
    expect((await tokenCall(params)).status).toBe(200);
  });

  it('delays answers', async () => {
    const { uuid, token } = await provisionedToken();
    sim.inject({ path: /^\/addons\//, delayMs: 150, times: 1 });
    const t0 = Date.now();
    expect((await api('GET', `/addons/${uuid}`, token)).status).toBe(200);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
  });
});

describe('logplex input', () => {
  it('parses length-prefixed RFC 5424 frames per add-on', async () => {
    const a = sim.createAddon({ plan: 'standard', region: 'us' });
    const frame = '<190>1 2013-03-27T20:02:24+00:00 host app tlsredis - - instance ready ✓';
    const body =
      `${Buffer.byteLength(frame)} ${frame}` + formatLogplexBody(['second line', 'third [x] line']);
    const res = await fetch(a.log_input_url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/logplex-1', 'Logplex-Msg-Count': '3' },
      body,
    });
    expect(res.status).toBe(204);
    expect(sim.logLines(a.uuid).map((l) => l.message)).toEqual([
      'instance ready ✓',
      'second line',
      'third [x] line',
    ]);
    expect(sim.logLines(a.uuid)[0]).toMatchObject({
      priority: 190,
      version: 1,
      hostname: 'host',
      appName: 'app',
      procId: 'tlsredis',
      timestamp: '2013-03-27T20:02:24+00:00',
    });
    const bad = await fetch(a.log_input_url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/logplex-1' },
      body: '999 <190>1 short',
    });
    expect(bad.status).toBe(400);
    const wrongType = await fetch(a.log_input_url, {
      method: 'POST',
      headers: { 'Content-Type': 'text/plain' },
      body,
    });
    expect(wrongType.status).toBe(400);
  });

  it('also takes the token as Basic auth on POST /logs (userinfo form of log_input_url)', async () => {
    const a = sim.createAddon({ plan: 'standard', region: 'us' });
    const token = a.log_input_url.split('/logs/')[1]!;
    const headers = {
      'Content-Type': 'application/logplex-1',
      Authorization: 'Basic ' + Buffer.from(`token:${token}`).toString('base64'),
    };
    expect(
      (
        await fetch(`${sim.url}/logs`, {
          method: 'POST',
          headers,
          body: formatLogplexBody(['via basic']),
        })
      ).status,
    ).toBe(204);
    expect(sim.logLines(a.uuid).map((l) => l.message)).toEqual(['via basic']);
    const unknown = await fetch(`${sim.url}/logs`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/logplex-1' },
      body: formatLogplexBody(['x']),
    });
    expect(unknown.status).toBe(404);
  });

  it('keeps structured data apart from the message', () => {
    const frame =
      '<190>1 2026-11-22T05:00:00Z host app web.1 - [meta a="b\\]c"][x y="z"] hello world';
    const [line] = parseLogplexBody(`${Buffer.byteLength(frame)} ${frame}`);
    expect(line).toMatchObject({
      structuredData: '[meta a="b\\]c"][x y="z"]',
      message: 'hello world',
      procId: 'web.1',
    });
  });
});

describe('ssoForm', () => {
  it('computes the v3 tokens', () => {
    const a = sim.createAddon({ plan: 'standard', region: 'us', app: { name: 'shop' } });
    const form = sim.ssoForm(a.uuid, {
      email: 'u@example.com',
      userId: 'user-1',
      salt: 'salt',
      timestamp: 1700000000,
    });
    expect(form.resource_token).toBe(
      createHash('sha1').update(`${a.uuid}:salt:1700000000`).digest('hex'),
    );
    expect(form.user_scoped_resource_token).toBe(
      createHash('sha256').update(`${a.uuid}:salt:1700000000:user-1:u@example.com`).digest('hex'),
    );
    expect(form).toMatchObject({
      resource_id: a.uuid,
      timestamp: '1700000000',
      app: 'shop',
      context_app: 'shop',
      email: 'u@example.com',
      user_id: 'user-1',
    });
    expect(JSON.parse(Buffer.from(form['nav-data'], 'base64url').toString())).toMatchObject({
      appname: 'shop',
    });
  });
});
