import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { DEV_AUTH, startStack, type TestStack } from '../support/control-plane.js';
import { startFakeAgent, type FakeAgent } from '../support/fake-agent.js';

let stack: TestStack;
let agents: FakeAgent[];

beforeAll(async () => {
  stack = await startStack({ SYNC_BUDGET_MS: '1500' });
  agents = await Promise.all([
    startFakeAgent(stack.nats.url, {
      region: 'us-east',
      delayMs: (job) => (job.resource.name.includes('slow') ? 2500 : 50),
      fail: (job) => job.resource.name.includes('doomed'),
    }),
    startFakeAgent(stack.nats.url, { region: 'eu-west', delayMs: 50 }),
  ]);
});

afterAll(async () => {
  await Promise.all(agents.map((a) => a.stop()));
  await stack.stop();
});

const grant = {
  code: 'grant-code-123',
  expires_at: new Date(Date.now() + 300_000).toISOString(),
  type: 'authorization_code',
};

function provisionBody(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const uuid = randomUUID();
  return {
    uuid,
    name: `acme-${uuid.slice(0, 6)}`,
    plan: 'standard',
    region: 'amazon-web-services::us-east-1',
    callback_url: `https://api.heroku.com/addons/${uuid}`,
    oauth_grant: grant,
    options: {},
    ...overrides,
  };
}

const post = (body: unknown) =>
  request(stack.url)
    .post('/heroku/resources')
    .set('Authorization', DEV_AUTH)
    .set('Accept', 'application/vnd.heroku-addons+json; version=3')
    .send(body as object);

