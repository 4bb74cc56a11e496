/**
 * POST /sso/login: Heroku's SSO form post. A valid, unspent token for an open resource gets a
 * session cookie and a 302 to its dashboard; every refusal is logged and gets the same 403 page.
 */
import type { Context } from 'koa';
import { audit } from '../db/audit.js';
import { getResource } from '../db/resources.js';
import { claimSsoToken } from '../db/sso.js';
import { isOpen } from './access.js';
import { forbid, readFormOrForbid } from './respond.js';
import { SESSION_COOKIE } from './session.js';
import type { SsoSetup } from './setup.js';
import { verifySsoForm, type SsoLogin } from './tokens.js';

function refuse(sso: SsoSetup, ctx: Context, why: { resourceId?: string; reason: string }): void {
  sso.log.info({ requestId: ctx.state.requestId, ...why }, 'sso login refused');
  sso.metrics?.ssoLogin(why.reason);
  forbid(ctx, why.reason);
}

function startSession(sso: SsoSetup, ctx: Context, login: SsoLogin): void {
  const { value } = sso.sessions.issue(login.uuid, login.email, sso.now());
  const attrs = [
    `${SESSION_COOKIE}=${value}`,
    'Path=/',
    `Max-Age=${Math.floor(sso.sessionTtlMs / 1000)}`,
    'HttpOnly',
    'SameSite=Lax',
  ];
  if (ctx.secure) attrs.push('Secure');
  ctx.set('Set-Cookie', attrs.join('; '));
  ctx.set('Cache-Control', 'no-store');
  ctx.status = 302;
  ctx.redirect(`/dashboard/${login.uuid}`);
}

export async function logIn(sso: SsoSetup, ctx: Context): Promise<void> {
  const form = await readFormOrForbid(ctx);
  if (!form) return sso.metrics?.ssoLogin('malformed_form');
  const policy = { salt: sso.salt, windowS: sso.windowS, maxSkewS: sso.maxSkewS };
  const check = verifySsoForm(form, policy, sso.now());
  if (!check.ok) return refuse(sso, ctx, { reason: check.reason });
  const { login } = check;
  if (!isOpen(await getResource(sso.pool, login.uuid)))
    return refuse(sso, ctx, { reason: 'unknown_resource' });
  const fresh = await claimSsoToken(sso.pool, {
    tokenHash: login.replayKey,
    alsoSpends: login.alsoSpends,
    uuid: login.uuid,
    expiresAt: login.expiresAt,
  });
  if (!fresh) return refuse(sso, ctx, { resourceId: login.uuid, reason: 'replayed' });
  await audit(sso.pool, {
    uuid: login.uuid,
    actor: `sso:${login.email}`,
    action: 'sso_login',
    detail: { userId: login.userId, app: form.app ?? null },
    requestId: ctx.state.requestId as string,
  });
  sso.metrics?.ssoLogin('ok');
  startSession(sso, ctx, login);
}
