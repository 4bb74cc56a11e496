/**
 * One provision is one trace: a control plane and a local-driver region agent, each its own
 * process started as main.ts starts it, export to a local OTLP/HTTP receiver; an async
 * provision through the Heroku simulator yields spans from both services under one trace id,
 * from Heroku's POST to the provision action the call worker sends.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { freePort, waitFor } from '../../shared/src/ports.js';
import { createHerokuSim, type HerokuSim } from '../heroku-sim/index.js';
import { DEV_ADDON } from '../support/control-plane.js';
import {
  startOtlpReceiver,
  type OtlpReceiver,
  type ReceivedSpan,
} from '../support/otlp-receiver.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import { startTestNats, type TestNats } from '../support/nats.js';
import { killRecorded } from '../region-agent/support.js';

const SERVER = 2; // OTLP SpanKind: SPAN_KIND_SERVER
/** TRACES_E2E_DIST=1 runs the compiled entry points, as the images do (dist/ built with its data files, as bench/dist.ts does). */
const compiled = process.env.TRACES_E2E_DIST === '1';

interface Proc {
  child: ChildProcess;
  lines: string[];
  exited: Promise<number | null>;
}

let db: TestDatabase;
let nats: TestNats;
let sim: HerokuSim;
let otlp: OtlpReceiver;
let plane: Proc;
let agent: Proc;
let planeUrl: string;
const dataDir = mkdtempSync(join(tmpdir(), 'traces-e2e-'));

