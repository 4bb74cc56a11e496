/**
 * GET /metrics of a running stack (control plane, Heroku simulator, a local-driver agent
 * process) after a provision: every metric of README "Observing it" is there with sane values,
 * and every metric the charts' alert rules read is one a scrape shows.
 */
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from 'nats';
import request from 'supertest';
import { stopChild } from '../../deploy/local/postgres.js';
import { MESSAGE_VERSION, encodeMessage, type Result } from '../../shared/src/messages.js';
import { freePort, waitFor } from '../../shared/src/ports.js';
import { renderChart, REPO_ROOT } from '../charts/helm.js';
import { startStackWithSim, DEV_ADDON } from '../support/control-plane.js';
import {
  metricsIn,
  parseExposition,
  promtoolCheck,
  sample,
  type RuleGroup,
  type Series,
} from '../support/prometheus.js';
import { killInstances, spawnLocalAgent } from '../support/local-agent.js';

const TOKEN = 'metrics-token-for-the-e2e-test';
let env: Awaited<ReturnType<typeof startStackWithSim>>;
let agent: ChildProcess;
let dataDir: string;
let healthPort: number;
let nc: NatsConnection;

beforeAll(async () => {
  env = await startStackWithSim({ SYNC_BUDGET_MS: '0', METRICS_TOKEN: TOKEN });
  dataDir = mkdtempSync(join(tmpdir(), 'metrics-e2e-agent-'));
  healthPort = await freePort();
  agent = spawnLocalAgent(env.stack.nats.url, dataDir, {
    HEALTH_PORT: String(healthPort),
    METRICS_TOKEN: TOKEN,
  });
  nc = await connect({ servers: env.stack.nats.url });
});
afterAll(async () => {
  await nc?.drain();
  await stopChild(agent, 'SIGTERM');
  await env.stop();
  killInstances(dataDir);
  rmSync(dataDir, { recursive: true, force: true });
});

async function scrape(url: string): Promise<Series[]> {
  const res = await fetch(url, { headers: { authorization: `Bearer ${TOKEN}` } });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
  return parseExposition(await res.text());
}
const scrapePlane = (): Promise<Series[]> => scrape(`${env.stack.url}/metrics`);
const scrapeAgent = (): Promise<Series[]> => scrape(`http://127.0.0.1:${healthPort}/metrics`);

/** A result whose subject names another add-on than its payload: refused as a forgery. */
async function publishForgedResult(): Promise<void> {
  const result: Result = {
    version: MESSAGE_VERSION,
    operationId: randomUUID(),
    uuid: randomUUID(),
    kind: 'provision',
    generation: 1,
    agentRegion: 'eu-west',
    agentId: 'forger',
    status: 'succeeded',
    at: new Date().toISOString(),
  };
  await nc.jetstream().publish(`results.eu-west.${randomUUID()}`, encodeMessage(result));
}

