/** SQL for reconciliation: what the database says a region runs, findings, and the pass lease. */
import type { Queryable } from './pool.js';
import type { ResourceState } from './resources.js';

export type FindingKind = 'missing' | 'stale' | 'orphan' | 'unknown';

/** A resource as the reconciler compares it with an inventory. */
export interface FleetRow {
  uuid: string;
  state: ResourceState;
  plan: string;
  agent_region: string;
  /** An operation is open, or one finished after the inventory was asked for: hands off. */
  busy: boolean;
  /** The generation of the newest succeeded operation that leaves an instance behind. */
  good_generation: number | null;
}

/**
 * The region's provisioned resources, and the resources of the uuids it reported (whatever
 * their region or state). `since` is when the inventory was requested.
 */
export async function fleetRows(
  db: Queryable,
  region: string,
  reported: string[],
  since: Date,
): Promise<FleetRow[]> {
  const res = await db.query<FleetRow>(
    `select r.uuid, r.state, r.plan, r.agent_region,
            exists (select 1 from operations o where o.resource_uuid = r.uuid
                     and (o.state in ('pending', 'dispatched') or o.completed_at >= $3)) as busy,
            (select max(o.generation)::int from operations o where o.resource_uuid = r.uuid
               and o.state = 'succeeded' and o.kind <> 'deprovision') as good_generation
       from resources r
      where (r.agent_region = $1 and r.state = 'provisioned') or r.uuid = any($2::uuid[])`,
    [region, reported, since],
  );
  return res.rows;
}

export interface FindingRow {
  agent_region: string;
  uuid: string;
  finding: FindingKind;
  detail: Record<string, unknown>;
  first_seen_at: Date;
  last_seen_at: Date;
  action: string;
  repairs: number;
}

export async function regionFindings(db: Queryable, region: string): Promise<FindingRow[]> {
  const res = await db.query<FindingRow>(
    'select * from drift_findings where agent_region = $1 order by uuid',
    [region],
  );
  return res.rows;
}

export async function getFinding(
  db: Queryable,
  region: string,
  uuid: string,
): Promise<FindingRow | undefined> {
  const res = await db.query<FindingRow>(
    'select * from drift_findings where agent_region = $1 and uuid = $2',
    [region, uuid],
  );
  return res.rows[0];
}

export async function listFindings(db: Queryable, region?: string): Promise<FindingRow[]> {
  const res = await db.query<FindingRow>(
    `select * from drift_findings where $1::text is null or agent_region = $1
      order by agent_region, finding, uuid`,
    [region ?? null],
  );
  return res.rows;
}

/** The region's findings become `rows`: upserted (first_seen_at kept), the others deleted. */
export async function replaceFindings(
  db: Queryable,
  region: string,
  rows: Array<Pick<FindingRow, 'uuid' | 'finding' | 'detail' | 'action' | 'repairs'>>,
): Promise<void> {
  await db.query(
    `delete from drift_findings where agent_region = $1 and not (uuid = any($2::uuid[]))`,
    [region, rows.map((r) => r.uuid)],
  );
  if (rows.length === 0) return;
  await db.query(
    `insert into drift_findings (agent_region, uuid, finding, detail, action, repairs)
     select $1, f.uuid, f.finding, f.detail, f.action, f.repairs
       from jsonb_to_recordset($2::jsonb)
         as f(uuid uuid, finding text, detail jsonb, action text, repairs int)
     on conflict (agent_region, uuid) do update set
       first_seen_at = case when drift_findings.finding = excluded.finding
                            then drift_findings.first_seen_at else now() end,
       finding = excluded.finding, detail = excluded.detail, action = excluded.action,
       repairs = excluded.repairs, last_seen_at = now()`,
    [region, JSON.stringify(rows)],
  );
}

export interface ReconcileRun {
  agent_region: string;
  leased_by: string | null;
  leased_until: Date | null;
  last_started_at: Date | null;
  last_finished_at: Date | null;
  last_summary: Record<string, number> | null;
  last_error: string | null;
}

/**
 * Takes the region's pass when nobody holds it and (unless `force`) the last one started at
 * least `intervalS` ago, so N replicas run one pass per interval between them. Resolves with
 * the previous pass's error, or undefined when the pass is not this caller's.
 */
export async function claimReconcile(
  db: Queryable,
  region: string,
  holder: string,
  leaseMs: number,
  intervalS: number,
  force: boolean,
): Promise<{ lastError: string | null } | undefined> {
  await db.query('insert into reconcile_runs (agent_region) values ($1) on conflict do nothing', [
    region,
  ]);
  const res = await db.query(
    `update reconcile_runs set leased_by = $2, leased_until = now() + $3 * interval '1 millisecond',
            last_started_at = now()
      where agent_region = $1 and (leased_until is null or leased_until < now())
        and ($5 or last_started_at is null or last_started_at <= now() - $4 * interval '1 second')
      returning last_error`,
    [region, holder, leaseMs, intervalS * 0.9, force],
  );
  const row = res.rows[0] as { last_error: string | null } | undefined;
  return row ? { lastError: row.last_error } : undefined;
}

export async function finishReconcile(
  db: Queryable,
  region: string,
  holder: string,
  outcome: { summary?: Record<string, number>; error?: string },
): Promise<void> {
  await db.query(
    `update reconcile_runs set leased_by = null, leased_until = null, last_finished_at = now(),
            last_summary = coalesce($3, last_summary), last_error = $4
      where agent_region = $1 and leased_by = $2`,
    [
      region,
      holder,
      outcome.summary ? JSON.stringify(outcome.summary) : null,
      outcome.error ?? null,
    ],
  );
}

export async function reconcileRuns(db: Queryable): Promise<ReconcileRun[]> {
  return (await db.query<ReconcileRun>('select * from reconcile_runs order by agent_region')).rows;
}

/** Findings per region and kind, and whether each region's last pass was skipped (metrics). */
export async function driftCounts(db: Queryable): Promise<{
  findings: Array<{ agent_region: string; finding: FindingKind; n: number }>;
  runs: Array<{ agent_region: string; skipped: boolean; age_s: number | null }>;
}> {
  const findings = await db.query<{ agent_region: string; finding: FindingKind; n: number }>(
    'select agent_region, finding, count(*)::int as n from drift_findings group by 1, 2',
  );
  const runs = await db.query<{ agent_region: string; skipped: boolean; age_s: number | null }>(
    `select agent_region, last_error is not null as skipped,
            extract(epoch from now() - last_finished_at)::int as age_s
       from reconcile_runs`,
  );
  return { findings: findings.rows, runs: runs.rows };
}
