/**
 * SSO and the dashboard in real Chromium (Debian chromium + playwright-core): Heroku's
 * auto-submitted form, the dashboard's content, the rotate click ending with new credentials
 * at Heroku, the 403 cases and cross-resource refusal. Screenshots go to artifacts/.
 */
import { createServer, type Server } from 'node:http';
import { mkdirSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { createHerokuSim, type HerokuSim } from '../heroku-sim/index.js';
import { freePort, waitFor } from '../../shared/src/ports.js';
import { startStack, type TestStack, DEV_ADDON } from '../support/control-plane.js';
import { FAKE_TLS, startFakeAgent, type FakeAgent } from '../support/fake-agent.js';

const auth = DEV_ADDON;
const SALT = 'dev-sso-salt-change-me-0123456789ab';
let sim: HerokuSim;
let stack: TestStack;
let agent: FakeAgent;
let browser: Browser;
let heroku: Server;
let herokuUrl: string;
const forms = new Map<string, Record<string, string>>();

const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

beforeAll(async () => {
  sim = await createHerokuSim();
  stack = await startStack({
    HEROKU_API_URL: sim.url,
    HEROKU_ID_URL: sim.url,
    SYNC_BUDGET_MS: '0',
    ROTATION_GRACE_S: '1',
  });
  agent = await startFakeAgent(stack.nats.url, { region: 'us-east', delayMs: 50, tls: FAKE_TLS });
  // Another origin serving the auto-submitting form, as Heroku's dashboard does.
  const port = await freePort();
  heroku = createServer((req, res) => {
    const fields = forms.get((req.url ?? '/').slice(1)) ?? {};
    const inputs = Object.entries(fields)
      .map(([k, v]) => `<input type="hidden" name="${esc(k)}" value="${esc(v)}">`)
      .join('');
    res
      .writeHead(200, { 'Content-Type': 'text/html' })
      .end(
        `<!doctype html><form method="post" action="${stack.url}/sso/login">${inputs}</form><script>document.forms[0].submit()</script>`,
      );
  });
  await new Promise<void>((r) => heroku.listen(port, '127.0.0.1', r));
  herokuUrl = `http://127.0.0.1:${port}`;
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  mkdirSync('artifacts', { recursive: true });
});

afterAll(async () => {
  await browser?.close();
  await new Promise<void>((r) => heroku?.close(() => r()));
  await agent.stop();
  await stack.stop();
  await sim.close();
});

async function provisioned(plan = 'standard'): Promise<string> {
  const body = sim.createAddon({
    plan,
    region: 'us',
    app: { name: `app-${Math.random().toString(36).slice(2, 8)}` },
  });
  expect((await sim.provision(stack.url, body, auth)).status).toBe(202);
  await waitFor(() => sim.addon(body.uuid)?.state === 'provisioned', 'provisioned', 15_000);
  return body.uuid;
}

async function signIn(
  page: Page,
  uuid: string,
  fields: Partial<Record<string, string>> = {},
): Promise<number> {
  const key = Math.random().toString(36).slice(2);
  forms.set(key, {
    ...sim.ssoForm(uuid, {
      email: 'dev@example.com',
      userId: '7d2b1e4c-0000-4000-8000-000000000001',
      salt: SALT,
    }),
    ...fields,
  } as Record<string, string>);
  const response = page.waitForResponse(
    (r) => r.url().includes('/sso/login') || r.url().includes('/dashboard/'),
  );
  await page.goto(`${herokuUrl}/${key}`);
  await page.waitForLoadState('load');
  const last = await response;
  return last.status();
}

it('SSO through an auto-submitted form lands on the dashboard with the resource facts', async () => {
  const uuid = await provisioned();
  const context = await browser.newContext({
    viewport: { width: 1280, height: 860 },
    permissions: ['clipboard-read', 'clipboard-write'],
  });
  const page = await context.newPage();
  await signIn(page, uuid);
  await page.waitForURL(`**/dashboard/${uuid}`);
  const text = await page.locator('body').innerText();
  expect(text).toContain(uuid);
  expect(text).toContain('standard');
  expect(text).toContain('us-east');
  expect(text).toContain('localhost');
  expect(text).not.toContain('secret-'); // the password is masked until revealed
  expect(text).toMatch(
    /Certificate expires\s+\d{1,2} [A-Z][a-z]{2} \d{4}, \d{2}:\d{2} UTC \(in \d+ days\)/,
  );
  expect(text).not.toMatch(/Generation|dispatched/);
  await page.getByText('Python (redis-py)').click();
  expect(await page.locator('details.snippet[open] code').innerText()).toContain(
    'ssl_ca_data=os.environ["TLSREDIS_TLS_CA"]',
  );
  const clipboard = (): Promise<string> =>
    page.evaluate('navigator.clipboard.readText()') as Promise<string>;
  await page.locator('details.snippet[open] button.copy').click();
  await waitFor(async () => (await clipboard()).includes('ssl_ca_data='), 'snippet copied', 5000);
  await page.getByRole('button', { name: 'Copy CA' }).click();
  await waitFor(async () => (await clipboard()) === FAKE_TLS.caPem.trim(), 'CA copied', 5000);
  await page.getByRole('button', { name: 'Copy URL' }).click();
  await waitFor(async () => (await clipboard()).includes('secret-'), 'URL copied', 5000);
  expect(await page.locator('button.copy[data-copy="url"]').innerText()).toBe('Copied');
  const download = page.waitForEvent('download');
  await page.getByRole('link', { name: 'Download the CA certificate' }).click();
  expect((await download).suggestedFilename()).toBe('ca.pem');
  await page.screenshot({ path: 'artifacts/dashboard.png', fullPage: true });
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true });
  const phonePage = await phone.newPage();
  await phonePage.context().addCookies(await context.cookies());
  await phonePage.goto(`${stack.url}/dashboard/${uuid}`);
  await phonePage.screenshot({ path: 'artifacts/dashboard-phone.png', fullPage: true });
  // Evaluated in the page; given as text because this Node project has no DOM types.
  const overflow = await phonePage.evaluate(
    'document.documentElement.scrollWidth > window.innerWidth + 1',
  );
  expect(overflow).toBe(false);
  await phone.close();
  await context.close();
});

