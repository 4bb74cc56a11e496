/** GET /dashboard/:uuid: the resource of the session, its operations and its masked URL. */
import type { Context } from 'koa';
import { listOperations, type OperationRow } from '../db/operations.js';
import type { ResourceRow } from '../db/resources.js';
import { requireSession } from './access.js';
import { html } from './respond.js';
import type { Session } from './session.js';
import type { SsoSetup } from './setup.js';
import { dashboardPage, type DashboardView } from './view.js';

/** `<prefix>_URL` from the sealed config, or null when there is none or it cannot be opened. */
function connectionUrl(sso: SsoSetup, r: ResourceRow): string | null {
  if (!r.config_enc) return null;
  try {
    return (
      sso.sealer.openJson<Record<string, string>>(r.config_enc)[`${sso.configVarsPrefix}_URL`] ??
      null
    );
  } catch (err) {
    sso.log.warn({ err, resourceId: r.uuid }, 'cannot open resource config');
    return null;
  }
}

function dashboardView(
  sso: SsoSetup,
  session: Session,
  r: ResourceRow,
  { url, ops }: { url: string | null; ops: OperationRow[] },
): DashboardView {
  return {
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
    csrfToken: sso.sessions.csrfToken(session),
  };
}

export async function showDashboard(sso: SsoSetup, ctx: Context, uuid: string): Promise<void> {
  const ok = await requireSession(sso, ctx, uuid);
  if (!ok) return;
  const { session, resource } = ok;
  const url = connectionUrl(sso, resource);
  const ops = await listOperations(sso.pool, resource.uuid);
  html(ctx, 200, dashboardPage(dashboardView(sso, session, resource, { url, ops })));
}
