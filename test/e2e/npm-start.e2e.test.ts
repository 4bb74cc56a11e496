/**
 * `npm start` itself, as a newcomer runs it: the stack comes up, an add-on is provisioned
 * through the front door and answers over verified TLS, the SSO helper's link opens its
 * dashboard in real Chromium, the operator CLI finds it through .local/stack.json, `npm run
 * stop` leaves nothing running, and after a restart the add-on is still known and answering.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { canConnect, waitFor } from '../../shared/src/ports.js';
import { stackFile } from '../../shared/src/local-stack.js';
import { withTlsRedis } from '../support/local-agent.js';

const dataDir = mkdtempSync(join(tmpdir(), 'npm-start-'));
chmodSync(dataDir, 0o755); // the postgres user must reach the data dir inside
let port = 0;
let env: NodeJS.ProcessEnv = {};
let stack: ChildProcess | undefined;
let output = '';

/**
 * A port p with p+1..p+3 free too (the simulator, the front door, the agent's health port),
 * below the kernel's ephemeral range: a parallel suite's listen(0) or outgoing connection can
 * take a port in that range between this check and npm start's bind (it took PORT+3 once, and
 * the agent ran without its metrics).
 */
async function freeBlock(): Promise<number> {
  const [ephemeralLow] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')
    .trim()
    .split(/\s+/)
    .map(Number);
  const top = Math.min(ephemeralLow ?? 32768, 32768) - 4;
  for (;;) {
    const p = 10_000 + Math.floor(Math.random() * (top - 10_000));
    const taken = await Promise.all([0, 1, 2, 3].map((i) => canConnect(p + i)));
    if (!taken.some(Boolean)) return p;
  }
}

function npm(args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('npm', ['run', '-s', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, out }));
  });
}

async function start(): Promise<void> {
  output = '';
  const child = spawn('npm', ['start'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  stack = child;
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  await waitFor(
    () => {
      if (child.exitCode !== null) throw new Error(`npm start exited:\n${output}`);
      return output.includes('[6/6] ready');
    },
    'npm start ready',
    120_000,
    200,
  ).catch((err: Error) => {
    throw new Error(`${err.message}; npm start printed:\n${output.slice(-3000)}`, { cause: err });
  });
}

const exited = (child: ChildProcess): Promise<void> =>
  child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise((r) => child.once('exit', () => r()));

beforeAll(async () => {
  port = await freeBlock();
  env = { ...process.env, PORT: String(port), LOCAL_DATA_DIR: dataDir, LOG_LEVEL: 'info' };
  for (const k of ['DATABASE_URL', 'NATS_URL', 'HEROKU_API_URL', 'HEROKU_ID_URL', 'AGENT_DATA_DIR'])
    delete env[k];
  delete env.LOG_FORMAT;
});

afterAll(async () => {
  await npm(['reset']);
  if (stack) {
    stack.kill('SIGKILL');
    await exited(stack);
  }
  rmSync(dataDir, { recursive: true, force: true });
});

interface Provisioned {
  uuid: string;
  config?: Record<string, string>;
  dashboard: string;
}

const ping = (url: string, ca: string): Promise<string> => withTlsRedis(url, ca, (c) => c.ping());

async function openDashboard(link: string, uuid: string): Promise<string> {
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'],
  });
  try {
    const page = await browser.newPage();
    await page.goto(link);
    await page.waitForURL(`**/dashboard/${uuid}`, { timeout: 20_000 });
    return await page.content();
  } finally {
    await browser.close();
  }
}

it('starts, provisions, opens the dashboard, stops cleanly and comes back', async () => {
  await start();
  expect(output).toContain(`front door`);
  expect(output).toMatch(/INFO {2}.*control-plane {2}control plane listening/); // readable logs
  expect(existsSync(stackFile(dataDir))).toBe(true);

  const front = `http://127.0.0.1:${port + 2}`;
  const res = await fetch(`${front}/provision`, {
    method: 'POST',
    body: JSON.stringify({ plan: 'standard', region: 'us' }),
  });
  expect([200, 202]).toContain(res.status);
  const { uuid, dashboard } = (await res.json()) as Provisioned;
  expect(dashboard).toBe(`http://127.0.0.1:${port + 1}/sso/${uuid}`);
  let addon: Provisioned & { state?: string } = { uuid, dashboard };
  await waitFor(
    async () => {
      addon = (await (await fetch(`${front}/addons/${uuid}`)).json()) as typeof addon;
      return addon.state === 'provisioned' && Boolean(addon.config?.TLSREDIS_URL);
    },
    'provisioned at the simulator',
    60_000,
    250,
  );
  const url = addon.config!.TLSREDIS_URL!;
  const ca = addon.config!.TLSREDIS_TLS_CA!;
  expect(await ping(url, ca)).toBe('PONG');
  expect(output).not.toContain(decodeURIComponent(new URL(url).password));

  const planeMetrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  expect(planeMetrics).toMatch(
    /^addon_operations_total\{kind="provision",result="succeeded"\} 1$/m,
  );
  const agentMetrics = await (await fetch(`http://127.0.0.1:${port + 3}/metrics`)).text();
  expect(agentMetrics).toMatch(/^agent_instances\{state="ready"\} 1$/m);

  const show = await npm(['operator', '--', 'show', uuid]);
  expect(show.code).toBe(0);
  expect(show.out).toContain('"state": "provisioned"');

  const sso = await npm(['heroku-sim', '--', 'sso', uuid]);
  expect(sso.code).toBe(0);
  const link = /(http:\/\/\S+\/sso\/\S+)/.exec(sso.out)?.[1];
  expect(link).toBe(dashboard);
  expect(await openDashboard(link!, uuid)).toContain(uuid);

  const stopped = await npm(['stop']);
  expect(stopped.code).toBe(0);
  expect(stopped.out).toContain('stopped 1 instance server');
  await exited(stack!);
  expect(existsSync(stackFile(dataDir))).toBe(false);
  expect(await canConnect(port)).toBe(false);
  expect(await canConnect(Number(new URL(url).port))).toBe(false);
  const none = await npm(['operator', '--', 'show', uuid]);
  expect(none.code).toBe(2);
  expect(none.out).toContain('no local stack is running');

  await start();
  const again = (await (await fetch(`${front}/addons/${uuid}`)).json()) as Provisioned;
  expect(again.config?.TLSREDIS_URL).toBe(url);
  await waitFor(
    () =>
      ping(url, ca).then(
        (p) => p === 'PONG',
        () => false,
      ),
    'the instance answering after a restart',
    60_000,
    250,
  );
}, 300_000);
