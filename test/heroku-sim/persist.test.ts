/** A simulator with a state file comes back after a restart knowing its add-ons and tokens. */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, fetch as undiciFetch } from 'undici';
import { createHerokuSim } from './sim.js';
import { API_ACCEPT } from './platform-api.js';
import { formatLogplexBody } from './logplex.js';
import { verifySsoForm } from '../../control-plane/src/sso/tokens.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sim-state-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function tokenFor(url: string, code: string): Promise<string> {
  const qs = new URLSearchParams({
    grant_type: 'authorization_code',
    code,
    client_secret: 'dev-oauth-client-secret',
  });
  const res = await fetch(`${url}/oauth/token?${qs}`, { method: 'POST' });
  expect(res.status).toBe(200);
  return ((await res.json()) as { access_token: string }).access_token;
}

// A fresh connection pool: the one global fetch kept open to the first simulator is closed.
const after = new Agent();
afterAll(() => after.close());

it('keeps add-ons, config, tokens and log tokens across a restart', async () => {
  const stateFile = join(dir, 'sim', 'state.json');
  const first = await createHerokuSim({ stateFile });
  const body = first.createAddon({ plan: 'standard', region: 'us', app: { name: 'shop' } });
  const token = await tokenFor(first.url, body.oauth_grant.code);
  const patch = await fetch(`${first.url}/addons/${body.uuid}/config`, {
    method: 'PATCH',
    headers: {
      Accept: API_ACCEPT,
      Authorization: `Bearer ${token}`,
      'Content-Type': 'application/json',
    },
    body: JSON.stringify({ config: [{ name: 'TLSREDIS_URL', value: 'rediss://x@h:1' }] }),
  });
  expect(patch.status).toBe(200);
  const port = Number(new URL(first.url).port);
  await first.close();
  expect(statSync(stateFile).mode & 0o777).toBe(0o600);

  const second = await createHerokuSim({ stateFile, port });
  try {
    expect(second.url).toBe(first.url);
    expect(second.addon(body.uuid)?.config.get('TLSREDIS_URL')).toBe('rediss://x@h:1');
    const config = await undiciFetch(`${second.url}/addons/${body.uuid}/config`, {
      headers: { Accept: API_ACCEPT, Authorization: `Bearer ${token}` },
      dispatcher: after,
    });
    expect(config.status).toBe(200);
    const logs = await undiciFetch(body.log_input_url, {
      dispatcher: after,
      method: 'POST',
      headers: { 'Content-Type': 'application/logplex-1' },
      body: formatLogplexBody(['hello after restart']),
    });
    expect(logs.status).toBe(204);
    expect(second.logLines(body.uuid).map((l) => l.message)).toEqual(['hello after restart']);
  } finally {
    await second.close();
  }
});

it('without a state file, a new simulator knows nothing', async () => {
  const first = await createHerokuSim();
  const body = first.createAddon({ plan: 'standard', region: 'us' });
  await first.close();
  const second = await createHerokuSim();
  expect(second.addon(body.uuid)).toBeUndefined();
  await second.close();
});

describe('GET /sso/{uuid}', () => {
  const sso = { url: 'http://127.0.0.1:5000/sso/login', salt: 'salt-0123456789' };

  it('serves a self-posting form the control plane accepts', async () => {
    const sim = await createHerokuSim({ sso });
    try {
      const body = sim.createAddon({ plan: 'standard', region: 'us', app: { name: 'shop' } });
      const res = await fetch(`${sim.url}/sso/${body.uuid}?email=ann%40example.com`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/html/);
      expect(res.headers.get('cache-control')).toBe('no-store');
      const html = await res.text();
      expect(html).toContain(`<form method="post" action="${sso.url}">`);
      expect(html).toContain('document.forms[0].submit()');
      const fields = Object.fromEntries(
        [...html.matchAll(/name="([^"]+)" value="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]),
      );
      expect(fields.email).toBe('ann@example.com');
      expect(fields.app).toBe('shop');
      const check = verifySsoForm(
        fields,
        { salt: sso.salt, windowS: 300, maxSkewS: 60 },
        Date.now(),
      );
      expect(check.ok).toBe(true);
    } finally {
      await sim.close();
    }
  });

  it('answers 404 for an unknown add-on, and without an sso_url', async () => {
    const withSso = await createHerokuSim({ sso });
    const without = await createHerokuSim();
    try {
      expect((await fetch(`${withSso.url}/sso/${crypto.randomUUID()}`)).status).toBe(404);
      const body = without.createAddon({ plan: 'standard', region: 'us' });
      expect((await fetch(`${without.url}/sso/${body.uuid}`)).status).toBe(404);
    } finally {
      await Promise.all([withSso.close(), without.close()]);
    }
  });
});