describe('a stack after one provision', () => {
  let plane: Series[];
  let agentSeries: Series[];

  beforeAll(async () => {
    const { sim, stack } = env;
    await waitFor(
      async () => (await fetch(`http://127.0.0.1:${healthPort}/readyz`)).ok,
      'agent ready',
      30_000,
      200,
    );
    const body = sim.createAddon({ plan: 'standard', region: 'eu' });
    expect((await sim.provision(stack.url, body, DEV_ADDON)).status).toBe(202);
    await waitFor(() => sim.addon(body.uuid)?.state === 'provisioned', 'provisioned', 45_000, 100);
    const form: Record<string, string> = {
      ...sim.ssoForm(body.uuid, {
        email: 'dev@example.com',
        userId: randomUUID(),
        salt: stack.config.addon.ssoSalt,
        timestamp: Math.floor(Date.now() / 1000),
      }),
    };
    const login = (f: Record<string, string>) =>
      request(stack.url).post('/sso/login').type('form').send(f).redirects(0);
    expect((await login(form)).status).toBe(302);
    expect((await login(form)).status).toBe(403); // a replay
    await publishForgedResult();
    await waitFor(
      async () =>
        (await scrapePlane()).some(
          (s) => s.name === 'addon_results_rejected_total' && s.value === 1,
        ),
      'forged result counted',
      15_000,
      200,
    );
    // Heroku calls finish after the operation: wait until none is left to send.
    await waitFor(
      async () => sample(await scrapePlane(), 'addon_heroku_calls_pending') === 0,
      'heroku calls sent',
      15_000,
      500,
    );
    plane = await scrapePlane();
    agentSeries = await scrapeAgent();
  }, 120_000);

  it('refuses a scrape without the bearer token on both ports', async () => {
    expect((await fetch(`${env.stack.url}/metrics`)).status).toBe(401);
    const wrong = { headers: { authorization: `Bearer ${TOKEN}x` } };
    expect((await fetch(`${env.stack.url}/metrics`, wrong)).status).toBe(401);
    expect((await fetch(`http://127.0.0.1:${healthPort}/metrics`)).status).toBe(401);
  });

  it('counts HTTP requests by route pattern, never by raw path', () => {
    const post = { route: '/heroku/resources', method: 'POST', status: '202' };
    expect(sample(plane, 'addon_http_requests_total', post)).toBe(1);
    const durations = { route: '/heroku/resources', method: 'POST' };
    expect(sample(plane, 'addon_http_request_duration_seconds_count', durations)).toBe(1);
    expect(sample(plane, 'addon_http_request_duration_seconds_sum', durations)).toBeLessThan(5);
    expect(sample(plane, 'addon_http_requests_total', { route: '/sso/login', status: '302' })).toBe(
      1,
    );
    const routes = plane.filter((s) => s.name === 'addon_http_requests_total');
    expect(routes.filter((s) => /[0-9a-f]{8}-[0-9a-f]{4}/.test(s.labels.route!))).toEqual([]);
  });

  it('counts the finished provision, its duration and its dispatch lag', () => {
    expect(
      sample(plane, 'addon_operations_total', { kind: 'provision', result: 'succeeded' }),
    ).toBe(1);
    const duration = { kind: 'provision' };
    expect(sample(plane, 'addon_operation_duration_seconds_count', duration)).toBe(1);
    const seconds = sample(plane, 'addon_operation_duration_seconds_sum', duration);
    expect(seconds).toBeGreaterThan(0);
    expect(seconds).toBeLessThan(45);
    expect(sample(plane, 'addon_outbox_dispatch_lag_seconds_count')).toBe(1);
    expect(sample(plane, 'addon_outbox_dispatch_lag_seconds_sum')).toBeLessThan(5);
  });

  it('reads the open operations, the Heroku queue and the agents at scrape time', () => {
    expect(sample(plane, 'addon_operations_open', { kind: 'provision', state: 'pending' })).toBe(0);
    expect(sample(plane, 'addon_operations_open')).toBe(0);
    expect(sample(plane, 'addon_oldest_open_operation_age_seconds')).toBe(0);
    expect(sample(plane, 'addon_heroku_calls_pending')).toBe(0);
    expect(sample(plane, 'addon_agent_up', { region: 'eu-west' })).toBe(1);
    expect(sample(plane, 'addon_agent_heartbeat_age_seconds', { region: 'eu-west' })).toBeLessThan(
      5,
    );
    // The reconciler ran once at start-up: every region has its series, nothing drifts.
    for (const finding of ['missing', 'stale', 'orphan', 'unknown'])
      expect(sample(plane, 'addon_drift_instances', { region: 'eu-west', finding })).toBe(0);
    expect(sample(plane, 'addon_reconcile_skipped', { region: 'ap-northeast' })).toBe(1);
  });

  it('counts Heroku calls, refused results and SSO logins by outcome', () => {
    for (const call of ['exchange_grant', 'config_update', 'provision_action'])
      expect({
        call,
        n: sample(plane, 'addon_heroku_calls_total', { call, outcome: 'ok' }),
      }).toEqual({
        call,
        n: 1,
      });
    const reason = { reason: 'subject_uuid_mismatch', class: 'forged' };
    expect(sample(plane, 'addon_results_rejected_total', reason)).toBe(1);
    expect(sample(plane, 'addon_sso_logins_total', { result: 'ok' })).toBe(1);
    expect(sample(plane, 'addon_sso_logins_total', { result: 'replayed' })).toBe(1);
  });

  it('has the agent count its job, instances, leaves and NATS connection', () => {
    const job = { kind: 'provision', result: 'succeeded' };
    expect(sample(agentSeries, 'agent_jobs_total', job)).toBe(1);
    expect(sample(agentSeries, 'agent_job_duration_seconds_count', { kind: 'provision' })).toBe(1);
    expect(sample(agentSeries, 'agent_instances', { state: 'ready' })).toBe(1);
    expect(sample(agentSeries, 'agent_instances', { state: 'not_ready' })).toBe(0);
    expect(sample(agentSeries, 'agent_instance_probe_failures_total')).toBeGreaterThanOrEqual(0);
    expect(sample(agentSeries, 'agent_certificates_expiring_soon')).toBe(0); // a fresh 90-day leaf
    expect(sample(agentSeries, 'agent_nats_connected')).toBe(1);
  });

  it('exposes Node default process metrics on both', () => {
    for (const all of [plane, agentSeries]) {
      expect(sample(all, 'process_cpu_user_seconds_total')).toBeGreaterThan(0);
      expect(sample(all, 'nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
    }
  });

  it.each([
    ['control-plane', 'metrics.prometheusRule.enabled'],
    ['region-agent', 'metrics.prometheusRule.enabled'],
  ] as const)('%s rules pass promtool and read only metrics a scrape shows', (chart, flag) => {
    const rule = renderChart(chart, { set: { [flag]: 'true' } }).find(
      (o) => o.kind === 'PrometheusRule',
    );
    const groups = (rule?.spec as { groups: RuleGroup[] }).groups;
    const checked = promtoolCheck(groups);
    if (checked) expect(checked).toEqual({ status: 0, output: expect.stringContaining('SUCCESS') });
    const scraped = new Set([...plane, ...agentSeries].map((s) => s.name));
    const read = groups.flatMap((g) => g.rules.flatMap((r) => metricsIn(r.expr)));
    expect(read.length).toBeGreaterThan(0);
    expect([...new Set(read)].filter((name) => !scraped.has(name))).toEqual([]);
  });
  it('has the Grafana dashboard read only metrics a scrape shows', () => {
    const dashboard = JSON.parse(
      readFileSync(join(REPO_ROOT, 'deploy', 'grafana-dashboard.json'), 'utf8'),
    ) as { panels: Array<{ targets: Array<{ expr: string }> }> };
    const read = dashboard.panels.flatMap((p) => p.targets.flatMap((t) => metricsIn(t.expr)));
    const scraped = new Set([...plane, ...agentSeries].map((s) => s.name));
    expect([...new Set(read)].filter((n) => !scraped.has(n))).toEqual([]);
    expect(read).toEqual(expect.arrayContaining(['addon_oldest_open_operation_age_seconds']));
  });
});

describe('the alert rules', () => {
  const runbook = readFileSync(join(REPO_ROOT, 'deploy', 'runbook.md'), 'utf8');
  const anchors = new Set(
    [...runbook.matchAll(/^#{2,3} (.+)$/gm)].map((m) =>
      m[1]!
        .toLowerCase()
        .replace(/[^a-z0-9 -]/g, '')
        .replace(/ /g, '-'),
    ),
  );

  it.each(['control-plane', 'region-agent'] as const)(
    '%s: every alert links a runbook section that exists',
    (chart) => {
      const rule = renderChart(chart, { set: { 'metrics.prometheusRule.enabled': 'true' } }).find(
        (o) => o.kind === 'PrometheusRule',
      );
      const alerts = (rule!.spec as { groups: RuleGroup[] }).groups
        .flatMap((g) => g.rules)
        .filter((r) => r.alert);
      expect(alerts.length).toBeGreaterThan(3);
      const missing = alerts
        .map((a) => ({ alert: a.alert, anchor: a.annotations?.runbook_url?.split('#')[1] }))
        .filter((a) => !a.anchor || !anchors.has(a.anchor));
      expect(missing).toEqual([]);
    },
  );
});
