/**
 * Heroku SSO (`POST /sso/login` and `GET /dashboard/:uuid` in README.md, "Heroku-facing API")
 * and the per-resource dashboard. This module only wires the handlers:
 * POST /sso/login → login.ts; GET /dashboard/:uuid → dashboard.ts;
 * GET /dashboard/:uuid/ca.pem → dashboard.ts; POST /dashboard/:uuid/rotate → rotate.ts.
 */
import Router from '@koa/router';
import { COPY_SCRIPT, COPY_SCRIPT_PATH } from './copy-script.js';
import { downloadCa, showDashboard } from './dashboard.js';
import { logIn } from './login.js';
import { rotateCredentials } from './rotate.js';
import { setUpSso, type SsoDeps } from './setup.js';

export type { RotateCredentials, SsoDeps } from './setup.js';

export function ssoRoutes(deps: SsoDeps): Router {
  const sso = setUpSso(deps);
  const router = new Router();
  router.get(COPY_SCRIPT_PATH, (ctx) => {
    ctx.type = 'text/javascript; charset=utf-8';
    ctx.set('Cache-Control', 'public, max-age=3600');
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.body = COPY_SCRIPT;
  });
  router.post('/sso/login', (ctx) => logIn(sso, ctx));
  router.get('/dashboard/:uuid', (ctx) => showDashboard(sso, ctx, ctx.params.uuid!));
  router.get('/dashboard/:uuid/ca.pem', (ctx) => downloadCa(sso, ctx, ctx.params.uuid!));
  router.post('/dashboard/:uuid/rotate', (ctx) => rotateCredentials(sso, ctx, ctx.params.uuid!));
  return router;
}
