/** The audit trail: who did what to which resource, and when. */
import type { Queryable } from './pool.js';

export type Actor = 'heroku' | 'agent' | 'operator' | 'system' | `sso:${string}`;

export async function audit(
  db: Queryable,
  e: {
    uuid: string | null;
    actor: Actor;
    action: string;
    detail?: Record<string, unknown>;
    requestId?: string;
  },
): Promise<void> {
  await db.query(
    'insert into audit_events (resource_uuid, actor, action, detail, request_id) values ($1, $2, $3, $4, $5)',
    [e.uuid, e.actor, e.action, JSON.stringify(e.detail ?? {}), e.requestId ?? null],
  );
}

export interface AuditRow {
  resource_uuid: string | null;
  actor: string;
  action: string;
  detail: Record<string, unknown>;
  created_at: Date;
}

export async function listAudit(db: Queryable, uuid: string): Promise<AuditRow[]> {
  return (
    await db.query<AuditRow>('select * from audit_events where resource_uuid = $1 order by id', [
      uuid,
    ])
  ).rows;
}
