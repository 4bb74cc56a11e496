/** createApp(deps): the Koa application, no sockets opened here. */
import { randomUUID } from 'node:crypto';
import Koa from 'koa';
import Router from '@koa/router';
import bodyParser from 'koa-bodyparser';
import type { Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from '../../shared/src/logger.js';
import { errorMiddleware } from './http/errors.js';
import { herokuRoutes } from './http/heroku-routes.js';
import type { Service } from './ops/usecases/service.js';
import type { ControlPlaneMetrics } from './metrics/metrics.js';
import { routeOf } from './metrics/routes.js';

export interface AppDeps {
  service: Service;
  log: Logger;
  addon: { id: string; password: string };
  maxBodyBytes: number;
  /** Readiness: DB and NATS reachable and not shutting down. */
  ready: () => Promise<boolean>;
  trustProxy?: boolean;
  extraRouters?: Router[];
  metrics?: ControlPlaneMetrics;
}

export function createApp(deps: AppDeps): Koa {
  const app = new Koa({ proxy: deps.trustProxy ?? false });
  app.use(async (ctx, next) => {
    const incoming = ctx.get('x-request-id');
    const requestId = /^[A-Za-z0-9._-]{1,128}$/.test(incoming) ? incoming : randomUUID();
    ctx.state.requestId = requestId;
    // The request's logger: every line it writes names the request (routes hand it on).
    const log = deps.log.child({ requestId });
    ctx.state.log = log;
    ctx.set('X-Request-Id', requestId);
    const started = process.hrtime.bigint();
    await next();
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    deps.metrics?.httpRequest(routeOf(ctx), ctx.method, ctx.status, ms / 1000);
    if (ctx.path !== '/livez' && ctx.path !== '/readyz') {
      log.info(
        {
          method: ctx.method,
          path: ctx.path,
          status: ctx.status,
          ms: Math.round(ms * 10) / 10,
        },
        'request',
      );
    }
  });
  app.use(errorMiddleware);
  app.use(
    bodyParser({
      enableTypes: ['json'],
      extendTypes: { json: ['application/vnd.heroku-addons+json'] },
      jsonLimit: `${deps.maxBodyBytes}b`,
      strict: true,
      onerror: (err: Error & { status?: number }) => {
        throw Object.assign(err, { status: err.status ?? 400, expose: true });
      },
    }),
  );
  const health = new Router();
  health.get('/livez', (ctx) => {
    ctx.body = { status: 'ok' };
  });
  health.get('/readyz', async (ctx) => {
    const ok = await deps.ready().catch(() => false);
    ctx.status = ok ? 200 : 503;
    ctx.body = { status: ok ? 'ready' : 'not ready' };
  });
  app.use(health.routes());
  const heroku = herokuRoutes(deps.service, deps.addon);
  app.use(heroku.routes()).use(heroku.allowedMethods());
  for (const r of deps.extraRouters ?? []) app.use(r.routes()).use(r.allowedMethods());
  app.use((ctx) => {
    ctx.status = 404;
    ctx.body = { message: 'Not found', code: 'not_found' };
  });
  app.on(
    'error',
    (err: unknown, ctx?: Koa.Context) =>
      ((ctx?.state.log as Logger | undefined) ?? deps.log).error(
        { err },
        'unhandled request error',
      ), // the logger's err serializer strips raw bytes
  );
  return app;
}

/**
 * Requests Node cannot even parse (bad chunk size, oversized or invalid headers) never reach
 * Koa: answer them 400 (431 for oversized headers) and log the parser's code only, never the
 * raw bytes, which hold the Authorization header.
 */
export function handleClientErrors(server: Server, log: Logger): void {
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    log.warn({ code: err.code ?? 'unknown' }, 'malformed HTTP request refused');
    // Node's own default: write a raw answer unless a response already started on this socket.
    const current = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (!socket.writable || current?.headersSent) {
      socket.destroy();
      return;
    }
    const status =
      err.code === 'HPE_HEADER_OVERFLOW'
        ? '431 Request Header Fields Too Large'
        : '400 Bad Request';
    const body = JSON.stringify({ message: 'Malformed HTTP request', code: 'bad_request' });
    socket.end(
      `HTTP/1.1 ${status}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  });
}