function start(entry: string, env: Record<string, string>): Proc {
  const args = compiled
    ? [join('dist', entry.replace(/\.ts$/, '.js'))]
    : ['--import', 'tsx', entry];
  const child = spawn(process.execPath, args, {
    env: {
      ...process.env,
      OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_BSP_SCHEDULE_DELAY: '100',
      NATS_URL: nats.url,
      LOG_LEVEL: 'info',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const p: Proc = {
    child,
    lines: [],
    exited: new Promise((resolve) => child.once('exit', (code) => resolve(code))),
  };
  createInterface({ input: child.stdout! }).on('line', (l) => p.lines.push(l));
  createInterface({ input: child.stderr! }).on('line', (l) => p.lines.push(l));
  return p;
}

async function stop(p: Proc | undefined): Promise<void> {
  if (!p || p.child.exitCode !== null) return;
  p.child.kill('SIGTERM');
  await p.exited;
}

beforeAll(async () => {
  [db, nats, sim, otlp] = await Promise.all([
    createTestDatabase(),
    startTestNats(),
    createHerokuSim(),
    startOtlpReceiver(),
  ]);
  const port = await freePort();
  planeUrl = `http://127.0.0.1:${port}`;
  plane = start('control-plane/src/main.ts', {
    DATABASE_URL: db.url,
    PORT: String(port),
    HOST: '127.0.0.1',
    HEROKU_API_URL: sim.url,
    HEROKU_ID_URL: sim.url,
    PRIVATE_SPACE_LOOKUP: 'assume-common-runtime',
    SYNC_BUDGET_MS: '0',
    OUTBOX_SWEEP_MS: '200',
  });
  const healthPort = await freePort();
  agent = start('region-agent/src/main.ts', {
    AGENT_REGION: 'us-east',
    AGENT_ID: 'traces-e2e',
    AGENT_DATA_DIR: dataDir,
    HEALTH_PORT: String(healthPort),
  });
  const ready = async (url: string, p: Proc): Promise<boolean> => {
    if (p.child.exitCode !== null) throw new Error(`exited:\n${p.lines.join('\n')}`);
    return (await fetch(url).catch(() => undefined))?.ok ?? false;
  };
  await waitFor(() => ready(`${planeUrl}/readyz`, plane), 'control plane ready', 60_000, 100);
  await waitFor(
    () => ready(`http://127.0.0.1:${healthPort}/readyz`, agent),
    'agent ready',
    60_000,
    100,
  );
}, 120_000);

afterAll(async () => {
  await Promise.all([stop(plane), stop(agent)]);
  killRecorded(dataDir);
  rmSync(dataDir, { recursive: true, force: true });
  await Promise.all([otlp?.close(), sim?.close(), nats?.stop(), db?.drop()]);
}, 60_000);

const names = (spans: ReceivedSpan[], service: string): string[] =>
  spans.filter((s) => s.service === service).map((s) => s.name);

it('an async provision is one trace across control plane and agent, to the provision action', async () => {
  const body = sim.createAddon({ plan: 'standard', region: 'us' });
  const res = await sim.provision(planeUrl, body, DEV_ADDON);
  expect(res.status).toBe(202);
  await waitFor(() => sim.provisionActionCount(body.uuid) === 1, 'provision action', 30_000);

  const isAccept = (s: ReceivedSpan): boolean =>
    s.service === 'control-plane' &&
    s.kind === SERVER &&
    s.name.startsWith('POST') &&
    s.attributes['http.route'] === '/heroku/resources';
  await waitFor(() => otlp.spans.some(isAccept), 'the POST span exported', 10_000);
  const traceId = otlp.spans.find(isAccept)!.traceId;
  const trace = (): ReceivedSpan[] => otlp.spans.filter((s) => s.traceId === traceId);
  // The provision action's span ends last: once it is exported, every span of the trace is.
  const actionSent = (): boolean =>
    trace().some((s) => s.name === 'heroku provision_action' && s.status.code !== 2);
  await waitFor(actionSent, 'the provision action in the trace', 15_000);
  await new Promise((r) => setTimeout(r, 500)); // its HTTP child span is in the same batch or the next

  const spans = trace();
  const cp = names(spans, 'control-plane');
  const ra = names(spans, 'region-agent');
  expect(cp).toEqual(
    expect.arrayContaining([
      'publish jobs.us-east.provision',
      'process results succeeded',
      'heroku config_update',
      'heroku provision_action',
    ]),
  );
  // The agent's job, each driver step, and the results it sent, all in the same trace.
  expect(ra).toEqual(
    expect.arrayContaining(['job provision', 'issuing certificate', 'waiting for TLS readiness']),
  );
  // Postgres queries of the request and outgoing HTTP to Heroku, by the official instrumentations.
  const scopes = [...new Set(spans.map((s) => s.scope))];
  expect(scopes).toEqual(
    expect.arrayContaining([
      '@opentelemetry/instrumentation-http',
      '@opentelemetry/instrumentation-pg',
      '@opentelemetry/instrumentation-undici',
    ]),
  );
  const action = spans.find((s) => s.name === 'heroku provision_action')!;
  const actionHttp = spans.filter(
    (s) => s.parentSpanId === action.spanId && s.scope === '@opentelemetry/instrumentation-undici',
  );
  expect(actionHttp.map((s) => s.attributes['url.full'])).toContain(
    `${sim.url}/addons/${body.uuid}/actions/provision`,
  );
  // Complete: one root (Heroku's POST), every other span's parent is in the trace.
  const ids = new Set(spans.map((s) => s.spanId));
  const orphans = spans.filter((s) => s.parentSpanId && !ids.has(s.parentSpanId));
  expect(orphans.map((s) => `${s.service}:${s.name}`)).toEqual([]);
  expect(spans.filter((s) => !s.parentSpanId).map((s) => s.name)).toHaveLength(1);
  expect(otlp.rejected).toEqual([]);

  // Log lines written inside the trace name it; the request's lines name its request id.
  const logged = [...plane.lines, ...agent.lines].filter((l) => l.includes(traceId));
  expect(logged.some((l) => l.includes('"service":"region-agent"'))).toBe(true);
  const accepted = plane.lines.find(
    (l) => l.includes('provision accepted') && l.includes(body.uuid),
  );
  expect(accepted).toMatch(/"requestId":"[^"]+"/);
  expect(accepted).toContain(`"trace_id":"${traceId}"`);
});
