/** SQL for the resources table. */
import { currentTraceparent } from '../../../shared/src/tracing/context.js';
import { openOperationSql } from './operations.js';
import { prepared, type Queryable } from './pool.js';

export type ResourceState =
  'provisioning' | 'provisioned' | 'deprovisioning' | 'deprovisioned' | 'failed';

export interface ResourceRow {
  uuid: string;
  name: string;
  plan: string;
  region_value: string;
  heroku_region: string;
  private_space: boolean | null;
  agent_region: string;
  state: ResourceState;
  generation: number;
  applied_generation: number;
  config_enc: string | null;
  endpoint: { host: string; port: number } | null;
  certificate: { notAfter: string; fingerprint: string } | null;
  callback_url: string | null;
  oauth_grant_enc: string | null;
  log_input_url_enc: string | null;
  created_at: Date;
  updated_at: Date;
  deprovisioned_at: Date | null;
}

export interface NewResource {
  uuid: string;
  name: string;
  plan: string;
  regionValue: string;
  herokuRegion: string;
  privateSpace: boolean | null;
  agentRegion: string;
  callbackUrl: string | null;
  logInputUrlEnc: string | null;
  options: Record<string, string>;
  oauthGrantEnc: string | null;
  oauthGrantExpiresAt: string | null;
}

const INSERT_RESOURCE = `insert into resources (uuid, name, plan, region_value, heroku_region,
    private_space, agent_region, state, generation, callback_url, log_input_url_enc, options,
    oauth_grant_enc, oauth_grant_expires_at)
  values ($1, $2, $3, $4, $5, $6, $7, 'provisioning', 1, $8, $9, $10, $11, $12)
  on conflict (uuid) do nothing`;

/** $1…$12 of INSERT_RESOURCE. */
function resourceParams(r: NewResource): unknown[] {
  return [
    r.uuid,
    r.name,
    r.plan,
    r.regionValue,
    r.herokuRegion,
    r.privateSpace,
    r.agentRegion,
    r.callbackUrl,
    r.logInputUrlEnc,
    JSON.stringify(r.options),
    r.oauthGrantEnc,
    r.oauthGrantExpiresAt,
  ];
}

/** Insert unless the uuid exists; returns true when this call created it. */
export async function insertResource(db: Queryable, r: NewResource): Promise<boolean> {
  const res = await db.query(INSERT_RESOURCE, resourceParams(r));
  return res.rowCount === 1;
}

export async function getResource(
  db: Queryable,
  uuid: string,
  forUpdate = false,
): Promise<ResourceRow | undefined> {
  const res = await db.query<ResourceRow>(
    `select * from resources where uuid = $1${forUpdate ? ' for update' : ''}`,
    [uuid],
  );
  return res.rows[0];
}

export interface NewProvision {
  resource: NewResource;
  operationId: string;
  requestId: string | null;
  /** What the `provision_requested` audit event records. */
  auditDetail: Record<string, unknown>;
  /** Queue the grant exchange (false when there is no grant, or a lookup already spent it). */
  exchangeGrant: boolean;
  /** Heroku will get a 202 at once: flag the operation now (see ops/usecases/outcome.ts). */
  answerAsync: boolean;
  /** With answerAsync, the sealed "provisioning started" app log line, if the app has a log. */
  startedLogEnc: string | null;
}

declare const asyncFlag: unique symbol;
/** Proof that the accepting insert itself wrote the operation's answer_async flag. */
export type AsyncFlagWritten = { readonly [asyncFlag]: true };

export type ProvisionInsert =
  { created: false } | { created: true; asyncFlag: AsyncFlagWritten | undefined };

const INSERT_PROVISION = prepared(
  'insert_provision',
  `with r as (${INSERT_RESOURCE} returning uuid, plan),
     o as (
       insert into operations (id, resource_uuid, kind, generation, state, plan, params, answer_async, traceparent)
       select $13, uuid, 'provision', 1, 'pending', plan, '{}', $17, $19 from r returning id),
     a as (
       insert into audit_events (resource_uuid, actor, action, detail, request_id)
       select uuid, 'heroku', 'provision_requested', $14, $15 from r),
     h as (
       insert into heroku_calls (resource_uuid, kind, dedupe_key, payload_enc, traceparent)
       select uuid, 'exchange_grant', 'grant', null, $19 from r where $16::boolean
         -- belt and braces: tokens an earlier lookup stored mean the grant is spent
         and not exists (select 1 from heroku_tokens t where t.resource_uuid = r.uuid)
       union all
       select uuid, 'app_log', 'started', $18, $19 from r where $17 and $18::text is not null)
     select id from o`,
);

