/** GET /metrics on the control plane's port, behind an optional bearer token (METRICS_TOKEN). */
import Router from '@koa/router';
import type { Context } from 'koa';
import { exposition, scrapeAllowed } from '../../../shared/src/metrics.js';
import type { ControlPlaneMetrics } from './metrics.js';

export function metricsRoutes(metrics: ControlPlaneMetrics, token: string | undefined): Router {
  const router = new Router();
  router.get('/metrics', async (ctx) => {
    if (!scrapeAllowed(ctx.get('authorization') || undefined, token)) {
      ctx.status = 401;
      ctx.set('WWW-Authenticate', 'Bearer realm="metrics"');
      ctx.body = { message: 'A bearer token is required', code: 'unauthorized' };
      return;
    }
    const { contentType, body } = await exposition(metrics.registry);
    ctx.type = contentType;
    ctx.body = body;
  });
  return router;
}

/** The route label: the router's pattern (`/heroku/resources/:id`), never the raw path. */
export function routeOf(ctx: Context): string {
  const matched = (ctx as Context & { _matchedRoute?: string | RegExp })._matchedRoute;
  return matched === undefined ? 'unmatched' : String(matched);
}
