/**
 * createControlPlane(config, log): builds every part (pool, NATS, dispatcher, result
 * consumer, waiter, app) and returns start/stop. main.ts and the tests both use it.
 */
import type { Server } from 'node:http';
import type { NatsConnection } from 'nats';
import type { Logger } from '../../shared/src/logger.js';
import { connectNats } from '../../shared/src/nats.js';
import { ensureStreams } from '../../shared/src/streams.js';
import { createApp, handleClientErrors } from './app.js';
import { loadCatalog } from './catalog/load.js';
import type { Catalog } from './catalog/schema.js';
import type { ControlPlaneConfig } from './config.js';
import { createSealer } from './crypto.js';
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
import { createService } from './ops/usecases/service.js';
import { startRotation } from './ops/usecases/rotation.js';
import { createCallWorker, type CallWorker } from './heroku/call-worker.js';
import { createOperationWaiter, type OperationWaiter } from './ops/usecases/waiter.js';
import { ssoRoutes, type RotateCredentials } from './sso/routes.js';

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
  fetch?: typeof fetch;
  /** Redelivery of results that fail to apply (tests shorten it). */
  resultRetry?: ResultConsumerDeps['retry'];
  /** Credential rotation behind the dashboard's button; defaults to startRotation. */
  rotateCredentials?: RotateCredentials;
}

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
  await ensureStreams(jsm);
  const js = nc.jetstream();
  const sealer = createSealer(config.encryption);
  const waiter: OperationWaiter = await createOperationWaiter(pool, config.databaseUrl, log);
  const service = createService({
    pool,
    catalog,
    sealer,
    waiter,
    log,
    privateSpaceLookup: createSpaceLookup({
      policy: config.privateSpaceLookup,
      apiUrl: config.herokuApiUrl,
      pool,
      sealer,
      keyId: config.encryption.keyId,
      log,
      oauth: {
        idUrl: config.herokuIdUrl,
        clientSecret: config.oauthClientSecret,
        timeoutMs: config.privateSpaceLookupTimeoutMs,
        fetch: options.fetch,
      },
      fetch: options.fetch,
    }),
    asyncFailureAction: config.asyncFailureAction,
    syncBudgetOverrideMs: config.syncBudgetOverrideMs,
    hardBudgetMs: config.hardBudgetMs,
    conflictPolicy: config.conflictPolicy,
    enabledAgentRegions: config.enabledAgentRegions,
  });
  const dispatcher = createDispatcher({
    pool,
    databaseUrl: config.databaseUrl,
    js,
    catalog,
    configVarsPrefix: config.addon.configVarsPrefix,
    log,
    sweepMs: config.outboxSweepMs,
    operationTimeoutMs: config.operationTimeoutMs,
    maxAttempts: config.operationMaxAttempts,
    afterPublish: options.afterPublish,
  });
  const results: ResultConsumer = createResultConsumer({
    pool,
    js,
    jsm,
    sealer,
    log,
    failureAction: config.asyncFailureAction,
    rotationGraceS: config.rotationGraceS,
    deprovisionRetry: {
      maxAttempts: config.operationMaxAttempts,
      baseDelayMs: config.deprovisionRetryBaseMs,
    },
    retry: options.resultRetry,
  });
  const calls: CallWorker = createCallWorker({
    pool,
    databaseUrl: config.databaseUrl,
    sealer,
    keyId: config.encryption.keyId,
    log,
    apiUrl: config.herokuApiUrl,
    oauth: {
      idUrl: config.herokuIdUrl,
      clientSecret: config.oauthClientSecret,
      timeoutMs: 10_000,
      fetch: options.fetch,
    },
    concurrency: config.herokuCallConcurrency,
    fetch: options.fetch,
    userAgent: `${config.addon.id}-control-plane`,
  });
  let shuttingDown = false;
  const app = createApp({
    service,
    log,
    addon: { id: config.addon.id, password: config.addon.password },
    maxBodyBytes: config.maxBodyBytes,
    trustProxy: config.trustProxy,
    extraRouters: [
      ssoRoutes({
        pool,
        sealer,
        log,
        salt: config.addon.ssoSalt,
        configVarsPrefix: config.addon.configVarsPrefix,
        sessionSecret: config.sso.sessionSecret,
        windowS: config.sso.windowS,
        maxSkewS: config.sso.maxSkewS,
        rotateCredentials:
          options.rotateCredentials ??
          (async (uuid, actor) => void (await startRotation(pool, sealer, uuid, actor))),
      }),
    ],
    ready: async () => {
      if (shuttingDown || nc.isClosed()) return false;
      await ping(pool);
      await nc.flush();
      return true;
    },
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
      await waiter.close();
      await nc.drain().catch(() => undefined);
      await pool.end();
    },
  };
}