/**
 * Provision acceptance in one statement, one commit (atomic without an explicit
 * transaction): the resource, its first operation (flagged answer_async when Heroku gets a
 * 202 at once), the audit event, the grant exchange and the "started" log line. No NOTIFY:
 * a NOTIFY in the commit serialises every accepting transaction behind one lock held through
 * the WAL flush (Postgres ≤ 16), so the caller wakes its own dispatcher and call worker, and
 * other replicas find the work on their sweep. `created: false` when the uuid already existed
 * (a replay or a concurrent duplicate): nothing is written then.
 */
export async function insertProvision(db: Queryable, p: NewProvision): Promise<ProvisionInsert> {
  const res = await db.query(
    INSERT_PROVISION([
      ...resourceParams(p.resource),
      p.operationId,
      JSON.stringify(p.auditDetail),
      p.requestId,
      p.exchangeGrant,
      p.answerAsync,
      p.startedLogEnc,
      currentTraceparent(), // the request's trace goes on with the dispatch and the calls
    ]),
  );
  if (res.rowCount !== 1) return { created: false };
  return { created: true, asyncFlag: p.answerAsync ? ({} as AsyncFlagWritten) : undefined };
}

/** Reserve the next generation for a new operation on a locked resource. */
export async function bumpGeneration(
  db: Queryable,
  uuid: string,
  fields: { state?: ResourceState; plan?: string } = {},
): Promise<number> {
  const res = await db.query<{ generation: number }>(
    `update resources set generation = generation + 1, state = coalesce($2, state), plan = coalesce($3, plan),
       updated_at = now() where uuid = $1 returning generation`,
    [uuid, fields.state ?? null, fields.plan ?? null],
  );
  return res.rows[0]!.generation;
}

export interface AppliedResult {
  uuid: string;
  generation: number;
  state: ResourceState;
  configEnc?: string | null;
  endpoint?: unknown;
  certificate?: unknown;
  deprovisioned?: boolean;
}

/** Apply an agent result unless a newer generation was already applied. */
export async function applyResult(db: Queryable, a: AppliedResult): Promise<boolean> {
  const res = await db.query(
    `update resources set applied_generation = $2,
       state = case when generation <= $2 or $3 = 'failed' then $3 else state end,
       config_enc = coalesce($4, config_enc),
       endpoint = coalesce($5, endpoint), certificate = coalesce($6, certificate),
       deprovisioned_at = case when $7 then now() else deprovisioned_at end,
       updated_at = now()
     where uuid = $1 and applied_generation < $2`,
    [
      a.uuid,
      a.generation,
      a.state,
      a.configEnc ?? null,
      a.endpoint ? JSON.stringify(a.endpoint) : null,
      a.certificate ? JSON.stringify(a.certificate) : null,
      a.deprovisioned ?? false,
    ],
  );
  return res.rowCount === 1;
}

/** The resource of a failed operation: `failed` if it was still in `from` (provisioning, deprovisioning). */
export async function markResourceFailed(
  db: Queryable,
  uuid: string,
  from: 'provisioning' | 'deprovisioning',
): Promise<void> {
  await db.query(
    `update resources set state = 'failed', updated_at = now() where uuid = $1 and state = $2`,
    [uuid, from],
  );
}

/** Back to `fromPlan` after a failed change to `toPlan` (unless something changed it since). */
export async function restorePlan(
  db: Queryable,
  uuid: string,
  fromPlan: string,
  toPlan: string,
): Promise<void> {
  await db.query(
    `update resources set plan = $2, updated_at = now() where uuid = $1 and plan = $3`,
    [uuid, fromPlan, toPlan],
  );
}

/** Whether Heroku gave this add-on a log_input_url (app log lines are only queued then). */
export async function hasLogInput(db: Queryable, uuid: string): Promise<boolean> {
  const r = await db.query<{ has: boolean }>(
    'select log_input_url_enc is not null as has from resources where uuid = $1',
    [uuid],
  );
  return r.rows[0]?.has ?? false;
}

/** A failed deprovision tried again: the resource is being deprovisioned once more. */
export async function markDeprovisioningAgain(db: Queryable, uuid: string): Promise<void> {
  await db.query(
    `update resources set state = 'deprovisioning', updated_at = now() where uuid = $1 and state = 'failed'`,
    [uuid],
  );
}

/** Resources per agent region and state, and open operations per agent region. */
export async function regionCounts(
  db: Queryable,
): Promise<Array<{ agent_region: string; state: string; n: number; open_ops: number }>> {
  const res = await db.query<{ agent_region: string; state: string; n: number; open_ops: number }>(
    `select r.agent_region, r.state, count(*)::int as n,
            (select count(*)::int from operations o join resources x on x.uuid = o.resource_uuid
              where x.agent_region = r.agent_region and ${openOperationSql('o')}) as open_ops
       from resources r group by r.agent_region, r.state`,
  );
  return res.rows;
}
