/** POST /dashboard/:uuid/rotate: starts a credential rotation (CSRF token bound to the session). */
import type { Context } from 'koa';
import { ConflictError, DomainError } from '../../../shared/src/errors.js';
import { requireSession } from './access.js';
import { forbid, html, readFormOrForbid } from './respond.js';
import type { SsoSetup } from './setup.js';
import { messagePage } from './view.js';

export async function rotateCredentials(sso: SsoSetup, ctx: Context, uuid: string): Promise<void> {
  const ok = await requireSession(sso, ctx, uuid);
  if (!ok) return;
  const form = await readFormOrForbid(ctx);
  if (!form) return;
  if (!sso.sessions.checkCsrf(ok.session, form.csrf ?? '')) return forbid(ctx);
  if (!sso.rotateCredentials) {
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
    await sso.rotateCredentials(ok.resource.uuid, `sso:${ok.session.email}`);
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
}