describe('provision', () => {
  it('answers 200 with config when the agent is fast', async () => {
    const res = await post(provisionBody());
    expect(res.status).toBe(200);
    expect(res.body.id).toBe(res.body.id.toLowerCase());
    expect(res.body.config.TLSREDIS_URL).toMatch(/^rediss:\/\//);
    expect(res.body.message).toContain('us');
  });

  it('answers 202 without config when the agent is slow, and the replay later returns the config', async () => {
    const body = provisionBody({ name: 'slow-one' });
    const first = await post(body);
    expect(first.status).toBe(202);
    expect(first.body.config).toBeUndefined();
    expect(first.body.id).toBe(body.uuid);
    await new Promise((r) => setTimeout(r, 2000));
    const replay = await post(body);
    expect(replay.status).toBe(200);
    expect(replay.body.config.TLSREDIS_URL).toContain('secret-');
  });

  it('a replayed provision returns the first answer and creates nothing', async () => {
    const body = provisionBody();
    const a = await post(body);
    const b = await post(body);
    expect(b.status).toBe(a.status);
    expect(b.body).toEqual(a.body);
    const ops = await stack.plane.pool.query(
      'select count(*)::int as n from operations where resource_uuid = $1',
      [body.uuid],
    );
    expect(ops.rows[0].n).toBe(1);
  });

  it('ten concurrent identical provisions create one resource and one operation', async () => {
    const body = provisionBody();
    const answers = await Promise.all(Array.from({ length: 10 }, () => post(body)));
    for (const a of answers) expect(a.status).toBe(200);
    const configs = new Set(answers.map((a) => a.body.config.TLSREDIS_URL));
    expect(configs.size).toBe(1);
    const r = await stack.plane.pool.query(
      'select (select count(*)::int from resources where uuid = $1) as res, (select count(*)::int from operations where resource_uuid = $1) as ops',
      [body.uuid],
    );
    expect(r.rows[0]).toEqual({ res: 1, ops: 1 });
    const jobs = agents[0]!.jobs.filter((j) => j.resource.uuid === body.uuid);
    expect(jobs).toHaveLength(1);
  });

  it('refuses a plan not available in Private Spaces with 422 naming the plans that are', async () => {
    const res = await post(
      provisionBody({ plan: 'mini', region: 'amazon-web-services::eu-central-1' }),
    );
    expect(res.status).toBe(422);
    expect(res.body.message).toMatch(/not available in Private Spaces.*standard, premium/);
  });

  it('refuses unknown plans and regions with 422', async () => {
    expect((await post(provisionBody({ plan: 'gold' }))).status).toBe(422);
    const r = await post(provisionBody({ region: 'amazon-web-services::sa-east-1' }));
    expect(r.status).toBe(422);
    expect(r.body.message).toContain('not supported');
  });

  it('refuses a plan that cannot be placed with 422', async () => {
    const r = await post(
      provisionBody({ plan: 'premium', region: 'amazon-web-services::ap-northeast-1' }),
    );
    expect(r.status).toBe(422);
    expect(r.body.message).toContain('cannot be placed');
  });

  it('answers 422 when the agent reports a failure inside the budget', async () => {
    const r = await post(provisionBody({ name: 'doomed-1' }));
    expect(r.status).toBe(422);
    expect(r.body.message).toContain('did not start');
  });

  it('tolerates unknown fields', async () => {
    const r = await post(
      provisionBody({ some_new_field: { nested: true }, log_drain_token: 'd.abc' }),
    );
    expect(r.status).toBe(200);
  });

  it('dispatches to jobs.<agentRegion>.provision with the operation id as message id', async () => {
    const body = provisionBody({ region: 'amazon-web-services::eu-west-1' });
    expect((await post(body)).status).toBe(200);
    const job = agents[1]!.jobs.find((j) => j.resource.uuid === body.uuid)!;
    expect(job.kind).toBe('provision');
    expect(job.resource.agentRegion).toBe('eu-west');
    const op = await stack.plane.pool.query('select id from operations where resource_uuid = $1', [
      body.uuid,
    ]);
    expect(job.operationId).toBe(op.rows[0].id);
  });
});

describe('plan change', () => {
  const put = (id: string, body: unknown) =>
    request(stack.url)
      .put(`/heroku/resources/${id}`)
      .set('Authorization', DEV_AUTH)
      .send(body as object);

  it('changes the plan and returns the new config', async () => {
    const body = provisionBody();
    await post(body);
    const r = await put(body.uuid as string, { plan: 'premium', uuid: randomUUID() });
    expect(r.status).toBe(200);
    expect(r.body.config.TLSREDIS_URL).toContain('premium');
    const res = await stack.plane.pool.query('select plan from resources where uuid = $1', [
      body.uuid,
    ]);
    expect(res.rows[0].plan).toBe('premium');
  });

  it('same plan is a logged no-op 200', async () => {
    const body = provisionBody();
    await post(body);
    const r = await put(body.uuid as string, { plan: 'standard' });
    expect(r.status).toBe(200);
    const ops = await stack.plane.pool.query(
      'select count(*)::int as n from operations where resource_uuid = $1',
      [body.uuid],
    );
    expect(ops.rows[0].n).toBe(1);
    const audit = await stack.plane.pool.query(
      `select count(*)::int as n from audit_events where resource_uuid = $1 and action = 'plan_change_noop'`,
      [body.uuid],
    );
    expect(audit.rows[0].n).toBe(1);
  });

  it('unknown resource 404, deprovisioned 410, unknown plan 422', async () => {
    expect((await put(randomUUID(), { plan: 'premium' })).status).toBe(404);
    expect((await put('not-a-uuid', { plan: 'premium' })).status).toBe(404);
    const body = provisionBody();
    await post(body);
    expect((await put(body.uuid as string, { plan: 'gold' })).status).toBe(422);
    await request(stack.url)
      .delete(`/heroku/resources/${body.uuid}`)
      .set('Authorization', DEV_AUTH)
      .expect(204);
    const gone = await put(body.uuid as string, { plan: 'premium' });
    expect(gone.status).toBe(410);
    expect(gone.body.message).toContain('deprovisioned');
  });

  it('a change while another is in flight queues behind it', async () => {
    const body = provisionBody({ name: 'slow-queue' });
    expect((await post(body)).status).toBe(202);
    const r = await put(body.uuid as string, { plan: 'premium' });
    expect([200, 202]).toContain(r.status);
    await new Promise((resolve) => setTimeout(resolve, 6000));
    const ops = await stack.plane.pool.query(
      'select kind, state from operations where resource_uuid = $1 order by generation',
      [body.uuid],
    );
    expect(ops.rows).toEqual([
      { kind: 'provision', state: 'succeeded' },
      { kind: 'change_plan', state: 'succeeded' },
    ]);
    const jobs = agents[0]!.jobs.filter((j) => j.resource.uuid === body.uuid).map((j) => j.kind);
    expect(jobs).toEqual(['provision', 'change_plan']);
  });
});

describe('deprovision', () => {
  const del = (id: string) =>
    request(stack.url).delete(`/heroku/resources/${id}`).set('Authorization', DEV_AUTH);

  it('answers 204 and the resource ends deprovisioned', async () => {
    const body = provisionBody();
    await post(body);
    expect((await del(body.uuid as string)).status).toBe(204);
    await new Promise((r) => setTimeout(r, 500));
    const res = await stack.plane.pool.query(
      'select state, deprovisioned_at from resources where uuid = $1',
      [body.uuid],
    );
    expect(res.rows[0].state).toBe('deprovisioned');
    expect(res.rows[0].deprovisioned_at).not.toBeNull();
  });

  it('gone or unknown resources answer 204, and a replay creates no second operation', async () => {
    expect((await del(randomUUID())).status).toBe(204);
    const body = provisionBody();
    await post(body);
    await del(body.uuid as string);
    expect((await del(body.uuid as string)).status).toBe(204);
    const ops = await stack.plane.pool.query(
      `select count(*)::int as n from operations where resource_uuid = $1 and kind = 'deprovision'`,
      [body.uuid],
    );
    expect(ops.rows[0].n).toBe(1);
  });

  it('a provision replay after deprovision answers 410', async () => {
    const body = provisionBody();
    await post(body);
    await del(body.uuid as string);
    expect((await post(body)).status).toBe(410);
  });
});

describe('health', () => {
  it('livez and readyz answer 200', async () => {
    await request(stack.url).get('/livez').expect(200);
    await request(stack.url).get('/readyz').expect(200);
  });
});

describe('logs', () => {
  it('carry request ids and never a secret (grant code, password, instance credentials)', () => {
    const text = stack.logs.join('');
    expect(text).toContain('"requestId"');
    expect(text).toContain('provision accepted');
    for (const secret of ['grant-code-123', 'dev-password-change-me', 'secret-', 'rediss://']) {
      expect(text).not.toContain(secret);
    }
  });

  it('stores config and grant codes encrypted at rest', async () => {
    const rows = await stack.plane.pool.query(
      `select config_enc, oauth_grant_enc from resources where config_enc is not null limit 5`,
    );
    expect(rows.rows.length).toBeGreaterThan(0);
    for (const r of rows.rows) {
      expect(r.config_enc).toMatch(/^v1\.dev\./);
      expect(r.config_enc).not.toContain('rediss');
      expect(r.oauth_grant_enc).not.toContain('grant-code-123');
    }
  });
});
