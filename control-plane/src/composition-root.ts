/**
 * The composition root: the one place that knows every concrete part and wires them
 * (config → pool, NATS, use cases, messaging, call worker, HTTP app). main.ts and the tests
 * both build the control plane through createControlPlane and get start/stop.
 */
import type { Server } from 'node:http';
import type Koa from 'koa';
import type { JetStreamClient, JetStreamManager, NatsConnection } from 'nats';
import type { Logger } from '../../shared/src/logger.js';
import { connectNats } from '../../shared/src/nats.js';
import { ensureStreams } from '../../shared/src/streams.js';
import { createApp, handleClientErrors } from './app.js';
import { loadCatalog } from './catalog/load.js';
import type { Catalog } from './catalog/schema.js';
import type { ControlPlaneConfig } from './config.js';
import { createSealer, type Sealer } from './crypto.js';
import { migrate } from './db/migrate.js';
import { createPool, ping, type Pool } from './db/pool.js';
import { createSpaceLookup } from './heroku/space-lookup.js';
import {
  createDispatcher,
  type Dispatcher,
  type DispatcherDeps,
} from './ops/messaging/dispatcher.js';
import {
  createResultConsumer,
  type ResultConsumer,
  type ResultConsumerDeps,
} from './ops/messaging/result-consumer.js';
import { createService, type Service } from './ops/usecases/service.js';
import { startRotation } from './ops/usecases/rotation.js';
import { createCallWorker, type CallWorker } from './heroku/call-worker.js';
import { createFleet, type Fleet } from './fleet/heartbeats.js';
import { createReconciler, replicaHolder, type Reconciler } from './fleet/reconcile.js';
import { createHttpClient, type HttpClient } from './heroku/http-client.js';
import type { OAuthSettings } from './heroku/oauth.js';
import { createOperationWaiter, type OperationWaiter } from './ops/usecases/waiter.js';
import { ssoRoutes, type RotateCredentials } from './sso/routes.js';
import { createControlPlaneMetrics, type ControlPlaneMetrics } from './metrics/metrics.js';
import { metricsRoutes } from './metrics/routes.js';
import { registerScrapeGauges } from './metrics/scrape-gauges.js';

