/** Who may reach a dashboard: a session for that resource, and a resource still open. */
import type { Context } from 'koa';
import { getResource, type ResourceRow } from '../db/resources.js';
import { html, forbid } from './respond.js';
import { SESSION_COOKIE, type Session } from './session.js';
import type { SsoSetup } from './setup.js';
import { expiredPage } from './view.js';

const CLOSED = new Set(['deprovisioning', 'deprovisioned']);

export const isOpen = (r: ResourceRow | undefined): r is ResourceRow =>
  r !== undefined && !CLOSED.has(r.state);

/** The session for this uuid, or undefined after answering 403 / session-expired. */
export async function requireSession(
  sso: SsoSetup,
  ctx: Context,
  uuid: string,
): Promise<{ session: Session; resource: ResourceRow } | undefined> {
  const check = sso.sessions.read(ctx.cookies.get(SESSION_COOKIE), sso.now());
  if (!check.ok) {
    if (check.reason === 'expired') html(ctx, 403, expiredPage());
    else forbid(ctx);
    return undefined;
  }
  if (check.session.uuid !== uuid.toLowerCase()) return void forbid(ctx);
  const resource = await getResource(sso.pool, check.session.uuid);
  if (!isOpen(resource)) return void forbid(ctx);
  return { session: check.session, resource };
}
