/**
 * Heroku SSO (heroku-partner-api.md §7) and the per-resource dashboard.
 * POST /sso/login  → session cookie + 302 /dashboard/<uuid>; every refusal is the same 403 page.
 * GET  /dashboard/:uuid, POST /dashboard/:uuid/rotate (CSRF token bound to the session).
 */
import Router from '@koa/router';
import type { Context } from 'koa';
import { ConflictError, DomainError } from '../../../shared/src/errors.js';
import type { Logger } from '../../../shared/src/logger.js';
import type { Sealer } from '../crypto.js';
import { audit } from '../db/audit.js';
import { listOperations } from '../db/operations.js';
import type { Pool } from '../db/pool.js';
import { getResource, type ResourceRow } from '../db/resources.js';
import { claimSsoToken } from '../db/sso.js';
import { FormError, readForm } from './form.js';
import { createSessionCodec, SESSION_COOKIE, type Session } from './session.js';
import { verifySsoForm } from './tokens.js';
import { dashboardPage, expiredPage, forbiddenPage, messagePage } from './view.js';

export type RotateCredentials = (uuid: string, actor: `sso:${string}`) => Promise<void>;

export interface SsoDeps {
  pool: Pool;
  sealer: Sealer;
  log: Logger;
  salt: string;
  /** The manifest's config var prefix: the dashboard shows `<prefix>_URL`. */
  configVarsPrefix: string;
  sessionSecret: string;
  windowS: number;
  maxSkewS: number;
  /** Session lifetime (ms); 2 h by default. */
  sessionTtlMs?: number;
  rotateCredentials?: RotateCredentials;
  now?: () => number;
}

const FORM_LIMIT = 16 * 1024;
const CLOSED = new Set(['deprovisioning', 'deprovisioned']);
const SECURITY_HEADERS: Record<string, string> = {
  'Cache-Control': 'no-store',
  'Content-Security-Policy':
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
};

function html(ctx: Context, status: number, body: string): void {
  ctx.status = status;
  ctx.set(SECURITY_HEADERS);
  ctx.type = 'text/html; charset=utf-8';
  ctx.body = body;
}

const forbid = (ctx: Context): void => html(ctx, 403, forbiddenPage());