it('How it is doing: the plain first message, then the measured numbers and a 24 h chart', async () => {
  const uuid = await provisioned('mini');
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  const page = await context.newPage();
  await signIn(page, uuid);
  await page.waitForURL(`**/dashboard/${uuid}`);
  const card = page.locator('#health');
  expect(await card.innerText()).toContain(
    'No measurements yet: the first arrives within a few minutes of provisioning',
  );
  expect(await card.locator('svg').count()).toBe(0);
  // As reconcile passes would have stored them (fleet/samples.ts), the newest a minute ago.
  const MB = 1024 * 1024;
  const sample = (usedMb: number, keys: number): string =>
    JSON.stringify({
      usedMemoryBytes: usedMb * MB,
      maxMemoryBytes: 25 * MB,
      keys,
      clients: 4,
      opsPerSec: 1250,
      uptimeS: 2 * 86_400 + 3 * 3_600 + 10,
    });
  await stack.plane.pool.query(
    `insert into instance_samples (resource_uuid, at, ready, stats) values
       ($1, now() - interval '20 hours', true, $2), ($1, now() - interval '6 hours', true, $3),
       ($1, now() - interval '1 minute', true, $4)`,
    [uuid, sample(1, 10), sample(4, 900), sample(5, 12_345)],
  );
  await page.reload();
  const metric = (name: string): Promise<string> =>
    card.locator(`[data-metric="${name}"]`).innerText();
  expect(await metric('memory')).toBe('5 MB of 25 MB (20%)');
  expect(await metric('keys')).toBe('12,345');
  expect(await metric('clients')).toBe('4');
  expect(await metric('ops')).toBe('1,250');
  expect(await metric('uptime')).toBe('2 days, 3 hours');
  expect(await metric('checked')).toMatch(
    /^\d{1,2} [A-Z][a-z]{2} \d{4}, \d{2}:\d{2} UTC \(1 minute ago\): answered over TLS$/,
  );
  expect(await card.locator('meter').getAttribute('value')).toBe(String(5 * MB));
  const chart = card.locator('svg[role="img"]');
  expect(await chart.getAttribute('aria-label')).toBe('Memory used over the last 24 hours');
  expect((await chart.locator('polyline').getAttribute('points'))?.split(' ')).toHaveLength(3);
  expect((await chart.boundingBox())?.width).toBeGreaterThan(100);
  await card.screenshot({ path: 'artifacts/dashboard-health.png' });
  // At phone width the card and its chart fit the screen.
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true });
  const phonePage = await phone.newPage();
  await phonePage.context().addCookies(await context.cookies());
  await phonePage.goto(`${stack.url}/dashboard/${uuid}`);
  expect(await phonePage.locator('#health svg').count()).toBe(1);
  expect(
    await phonePage.evaluate('document.documentElement.scrollWidth > window.innerWidth + 1'),
  ).toBe(false);
  await phonePage.locator('#health').screenshot({ path: 'artifacts/dashboard-health-phone.png' });
  await phone.close();
  await context.close();
});

it('the rotate button ends with new credentials in Heroku’s config', async () => {
  const uuid = await provisioned();
  const before = sim.addon(uuid)!.config.get('TLSREDIS_URL');
  const context = await browser.newContext();
  const page = await context.newPage();
  await signIn(page, uuid);
  await page.waitForURL(`**/dashboard/${uuid}`);
  await page.getByText('Rotate credentials…').click();
  expect(await page.locator('details.confirm').innerText()).toContain(
    'The current ones keep working for 1 second after that, then stop.',
  );
  await page.getByRole('button', { name: 'Rotate credentials' }).click();
  await page.waitForLoadState('load');
  await waitFor(
    () => sim.addon(uuid)!.config.get('TLSREDIS_URL') !== before,
    'rotated config at Heroku',
    15_000,
  );
  expect(new URL(sim.addon(uuid)!.config.get('TLSREDIS_URL')!).username).not.toBe(
    new URL(before!).username,
  );
  await context.close();
});

it('every bad sign-in gets the 403 page, and a session never shows another resource', async () => {
  const uuid = await provisioned();
  const other = await provisioned();
  const context = await browser.newContext();
  const page = await context.newPage();
  const old = String(Math.floor(Date.now() / 1000) - 600);
  const cases: Array<Partial<Record<string, string>>> = [
    { resource_token: 'bad', user_scoped_resource_token: 'bad' },
    { user_scoped_resource_token: '0'.repeat(64) },
    { timestamp: old },
    { resource_id: '00000000-0000-4000-8000-000000000000' },
  ];
  for (const fields of cases) {
    expect(await signIn(page, uuid, fields)).toBe(403);
    expect(await page.locator('h1').innerText()).toContain('could not sign you in');
  }
  await page.screenshot({ path: 'artifacts/sso-403.png' });
  await signIn(page, uuid);
  await page.waitForURL(`**/dashboard/${uuid}`);
  const cross = await page.goto(`${stack.url}/dashboard/${other}`);
  expect(cross?.status()).toBe(403);
  expect(await page.locator('body').innerText()).not.toContain(other);
  await context.close();
});
