import { randomUUID } from 'node:crypto';
import Koa from 'koa';
import request from 'supertest';
import { createLogger } from '../../shared/src/logger.js';
import { ConflictError } from '../../shared/src/errors.js';
import { createSealer } from '../../control-plane/src/crypto.js';
import { ssoRoutes, type RotateCredentials } from '../../control-plane/src/sso/routes.js';
import { createHerokuSim, type HerokuSim } from '../heroku-sim/index.js';
import { DEV_AUTH, startStack, type TestStack } from '../support/control-plane.js';
import { startFakeAgent, type FakeAgent } from '../support/fake-agent.js';

// Behind a TLS-terminating proxy, with the rotation the control plane wires itself.
let stack: TestStack;
let agent: FakeAgent;
let sim: HerokuSim;

beforeAll(async () => {
  stack = await startStack({ SYNC_BUDGET_MS: '1500', TRUST_PROXY: 'true' });
  agent = await startFakeAgent(stack.nats.url, { region: 'us-east', delayMs: 20 });
  sim = await createHerokuSim();
});

afterAll(async () => {
  await sim.close();
  await agent.stop();
  await stack.stop();
});

async function provision(): Promise<string> {
  const uuid = randomUUID();
  const prov = await request(stack.url)
    .post('/heroku/resources')
    .set('Authorization', DEV_AUTH)
    .send({
      uuid,
      name: 'acme',
      plan: 'standard',
      region: 'amazon-web-services::us-east-1',
      callback_url: `https://api.heroku.com/addons/${uuid}`,
      options: {},
    });
  expect(prov.status).toBe(200);
  return uuid;
}

/** Logs in through `url` (over https as the proxy reports it); returns the cookie and the page's CSRF token. */
async function signIn(
  url: string,
  uuid: string,
): Promise<{ cookie: string; csrf: string; raw: string }> {
  const fields = sim.ssoForm(uuid, {
    email: 'dev@example.com',
    userId: randomUUID(),
    salt: stack.config.addon.ssoSalt,
  });
  const res = await request(url)
    .post('/sso/login')
    .set('X-Forwarded-Proto', 'https')
    .type('form')
    .send({ ...fields })
    .redirects(0);
  expect(res.status).toBe(302);
  const raw = (res.headers['set-cookie'] as unknown as string[])[0]!;
  const cookie = raw.split(';')[0]!;
  const page = await request(url).get(`/dashboard/${uuid}`).set('Cookie', cookie);
  expect(page.status).toBe(200);
  return { cookie, raw, csrf: /name="csrf" value="([^"]+)"/.exec(page.text)![1]! };
}

it('sets a Secure cookie over https; the rotate button starts a rotation operation audited to the SSO user', async () => {
  const uuid = await provision();
  const { cookie, csrf, raw } = await signIn(stack.url, uuid);
  expect(raw).toMatch(/; Secure/);
  const res = await request(stack.url)
    .post(`/dashboard/${uuid}/rotate`)
    .set('Cookie', cookie)
    .type('form')
    .send({ csrf })
    .redirects(0);
  expect(res.status).toBe(303);
  expect(res.headers.location).toBe(`/dashboard/${uuid}`);
  const ops = await stack.plane.pool.query(
    'select kind from operations where resource_uuid = $1 order by generation',
    [uuid],
  );
  // Once the rotation has succeeded (20 ms with the fake agent, later on a loaded machine) the
  // revocation of the old user is scheduled too, ROTATION_GRACE_S ahead.
  const kinds = ops.rows.map((r) => r.kind);
  expect(kinds.slice(0, 2)).toEqual(['provision', 'rotate_credentials']);
  expect(kinds.slice(2)).toEqual(kinds.length > 2 ? ['revoke_credentials'] : []);
  const audit = await stack.plane.pool.query(
    "select actor from audit_events where resource_uuid = $1 and action = 'credentials_rotation_requested'",
    [uuid],
  );
  expect(audit.rows).toEqual([{ actor: 'sso:dev@example.com' }]);
});

describe('with routes mounted by hand', () => {
  async function withRoutes(
    rotateCredentials: RotateCredentials | undefined,
    fn: (url: string) => Promise<void>,
  ): Promise<void> {
    const app = new Koa({ proxy: true });
    const router = ssoRoutes({
      pool: stack.plane.pool,
      sealer: createSealer(stack.config.encryption),
      log: createLogger({ name: 'sso-test', level: 'silent' }),
      salt: stack.config.addon.ssoSalt,
      configVarsPrefix: stack.config.addon.configVarsPrefix,
      sessionSecret: 'another-secret-of-at-least-32-characters',
      windowS: 300,
      maxSkewS: 60,
      rotateCredentials,
    });
    app.use(router.routes());
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    try {
      await fn(`http://127.0.0.1:${(server.address() as { port: number }).port}`);
    } finally {
      await new Promise((r) => server.close(r));
    }
  }

  it('answers 501 when no rotation is wired', async () => {
    const uuid = await provision();
    await withRoutes(undefined, async (url) => {
      const { cookie, csrf } = await signIn(url, uuid);
      const res = await request(url)
        .post(`/dashboard/${uuid}/rotate`)
        .set('Cookie', cookie)
        .type('form')
        .send({ csrf });
      expect(res.status).toBe(501);
      expect(res.text).toContain('Credential rotation is not available yet');
    });
  });

  it('shows a refused rotation on a page, and does not accept cookies signed with another secret', async () => {
    const uuid = await provision();
    const mainCookie = (await signIn(stack.url, uuid)).cookie;
    await withRoutes(
      async () => {
        throw new ConflictError(
          'not_ready',
          'Credentials can be rotated once the add-on is provisioned.',
        );
      },
      async (url) => {
        expect(
          (await request(url).get(`/dashboard/${uuid}`).set('Cookie', mainCookie)).status,
        ).toBe(403);
        const { cookie, csrf } = await signIn(url, uuid);
        const res = await request(url)
          .post(`/dashboard/${uuid}/rotate`)
          .set('Cookie', cookie)
          .type('form')
          .send({ csrf });
        expect(res.status).toBe(409);
        expect(res.headers['content-type']).toMatch(/^text\/html/);
        expect(res.text).toContain('once the add-on is provisioned');
      },
    );
  });
});