export function ssoRoutes(deps: SsoDeps): Router {
  const now = deps.now ?? Date.now;
  const sessions = createSessionCodec(deps.sessionSecret, deps.sessionTtlMs ?? 2 * 3600_000);
  const router = new Router();

  /** The session for this uuid, or undefined after answering 403 / session-expired. */
  async function requireSession(
    ctx: Context,
    uuid: string,
  ): Promise<{ session: Session; resource: ResourceRow } | undefined> {
    const check = sessions.read(ctx.cookies.get(SESSION_COOKIE), now());
    if (!check.ok) {
      if (check.reason === 'expired') html(ctx, 403, expiredPage());
      else forbid(ctx);
      return undefined;
    }
    if (check.session.uuid !== uuid.toLowerCase()) return void forbid(ctx);
    const resource = await getResource(deps.pool, check.session.uuid);
    if (!resource || CLOSED.has(resource.state)) return void forbid(ctx);
    return { session: check.session, resource };
  }

  router.post('/sso/login', async (ctx) => {
    let form: Record<string, string>;
    try {
      form = await readForm(ctx, FORM_LIMIT);
    } catch (err) {
      if (err instanceof FormError) return forbid(ctx);
      throw err;
    }
    const check = verifySsoForm(
      form,
      { salt: deps.salt, windowS: deps.windowS, maxSkewS: deps.maxSkewS },
      now(),
    );
    if (!check.ok) {
      deps.log.info({ requestId: ctx.state.requestId, reason: check.reason }, 'sso login refused');
      return forbid(ctx);
    }
    const { login } = check;
    const resource = await getResource(deps.pool, login.uuid);
    if (!resource || CLOSED.has(resource.state)) {
      deps.log.info(
        { requestId: ctx.state.requestId, reason: 'unknown_resource' },
        'sso login refused',
      );
      return forbid(ctx);
    }
    if (
      !(await claimSsoToken(deps.pool, {
        tokenHash: login.replayKey,
        alsoSpends: login.alsoSpends,
        uuid: login.uuid,
        expiresAt: login.expiresAt,
      }))
    ) {
      deps.log.info(
        { requestId: ctx.state.requestId, resourceId: login.uuid, reason: 'replayed' },
        'sso login refused',
      );
      return forbid(ctx);
    }
    await audit(deps.pool, {
      uuid: login.uuid,
      actor: `sso:${login.email}`,
      action: 'sso_login',
      detail: { userId: login.userId, app: form.app ?? null },
      requestId: ctx.state.requestId as string,
    });
    const { value } = sessions.issue(login.uuid, login.email, now());
    const ttlS = Math.floor((deps.sessionTtlMs ?? 2 * 3600_000) / 1000);
    const attrs = [
      `${SESSION_COOKIE}=${value}`,
      'Path=/',
      `Max-Age=${ttlS}`,
      'HttpOnly',
      'SameSite=Lax',
    ];
    if (ctx.secure) attrs.push('Secure');
    ctx.set('Set-Cookie', attrs.join('; '));
    ctx.set('Cache-Control', 'no-store');
    ctx.status = 302;
    ctx.redirect(`/dashboard/${login.uuid}`);
  });

  router.get('/dashboard/:uuid', async (ctx) => {
    const ok = await requireSession(ctx, ctx.params.uuid!);
    if (!ok) return;
    const { session, resource: r } = ok;
    let url: string | null = null;
    if (r.config_enc) {
      try {
        url =
          deps.sealer.openJson<Record<string, string>>(r.config_enc)[
            `${deps.configVarsPrefix}_URL`
          ] ?? null;
      } catch (err) {
        deps.log.warn({ err, resourceId: r.uuid }, 'cannot open resource config');
      }
    }
    const ops = await listOperations(deps.pool, r.uuid);
    html(
      ctx,
      200,
      dashboardPage({
        uuid: r.uuid,
        name: r.name,
        plan: r.plan,
        herokuRegion: r.heroku_region,
        agentRegion: r.agent_region,
        state: r.state,
        email: session.email,
        host: r.endpoint?.host ?? null,
        port: r.endpoint?.port ?? null,
        certificateNotAfter: r.certificate?.notAfter ?? null,
        url,
        operations: ops.map((o) => ({
          kind: o.kind,
          generation: o.generation,
          state: o.state,
          at: o.completed_at ?? o.created_at,
        })),
        csrfToken: sessions.csrfToken(session),
      }),
    );
  });

  router.post('/dashboard/:uuid/rotate', async (ctx) => {
    const ok = await requireSession(ctx, ctx.params.uuid!);
    if (!ok) return;
    let form: Record<string, string>;
    try {
      form = await readForm(ctx, FORM_LIMIT);
    } catch (err) {
      if (err instanceof FormError) return forbid(ctx);
      throw err;
    }
    if (!sessions.checkCsrf(ok.session, form.csrf ?? '')) return forbid(ctx);
    if (!deps.rotateCredentials) {
      return html(
        ctx,
        501,
        messagePage(
          'Not available yet',
          'Credential rotation is not available yet. Please try again later.',
        ),
      );
    }
    try {
      await deps.rotateCredentials(ok.resource.uuid, `sso:${ok.session.email}`);
    } catch (err) {
      // A refusal (not provisioned yet, gone) is shown on a page; anything else is a 500.
      if (!(err instanceof DomainError)) throw err;
      return html(
        ctx,
        err instanceof ConflictError ? 409 : 400,
        messagePage('Rotation not started', err.message),
      );
    }
    ctx.status = 303;
    ctx.redirect(`/dashboard/${ok.resource.uuid}`);
  });

  return router;
}
