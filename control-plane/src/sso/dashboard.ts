/**
 * GET /dashboard/:uuid: the resource of the session, its operations, its masked URL, its plan;
 * GET /dashboard/:uuid/ca.pem: the CA its clients verify the server against.
 */
import type { Logger } from '../../../shared/src/logger.js';
import type { Context } from 'koa';
import { listOperations, type OperationRow } from '../db/operations.js';
import type { ResourceRow } from '../db/resources.js';
import { recentSamples, type SampleRow } from '../db/samples.js';
import { requireSession } from './access.js';
import { html } from './respond.js';
import { messagePage } from './view.js';
import type { Session } from './session.js';
import type { SsoSetup } from './setup.js';
import { dashboardPage, type DashboardView } from './dashboard-view.js';

/** The sealed config vars, or {} when there are none or they cannot be opened. */
function configVars(sso: SsoSetup, ctx: Context, r: ResourceRow): Record<string, string> {
  if (!r.config_enc) return {};
  try {
    return sso.sealer.openJson<Record<string, string>>(r.config_enc);
  } catch (err) {
    // The request's logger (its lines carry the request id), else the SSO one.
    const log = (ctx.state.log as Logger | undefined) ?? sso.log;
    log.warn({ err, resourceId: r.uuid }, 'cannot open resource config');
    return {};
  }
}

/** When the credentials a rotation replaced stop working, while that is still ahead. */
function revokesAt(ops: OperationRow[]): Date | null {
  const next = ops.find((o) => o.kind === 'revoke_credentials' && o.state !== 'succeeded');
  return next?.not_before ?? null;
}

function dashboardView(
  sso: SsoSetup,
  session: Session,
  r: ResourceRow,
  {
    vars,
    ops,
    samples,
  }: { vars: Record<string, string>; ops: OperationRow[]; samples: SampleRow[] },
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
    url: vars[`${sso.configVarsPrefix}_URL`] ?? null,
    hasCa: Boolean(vars[`${sso.configVarsPrefix}_TLS_CA`]),
    caPem: vars[`${sso.configVarsPrefix}_TLS_CA`],
    operations: ops.map((o) => ({
      kind: o.kind,
      state: o.state,
      at: o.completed_at ?? o.created_at,
    })),
    csrfToken: sso.sessions.csrfToken(session),
    configVarsPrefix: sso.configVarsPrefix,
    now: sso.now(),
    rotationGraceS: sso.rotationGraceS,
    revokesAt: revokesAt(ops),
    planInfo: sso.plans?.find((p) => p.name === r.plan),
    links: sso.links,
    samples,
  };
}

export async function showDashboard(sso: SsoSetup, ctx: Context, uuid: string): Promise<void> {
  const ok = await requireSession(sso, ctx, uuid);
  if (!ok) return;
  const { session, resource } = ok;
  const vars = configVars(sso, ctx, resource);
  const ops = await listOperations(sso.pool, resource.uuid);
  const samples = await recentSamples(sso.pool, resource.uuid);
  html(ctx, 200, dashboardPage(dashboardView(sso, session, resource, { vars, ops, samples })));
}

export async function downloadCa(sso: SsoSetup, ctx: Context, uuid: string): Promise<void> {
  const ok = await requireSession(sso, ctx, uuid);
  if (!ok) return;
  const ca = configVars(sso, ctx, ok.resource)[`${sso.configVarsPrefix}_TLS_CA`];
  if (!ca)
    return void html(ctx, 404, messagePage('Not available yet', 'The CA is not issued yet.'));
  ctx.set('Cache-Control', 'no-store');
  ctx.set('Content-Disposition', 'attachment; filename="ca.pem"');
  ctx.type = 'application/x-pem-file';
  ctx.body = ca;
}
