import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { createSessionCodec } from '../../control-plane/src/sso/session.js';
import { createHerokuSim, type HerokuSim } from '../heroku-sim/index.js';
import { DEV_AUTH, startStack, type TestStack } from '../support/control-plane.js';
import { FAKE_TLS, startFakeAgent, type FakeAgent } from '../support/fake-agent.js';

let stack: TestStack;
let agent: FakeAgent;
let sim: HerokuSim;
let salt: string;
const rotations: Array<{ uuid: string; actor: string }> = [];

beforeAll(async () => {
  stack = await startStack(
    { SYNC_BUDGET_MS: '1500', SSO_WINDOW_S: '300', SSO_MAX_SKEW_S: '60' },
    {
      rotateCredentials: async (uuid, actor) => {
        rotations.push({ uuid, actor });
      },
    },
  );
  agent = await startFakeAgent(stack.nats.url, { region: 'us-east', delayMs: 20, tls: FAKE_TLS });
  sim = await createHerokuSim();
  salt = stack.config.addon.ssoSalt;
});

afterAll(async () => {
  await sim.close();
  await agent.stop();
  await stack.stop();
});

async function provision(name = `acme-${randomUUID().slice(0, 6)}`): Promise<string> {
  const uuid = randomUUID();
  const res = await request(stack.url)
    .post('/heroku/resources')
    .set('Authorization', DEV_AUTH)
    .set('Accept', 'application/vnd.heroku-addons+json; version=3')
    .send({
      uuid,
      name,
      plan: 'standard',
      region: 'amazon-web-services::us-east-1',
      callback_url: `https://api.heroku.com/addons/${uuid}`,
      options: {},
    });
  expect(res.status).toBe(200);
  return uuid;
}

const now = (): number => Math.floor(Date.now() / 1000);
let userN = 0;
function form(
  uuid: string,
  over: Record<string, string | undefined> = {},
  timestamp = now(),
): Record<string, string> {
  userN += 1;
  const f: Record<string, string | undefined> = {
    ...sim.ssoForm(uuid, {
      email: `dev${userN}@example.com`,
      userId: randomUUID(),
      salt,
      timestamp,
    }),
    ...over,
  };
  return Object.fromEntries(
    Object.entries(f).filter((e): e is [string, string] => e[1] !== undefined),
  );
}

const login = (fields: Record<string, string>) =>
  request(stack.url).post('/sso/login').type('form').send(fields).redirects(0);

function cookieOf(res: request.Response): string {
  const raw = res.headers['set-cookie'] as unknown as string[] | undefined;
  expect(raw).toHaveLength(1);
  return raw![0]!.split(';')[0]!;
}

async function session(uuid: string): Promise<string> {
  const res = await login(form(uuid));
  expect(res.status).toBe(302);
  return cookieOf(res);
}

function expectRefused(res: request.Response): void {
  expect(res.status).toBe(403);
  expect(res.headers['content-type']).toMatch(/^text\/html/);
  expect(res.headers['set-cookie']).toBeUndefined();
  expect(res.text).toContain('We could not sign you in');
}

