/** A table of malformed and hostile inputs: every one gets a 4xx with a message, never a 5xx. */
import { randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import request from 'supertest';
import { DEV_ADDON, DEV_AUTH, startStack, type TestStack } from '../support/control-plane.js';

let stack: TestStack;
beforeAll(async () => {
  stack = await startStack({ SYNC_BUDGET_MS: '0', MAX_BODY_BYTES: '16384' });
});
afterAll(async () => {
  await stack.stop();
});

const good = (): Record<string, unknown> => ({
  uuid: randomUUID(),
  name: 'x',
  plan: 'standard',
  region: 'amazon-web-services::us-east-1',
  oauth_grant: { code: 'c', expires_at: new Date().toISOString(), type: 'authorization_code' },
});
const deep = (n: number): unknown => (n === 0 ? 1 : { a: deep(n - 1) });

type Case = [
  string,
  {
    method?: 'post' | 'put' | 'delete';
    path?: string;
    raw?: string;
    json?: unknown;
    type?: string;
  },
  number,
];

const cases: Case[] = [
  ['empty body', { raw: '' }, 400],
  ['not JSON', { raw: '{not json' }, 400],
  ['truncated JSON', { raw: '{"uuid": "' }, 400],
  ['JSON array', { json: [1, 2] }, 400],
  ['JSON string', { raw: '"hello"' }, 400],
  ['JSON null', { raw: 'null' }, 400],
  ['JSON number', { raw: '42' }, 400],
  ['empty object', { json: {} }, 400],
  ['missing uuid', { json: { ...good(), uuid: undefined } }, 400],
  ['uuid not a uuid', { json: { ...good(), uuid: 'abc' } }, 400],
  ['uuid a number', { json: { ...good(), uuid: 12345 } }, 400],
  ['missing plan', { json: { ...good(), plan: undefined } }, 400],
  ['plan a number', { json: { ...good(), plan: 7 } }, 400],
  ['plan empty', { json: { ...good(), plan: '' } }, 400],
  ['plan an object', { json: { ...good(), plan: { name: 'standard' } } }, 400],
  ['missing region', { json: { ...good(), region: undefined } }, 400],
  ['region an array', { json: { ...good(), region: ['us'] } }, 400],
  ['region without provider', { json: { ...good(), region: 'us-east-1' } }, 422],
  ['region with spaces', { json: { ...good(), region: 'amazon web services::us east 1' } }, 422],
  ['name a number', { json: { ...good(), name: 5 } }, 400],
  ['options an array', { json: { ...good(), options: ['a'] } }, 400],
  ['options with nested object', { json: { ...good(), options: { a: { b: 1 } } } }, 400],
  ['oauth_grant a string', { json: { ...good(), oauth_grant: 'code' } }, 400],
  [
    'oauth_grant without code',
    { json: { ...good(), oauth_grant: { expires_at: 'x', type: 'y' } } },
    400,
  ],
  ['callback_url not a URL', { json: { ...good(), callback_url: 'not a url' } }, 400],
  ['absurdly nested', { json: { ...good(), extra: deep(200) } }, 400],
  ['oversized body', { json: { ...good(), extra: 'x'.repeat(40_000) } }, 413],
  ['huge plan string', { json: { ...good(), plan: 'p'.repeat(5000) } }, 400],
  ['text/plain body', { raw: JSON.stringify(good()), type: 'text/plain' }, 400],
  ['form body', { raw: 'uuid=1&plan=x', type: 'application/x-www-form-urlencoded' }, 400],
  [
    'prototype pollution keys',
    {
      raw: `{"__proto__":{"admin":true},"uuid":"${randomUUID()}","plan":"standard","region":"amazon-web-services::us-east-1","name":"p"}`,
    },
    400,
  ],
  ['unicode plan', { json: { ...good(), plan: 'ständard' } }, 422],
  ['PUT with no body', { method: 'put', path: `/heroku/resources/${randomUUID()}`, raw: '' }, 400],
  [
    'PUT with plan a number',
    { method: 'put', path: `/heroku/resources/${randomUUID()}`, json: { plan: 1 } },
    400,
  ],
  [
    'PUT with broken JSON',
    { method: 'put', path: `/heroku/resources/${randomUUID()}`, raw: '{"plan":' },
    400,
  ],
  [
    'PUT on a non-uuid id',
    { method: 'put', path: '/heroku/resources/%00%ff', json: { plan: 'standard' } },
    404,
  ],
  ['DELETE on a non-uuid id', { method: 'delete', path: '/heroku/resources/..%2F..%2Fetc' }, 204],
  ['POST to a resource path', { path: `/heroku/resources/${randomUUID()}`, json: good() }, 405],
];

describe('malformed inputs never produce a 5xx', () => {
  it.each(cases)('%s', async (_name, c, expected) => {
    const method = c.method ?? 'post';
    const agent = request(stack.url);
    let req = agent[method](c.path ?? '/heroku/resources').set('Authorization', DEV_AUTH);
    if (c.raw !== undefined || c.json !== undefined) {
      req = req
        .set('Content-Type', c.type ?? 'application/json')
        .send(c.raw ?? JSON.stringify(c.json));
    }
    const res = await req;
    expect(res.status).toBe(expected);
    if (expected >= 400 && expected !== 405) expect(typeof res.body.message).toBe('string');
    expect(res.status).toBeLessThan(500);
  });

  it('the server is healthy after all of them', async () => {
    await request(stack.url).get('/readyz').expect(200);
  });
});

describe('authentication', () => {
  const creds = (s: string) => `Basic ${Buffer.from(s).toString('base64')}`;
  const bad: Array<[string, string | undefined]> = [
    ['missing header', undefined],
    ['wrong password', creds('tlsredis:wrong')],
    ['wrong user', creds(`wrong:${DEV_ADDON.password}`)],
    ['kensa wrong:secret', creds('wrong:secret')],
    ['no colon', creds('tlsredis')],
    ['empty credentials', creds(':')],
    ['bearer scheme', `Bearer ${DEV_ADDON.password}`],
    ['garbage', 'Basic !!!'],
    ['password prefix only', creds('tlsredis:dev-password')],
  ];
  it.each(bad)('%s → 401 on every route', async (_n, header) => {
    for (const [method, path] of [
      ['post', '/heroku/resources'],
      ['put', `/heroku/resources/${randomUUID()}`],
      ['delete', `/heroku/resources/${randomUUID()}`],
    ] as const) {
      let req = request(stack.url)[method](path).set('Content-Type', 'application/json');
      if (header) req = req.set('Authorization', header);
      const res = await req.send(JSON.stringify(good()));
      expect(res.status).toBe(401);
      expect(res.body.message).toBe('Authentication failed');
    }
  });

  it('vendor Accept and content types are accepted', async () => {
    const res = await request(stack.url)
      .post('/heroku/resources')
      .set('Authorization', DEV_AUTH)
      .set('Accept', 'application/vnd.heroku-addons+json; version=3')
      .set('Content-Type', 'application/vnd.heroku-addons+json; version=3')
      .send(JSON.stringify(good()));
    expect(res.status).toBe(202);
  });
});

describe('requests Node cannot parse', () => {
  const basic = DEV_AUTH.slice('Basic '.length);
  const head = (extra = ''): string =>
    `POST /heroku/resources HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${DEV_AUTH}\r\nContent-Type: application/json\r\n${extra}`;

  /** Send raw bytes and read the status line of whatever comes back. */
  function rawRequest(bytes: string): Promise<string> {
    const { port } = new URL(stack.url);
    return new Promise((resolve, reject) => {
      const socket = connect(Number(port), '127.0.0.1');
      let data = '';
      socket.on('data', (d) => (data += d.toString()));
      socket.on('end', () => resolve(data.split('\r\n')[0] ?? ''));
      socket.on('error', (err) => (data ? resolve(data.split('\r\n')[0] ?? '') : reject(err)));
      socket.write(bytes);
      setTimeout(() => socket.end(), 1_000);
    });
  }

  it.each<[string, string, RegExp]>([
    [
      'a bad chunk size',
      `${head('Transfer-Encoding: chunked\r\n')}\r\nzz\r\n{}\r\n0\r\n\r\n`,
      /^HTTP\/1\.1 400/,
    ],
    [
      'a bad chunk size after a good chunk',
      `${head('Transfer-Encoding: chunked\r\n')}\r\n5\r\n{"a":\r\nzz\r\n`,
      /^HTTP\/1\.1 400/,
    ],
    [
      'oversized headers',
      `${head(`X-Pad: ${'a'.repeat(20_000)}\r\n`)}Content-Length: 2\r\n\r\n{}`,
      /^HTTP\/1\.1 431/,
    ],
    [
      'an invalid header character',
      `${head('X-Bad: a\u0001b\r\n')}Content-Length: 2\r\n\r\n{}`,
      /^HTTP\/1\.1 400/,
    ],
    ['an invalid Content-Length', `${head('Content-Length: 2x\r\n')}\r\n{}`, /^HTTP\/1\.1 400/],
  ])('answers %s with a 4xx and logs no credentials', async (_name, bytes, status) => {
    expect(await rawRequest(bytes)).toMatch(status);
    const text = stack.logs.join('');
    expect(text).not.toContain(DEV_ADDON.password);
    expect(text).not.toContain(basic);
    expect(text).not.toContain('rawPacket');
  });

  it('still serves after them', async () => {
    const res = await request(stack.url).get('/livez');
    expect(res.status).toBe(200);
    expect(stack.logs.join('')).toContain('malformed HTTP request refused');
  });
});