export interface ControlPlane {
  pool: Pool;
  results: ResultConsumer;
  nc: NatsConnection;
  catalog: Catalog;
  dispatcher: Dispatcher;
  /** Listening address once started. */
  url(): string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface ControlPlaneOptions {
  /** Test hooks for crash simulation. */
  afterPublish?: DispatcherDeps['afterPublish'];
  /** Redelivery of results that fail to apply (tests shorten it). */
  resultRetry?: ResultConsumerDeps['retry'];
  /** Credential rotation behind the dashboard's button; defaults to startRotation. */
  rotateCredentials?: RotateCredentials;
}

/** What every part is built from. */
interface Parts {
  config: ControlPlaneConfig;
  log: Logger;
  options: ControlPlaneOptions;
  pool: Pool;
  catalog: Catalog;
  sealer: Sealer;
  /** Keep-alive connections to Heroku, shared by the lookup and the call worker. */
  http: HttpClient;
  metrics: ControlPlaneMetrics;
}

function oauthSettings(p: Parts, timeoutMs: number): OAuthSettings {
  const { config } = p;
  const secret = config.oauthClientSecret;
  return { idUrl: config.herokuIdUrl, clientSecret: secret, timeoutMs, http: p.http };
}

/** Heartbeats (which regions are up) and the reconciler (what they really run). */
function buildFleet(p: Parts, nc: NatsConnection): { fleet: Fleet; reconciler: Reconciler } {
  const { pool, log } = p;
  const fleet = createFleet({ nc, pool, log, deadAfterS: p.config.agentDeadAfterS });
  const reconciler = createReconciler({
    ...p.config.reconcile,
    pool: p.pool,
    nc,
    log: p.log,
    catalog: p.catalog,
    deadAfterS: p.config.agentDeadAfterS,
    holder: replicaHolder(),
  });
  return { fleet, reconciler };
}

function buildService(p: Parts, waiter: OperationWaiter, wake: () => void, fleet: Fleet): Service {
  const { config, pool, sealer, log } = p;
  const privateSpaceLookup = createSpaceLookup({
    policy: config.privateSpaceLookup,
    apiUrl: config.herokuApiUrl,
    pool,
    sealer,
    keyId: config.encryption.keyId,
    log,
    oauth: oauthSettings(p, config.privateSpaceLookupTimeoutMs),
  });
  return createService({
    pool,
    catalog: p.catalog,
    sealer,
    waiter,
    log,
    privateSpaceLookup,
    wake,
    asyncFailureAction: config.asyncFailureAction,
    syncBudgetOverrideMs: config.syncBudgetOverrideMs,
    hardBudgetMs: config.hardBudgetMs,
    conflictPolicy: config.conflictPolicy,
    enabledAgentRegions: config.enabledAgentRegions,
    downAgentRegions: fleet.downRegions,
  });
}

function buildMessaging(
  p: Parts,
  js: JetStreamClient,
  jsm: JetStreamManager,
  wakeCalls: () => void,
): { dispatcher: Dispatcher; results: ResultConsumer } {
  const { config, pool, log } = p;
  const dispatcher = createDispatcher({
    pool,
    databaseUrl: config.databaseUrl,
    js,
    catalog: p.catalog,
    configVarsPrefix: config.addon.configVarsPrefix,
    log,
    sealer: p.sealer,
    failureAction: config.asyncFailureAction,
    sweepMs: config.outboxSweepMs,
    operationTimeoutMs: config.operationTimeoutMs,
    maxAttempts: config.operationMaxAttempts,
    afterPublish: p.options.afterPublish,
    metrics: p.metrics,
  });
  const results = createResultConsumer({
    pool,
    js,
    jsm,
    sealer: p.sealer,
    log,
    failureAction: config.asyncFailureAction,
    rotationGraceS: config.rotationGraceS,
    deprovisionRetry: {
      maxAttempts: config.operationMaxAttempts,
      baseDelayMs: config.deprovisionRetryBaseMs,
    },
    retry: p.options.resultRetry,
    metrics: p.metrics,
    wakeCalls,
  });
  return { dispatcher, results };
}

function buildCallWorker(p: Parts): CallWorker {
  const { config } = p;
  return createCallWorker({
    pool: p.pool,
    databaseUrl: config.databaseUrl,
    sealer: p.sealer,
    keyId: config.encryption.keyId,
    log: p.log,
    apiUrl: config.herokuApiUrl,
    oauth: oauthSettings(p, 10_000),
    concurrency: config.herokuCallConcurrency,
    userAgent: `${config.addon.id}-control-plane`,
    metrics: p.metrics,
  });
}

function buildApp(p: Parts, service: Service, ready: () => Promise<boolean>): Koa {
  const { config, pool, sealer, log } = p;
  const sso = ssoRoutes({
    pool,
    sealer,
    log,
    salt: config.addon.ssoSalt,
    configVarsPrefix: config.addon.configVarsPrefix,
    sessionSecret: config.sso.sessionSecret,
    windowS: config.sso.windowS,
    maxSkewS: config.sso.maxSkewS,
    rotationGraceS: config.rotationGraceS,
    plans: p.catalog.plans,
    links: config.dashboardLinks,
    metrics: p.metrics,
    rotateCredentials:
      p.options.rotateCredentials ??
      (async (uuid, actor) => void (await startRotation(pool, sealer, uuid, actor))),
  });
  return createApp({
    service,
    log,
    addon: { id: config.addon.id, password: config.addon.password },
    maxBodyBytes: config.maxBodyBytes,
    trustProxy: config.trustProxy,
    extraRouters: [sso, metricsRoutes(p.metrics, config.metricsToken)],
    ready,
    metrics: p.metrics,
  });
}

function buildMetrics(config: ControlPlaneConfig, pool: Pool, log: Logger): ControlPlaneMetrics {
  const metrics = createControlPlaneMetrics();
  registerScrapeGauges(metrics.registry, { pool, log, deadAfterS: config.agentDeadAfterS });
  return metrics;
}

function buildParts(p: Pick<Parts, 'config' | 'log' | 'options' | 'pool' | 'catalog'>): Parts {
  return {
    ...p,
    sealer: createSealer(p.config.encryption),
    // A socket per call in flight: calls beyond the agent's sockets would queue for one.
    http: createHttpClient({ connectionsPerOrigin: p.config.herokuCallConcurrency }),
    metrics: buildMetrics(p.config, p.pool, p.log),
  };
}

/** Builds every part (pool, NATS, dispatcher, result consumer, waiter, call worker, app). */
export async function createControlPlane(
  config: ControlPlaneConfig,
  log: Logger,
  options: ControlPlaneOptions = {},
): Promise<ControlPlane> {
  const catalog = loadCatalog(config.catalogPath);
  const pool = createPool(config.databaseUrl, config.databasePoolMax, log);
  const applied = await migrate(pool);
  if (applied.length) log.info({ applied }, 'migrations applied');
  const nc = await connectNats(config.nats);
  const jsm = await nc.jetstreamManager();
  await ensureStreams(jsm, undefined, { replicas: config.natsStreamReplicas });
  const parts = buildParts({ config, log, options, pool, catalog });
  const waiter = await createOperationWaiter(pool, config.databaseUrl, log);
  const calls = buildCallWorker(parts);
  const { dispatcher, results } = buildMessaging(parts, nc.jetstream(), jsm, calls.kick);
  const { fleet, reconciler } = buildFleet(parts, nc);
  let shuttingDown = false;
  const wake = (): void => {
    dispatcher.kick();
    calls.kick();
  };
  const app = buildApp(parts, buildService(parts, waiter, wake, fleet), async () => {
    if (shuttingDown || nc.isClosed()) return false;
    await ping(pool);
    await nc.flush();
    return true;
  });
  let server: Server | undefined;

  return {
    pool,
    results,
    nc,
    catalog,
    dispatcher,
    url() {
      const address = server?.address();
      if (!address || typeof address !== 'object') throw new Error('not listening');
      return `http://127.0.0.1:${address.port}`;
    },
    async start() {
      await dispatcher.start();
      await results.start();
      await calls.start();
      await fleet.start();
      reconciler.start();
      server = await new Promise<Server>((resolve) => {
        const s = app.listen(config.port, config.host, () => resolve(s));
      });
      server.keepAliveTimeout = 65_000;
      handleClientErrors(server, log);
      log.info({ port: config.port }, 'control plane listening');
    },
    async stop() {
      shuttingDown = true;
      await new Promise<void>((resolve) => {
        if (!server) return resolve();
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      await dispatcher.stop();
      await results.stop();
      await calls.stop();
      await reconciler.stop();
      await fleet.stop();
      await waiter.close();
      await parts.http.close();
      await nc.drain().catch(() => undefined);
      await pool.end();
    },
  };
}