describe('POST /sso/login', () => {
  it('accepts a valid form: 302 to the dashboard with a locked-down session cookie, and audits the login', async () => {
    const uuid = await provision();
    const f = form(uuid);
    const res = await login(f);
    expect(res.status).toBe(302);
    expect(res.headers.location).toBe(`/dashboard/${uuid}`);
    const raw = (res.headers['set-cookie'] as unknown as string[])[0]!;
    expect(raw).toMatch(/^tlsredis_session=[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+;/);
    expect(raw).toContain('HttpOnly');
    expect(raw).toContain('SameSite=Lax');
    expect(raw).toContain('Path=/');
    expect(raw).toMatch(/Max-Age=7200/);
    expect(raw).not.toContain('Secure'); // plain HTTP, no trusted proxy
    const audit = await stack.plane.pool.query(
      'select actor, action from audit_events where resource_uuid = $1 and action = $2',
      [uuid, 'sso_login'],
    );
    expect(audit.rows).toEqual([{ actor: `sso:${f.email}`, action: 'sso_login' }]);
  });

  it('accepts the resource token alone when no user-scoped token is sent', async () => {
    const uuid = await provision();
    expect((await login(form(uuid, { user_scoped_resource_token: undefined }))).status).toBe(302);
  });

  it('refuses every forged, stale or unknown form with the same 403 page (but its request id)', async () => {
    const uuid = await provision();
    const good = form(uuid);
    const cases: Array<[string, Record<string, string>]> = [
      ['bad user-scoped token', { ...good, user_scoped_resource_token: 'f'.repeat(64) }],
      ['user-scoped token for another email', { ...good, email: 'mallory@example.com' }],
      ['user-scoped token for another user id', { ...good, user_id: randomUUID() }],
      [
        'bad resource token, no user-scoped token',
        form(uuid, { user_scoped_resource_token: undefined, resource_token: 'a'.repeat(40) }),
      ],
      ['timestamp 6 minutes old', form(uuid, {}, now() - 360)],
      ['timestamp 2 minutes in the future', form(uuid, {}, now() + 120)],
      ['unknown resource', form(randomUUID())],
    ];
    const pages = new Set<string>();
    for (const [name, fields] of cases) {
      const res = await login(fields);
      try {
        expectRefused(res);
      } catch (err) {
        throw new Error(`${name}: ${(err as Error).message}`, { cause: err });
      }
      expect(res.text).toMatch(/Request id <code>[^<]+<\/code>/);
      pages.add(res.text.replace(/Request id <code>[^<]+<\/code>/, ''));
    }
    expect(pages.size).toBe(1);
    expectRefused(
      await request(stack.url)
        .post('/sso/login')
        .send({ ...good })
        .redirects(0),
    ); // JSON, not a form
  });

  it('names what a malformed form lacks, so a hand-built form can be fixed', async () => {
    const uuid = await provision();
    const cases: Array<[string, Record<string, string>, string]> = [
      ['missing email', form(uuid, { email: undefined }), 'no <code>email</code> field'],
      ['missing timestamp', form(uuid, { timestamp: undefined }), 'valid <code>timestamp</code>'],
      [
        'missing tokens',
        form(uuid, { user_scoped_resource_token: undefined, resource_token: undefined }),
        'neither <code>resource_token</code>',
      ],
      ['missing resource_id', form(uuid, { resource_id: undefined }), '<code>resource_id</code>'],
    ];
    for (const [name, fields, says] of cases) {
      const res = await login(fields);
      try {
        expectRefused(res);
        expect(res.text).toContain(says);
      } catch (err) {
        throw new Error(`${name}: ${(err as Error).message}`, { cause: err });
      }
    }
  });

  it('accepts a timestamp a little in the future (clock skew) and 4 minutes old', async () => {
    const uuid = await provision();
    expect((await login(form(uuid, {}, now() + 30))).status).toBe(302);
    expect((await login(form(uuid, {}, now() - 240))).status).toBe(302);
  });

  it('refuses a replayed form, even with the other token', async () => {
    const uuid = await provision();
    const f = form(uuid);
    expect((await login(f)).status).toBe(302);
    expectRefused(await login(f));
    const { user_scoped_resource_token: _drop, ...plain } = f;
    expectRefused(await login(plain));
    const rows = await stack.plane.pool.query(
      'select count(*)::int as n from sso_tokens_used where resource_uuid = $1',
      [uuid],
    );
    expect(rows.rows[0].n).toBe(2); // the user-scoped proof, and the resource token beside it
  });

  it('refuses a captured resource-token form re-posted with another email or user', async () => {
    const uuid = await provision();
    const { user_scoped_resource_token: _drop, ...plain } = form(uuid);
    expect((await login(plain)).status).toBe(302);
    expectRefused(await login({ ...plain, email: 'attacker@example.com' }));
    expectRefused(await login({ ...plain, user_id: randomUUID(), email: 'attacker@example.com' }));
    // The same after a login with both tokens: its resource token is spent with it.
    const both = form(uuid, {}, now() - 10);
    expect((await login(both)).status).toBe(302);
    const { user_scoped_resource_token: _u, ...rest } = both;
    expectRefused(await login({ ...rest, email: 'attacker@example.com' }));
  });

  it('lets two users in with forms of the same second', async () => {
    const uuid = await provision();
    const ts = now();
    expect((await login(form(uuid, {}, ts))).status).toBe(302);
    expect((await login(form(uuid, {}, ts))).status).toBe(302); // another user, same resource token
  });

  it('lets exactly one of five concurrent posts of the same form in', async () => {
    const uuid = await provision();
    const f = form(uuid);
    const answers = await Promise.all(Array.from({ length: 5 }, () => login(f)));
    expect(answers.map((a) => a.status).sort()).toEqual([302, 403, 403, 403, 403]);
  });

  it('refuses a deprovisioned resource', async () => {
    const uuid = await provision();
    const cookie = await session(uuid);
    const del = await request(stack.url)
      .delete(`/heroku/resources/${uuid}`)
      .set('Authorization', DEV_AUTH);
    expect(del.status).toBeLessThan(300);
    expectRefused(await login(form(uuid)));
    expect((await request(stack.url).get(`/dashboard/${uuid}`).set('Cookie', cookie)).status).toBe(
      403,
    );
  });
});

describe('GET /dashboard/:uuid', () => {
  it('shows plan, regions, host, port, state, operations and masked credentials', async () => {
    const uuid = await provision('my-<b>cache</b>');
    const cookie = await session(uuid);
    const res = await request(stack.url).get(`/dashboard/${uuid}`).set('Cookie', cookie);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(res.headers['content-security-policy']).toContain("script-src 'self';");
    // The one script comes from our origin; nothing inline.
    expect(res.text.match(/<script[^>]*>/g)).toEqual(['<script src="/dashboard-assets/copy.js">']);
    const script = await request(stack.url).get('/dashboard-assets/copy.js');
    expect(script.status).toBe(200);
    expect(script.headers['content-type']).toMatch(/^text\/javascript/);
    expect(script.text).toContain('navigator.clipboard.writeText');
    const r = (await stack.plane.pool.query('select * from resources where uuid = $1', [uuid]))
      .rows[0];
    expect(res.text).toContain(uuid);
    expect(res.text).toContain('my-&#60;b&#62;cache&#60;/b&#62;');
    expect(res.text).not.toContain('<b>cache');
    expect(res.text).toContain('>standard<');
    expect(res.text).toContain(r.heroku_region);
    expect(res.text).toContain(r.agent_region);
    expect(res.text).toContain(r.endpoint.host);
    expect(res.text).toContain(String(r.endpoint.port));
    expect(res.text).toContain('>Available<'); // provisioned, in the customer's words
    expect(res.text).toMatch(/<td>Created<\/td><td><span class="badge s-succeeded">Done<\/span>/);
    expect(res.text).not.toMatch(/Generation|dispatched/);
    expect(res.text).toMatch(/\d{1,2} [A-Z][a-z]{2} \d{4}, \d{2}:\d{2} UTC/);
    expect(res.text).toContain('heroku addons:upgrade');
    expect(res.text).toContain('up to 200'); // the standard plan's connections
    expect(res.text).toContain('••••••••@');
    expect(res.text).toContain('Rotate credentials');
    expect(res.text).toMatch(/name="viewport"/);
  });

  it('serves the CA certificate to the session of that resource only', async () => {
    const uuid = await provision();
    const other = await provision();
    const cookie = await session(uuid);
    const res = await request(stack.url).get(`/dashboard/${uuid}/ca.pem`).set('Cookie', cookie);
    expect(res.status).toBe(200);
    expect(res.headers['content-disposition']).toBe('attachment; filename="ca.pem"');
    expect(res.text).toMatch(/^-----BEGIN CERTIFICATE-----/);
    const theirs = await request(stack.url).get(`/dashboard/${other}/ca.pem`).set('Cookie', cookie);
    expect(theirs.status).toBe(403);
    expect((await request(stack.url).get(`/dashboard/${uuid}/ca.pem`)).status).toBe(403);
  });

  it('refuses a session for another resource', async () => {
    const a = await provision();
    const b = await provision();
    const cookie = await session(a);
    const res = await request(stack.url).get(`/dashboard/${b}`).set('Cookie', cookie);
    expect(res.status).toBe(403);
    expect(res.text).not.toContain(b.slice(0, 8));
  });

  it('refuses no cookie, a tampered cookie and an expired session', async () => {
    const uuid = await provision();
    const cookie = await session(uuid);
    expect((await request(stack.url).get(`/dashboard/${uuid}`)).status).toBe(403);
    const [name, value] = cookie.split('=') as [string, string];
    const [payload, mac] = value.split('.') as [string, string];
    const forged = Buffer.from(
      JSON.stringify({
        ...JSON.parse(Buffer.from(payload, 'base64url').toString()),
        exp: Date.now() + 1e9,
      }),
    ).toString('base64url');
    expect(
      (await request(stack.url).get(`/dashboard/${uuid}`).set('Cookie', `${name}=${forged}.${mac}`))
        .status,
    ).toBe(403);

    // A session issued 2 h 1 min ago with the stack's own secret: signed right, but expired.
    const codec = createSessionCodec(stack.config.sso.sessionSecret, 7_200_000);
    const { value: old } = codec.issue(uuid, 'dev@example.com', Date.now() - 7_260_000);
    const res = await request(stack.url).get(`/dashboard/${uuid}`).set('Cookie', `${name}=${old}`);
    expect(res.status).toBe(403);
    expect(res.text).toContain('Your session has expired');
    expect(res.text).toContain('Open the add-on from Heroku again');
    expect(res.text).not.toContain(uuid);
  });
});

describe('POST /dashboard/:uuid/rotate', () => {
  it('needs the CSRF token of this session', async () => {
    const uuid = await provision();
    const cookie = await session(uuid);
    const other = await session(uuid);
    const page = await request(stack.url).get(`/dashboard/${uuid}`).set('Cookie', cookie);
    const csrf = /name="csrf" value="([^"]+)"/.exec(page.text)![1]!;
    const rotate = (c: string, fields: Record<string, string>) =>
      request(stack.url)
        .post(`/dashboard/${uuid}/rotate`)
        .set('Cookie', c)
        .type('form')
        .send(fields)
        .redirects(0);
    expect((await rotate(cookie, {})).status).toBe(403);
    const forged = (csrf.startsWith('x') ? 'y' : 'x') + csrf.slice(1); // one character off
    expect((await rotate(cookie, { csrf: forged })).status).toBe(403);
    expect((await rotate(other, { csrf })).status).toBe(403); // another session's token
    expect(rotations).toEqual([]);
    const ok = await rotate(cookie, { csrf });
    expect(ok.status).toBe(303);
    expect(ok.headers.location).toBe(`/dashboard/${uuid}`);
    expect(rotations).toEqual([
      { uuid, actor: expect.stringMatching(/^sso:dev\d+@example\.com$/) },
    ]);
  });
});

describe('a configured config var prefix', () => {
  it('is what the dashboard reads the connection URL from', async () => {
    const custom = await startStack({ SYNC_BUDGET_MS: '1500', CONFIG_VARS_PREFIX: 'MYCACHE' });
    const customAgent = await startFakeAgent(custom.nats.url, { region: 'us-east' });
    try {
      const uuid = randomUUID();
      const res = await request(custom.url)
        .post('/heroku/resources')
        .set('Authorization', DEV_AUTH)
        .send({
          uuid,
          name: 'prefixed',
          plan: 'standard',
          region: 'amazon-web-services::us-east-1',
        });
      expect(res.status).toBe(200);
      expect(Object.keys(res.body.config)).toEqual(['MYCACHE_URL']);
      const signedIn = await request(custom.url)
        .post('/sso/login')
        .type('form')
        .send(form(uuid))
        .redirects(0);
      expect(signedIn.status).toBe(302);
      const page = await request(custom.url)
        .get(`/dashboard/${uuid}`)
        .set('Cookie', cookieOf(signedIn));
      expect(page.status).toBe(200);
      expect(page.text).toContain('••••••••@<wbr>localhost'); // wraps before the host
    } finally {
      await customAgent.stop();
      await custom.stop();
    }
  });
});
