/**
 * The reconciler: every RECONCILE_INTERVAL_S, one replica (a lease row per region) asks each
 * region's agents what they run, compares it with Postgres (drift.ts), and acts through the
 * same operations as everything else: a `repair` for a missing or stale instance, a
 * `deprovision` for an orphan past ORPHAN_GRACE_S; an unknown instance is only reported. A
 * region whose agents are silent or do not all answer is skipped and reported, never read as
 * "everything missing". Findings are kept in drift_findings and audited when they appear and
 * clear.
 */
import { randomUUID } from 'node:crypto';
import type { NatsConnection } from 'nats';
import type { Logger } from '../../../shared/src/logger.js';
import type { Catalog } from '../catalog/schema.js';
import { regionLiveness } from '../db/agents.js';
import { audit } from '../db/audit.js';
import {
  claimReconcile,
  finishReconcile,
  fleetRows,
  regionFindings,
  replaceFindings,
  type FindingRow,
} from '../db/drift.js';
import type { Pool } from '../db/pool.js';
import { decide, findDrift, type Decision, type Finding } from './drift.js';
import { requestInventory } from './inventory.js';
import { requestRemoval, requestRepair } from './actions.js';
import { recordSamples } from './samples.js';

export interface ReconcileDeps {
  pool: Pool;
  nc: NatsConnection;
  log: Logger;
  catalog: Catalog;
  intervalS: number;
  orphanGraceS: number;
  deadAfterS: number;
  maxRepairs: number;
  inventoryTimeoutMs: number;
  /** Who holds a region's lease (replica id). */
  holder: string;
}

export interface FindingReport extends Finding {
  /** What was done (or, in a dry run, would be). */
  action: string;
  operationId?: string;
}

export interface RegionReport {
  region: string;
  status: 'reconciled' | 'skipped' | 'busy';
  error?: string;
  instances?: number;
  findings: FindingReport[];
}

export interface PassOptions {
  /** Run even if the interval has not passed (the operator's `reconcile`). */
  force?: boolean;
  /** Find and say, change nothing. */
  dryRun?: boolean;
}

async function act(
  deps: ReconcileDeps,
  region: string,
  f: Finding,
  d: Decision,
): Promise<FindingReport> {
  if (d.act === 'wait') return { ...f, action: d.why };
  if (d.act === 'report') return { ...f, action: 'reported' };
  const [request, action] =
    d.act === 'repair'
      ? [requestRepair, 'repair_requested']
      : [requestRemoval, 'removal_requested'];
  const operationId = await request(deps.pool, { uuid: f.uuid, region, finding: f });
  // Undefined: something else took the resource meanwhile; the next pass looks again.
  return operationId ? { ...f, action, operationId } : { ...f, action: 'left_to_newer_work' };
}

async function auditChanges(
  deps: ReconcileDeps,
  region: string,
  prior: Map<string, FindingRow>,
  reports: FindingReport[],
): Promise<void> {
  const now = new Set(reports.map((r) => r.uuid));
  for (const r of reports) {
    if (prior.get(r.uuid)?.finding === r.finding) continue;
    const detail = { agentRegion: region, finding: r.finding, reason: r.reason, action: r.action };
    await audit(deps.pool, { uuid: r.uuid, actor: 'system', action: 'drift_found', detail });
    deps.log.warn({ resourceId: r.uuid, ...detail }, `drift: ${r.finding} instance`);
  }
  for (const p of prior.values()) {
    if (now.has(p.uuid)) continue;
    const detail = { agentRegion: region, finding: p.finding };
    await audit(deps.pool, { uuid: p.uuid, actor: 'system', action: 'drift_cleared', detail });
    deps.log.info({ resourceId: p.uuid, ...detail }, 'drift cleared');
  }
}

function repairsAfter(r: FindingReport, prior: FindingRow | undefined): number {
  const before = prior?.finding === r.finding ? prior.repairs : 0;
  return before + (r.action === 'repair_requested' ? 1 : 0);
}

/** Inventory, comparison and (unless a dry run) actions for one region the caller leased. */
async function pass(
  deps: ReconcileDeps,
  region: string,
  opts: { dryRun: boolean; force: boolean },
): Promise<RegionReport> {
  const { dryRun } = opts;
  const live = (await regionLiveness(deps.pool, deps.deadAfterS)).find(
    (l) => l.agent_region === region,
  );
  if (!live || live.live_agents === 0) {
    const error = live ? 'all agents silent' : 'no agent has ever reported';
    return { region, status: 'skipped', error, findings: [] };
  }
  const since = (await deps.pool.query<{ now: Date }>('select now() as now')).rows[0]!.now;
  const inv = await requestInventory(
    deps.nc,
    deps.log,
    region,
    live.live_agents,
    deps.inventoryTimeoutMs,
  );
  const rows = await fleetRows(
    deps.pool,
    region,
    inv.instances.map((i) => i.uuid),
    since,
  );
  const prior = new Map((await regionFindings(deps.pool, region)).map((p) => [p.uuid, p]));
  const options = {
    orphanGraceS: deps.orphanGraceS,
    maxRepairs: deps.maxRepairs,
    now: since,
    pastBudget: opts.force,
  };
  const reports: FindingReport[] = [];
  for (const f of findDrift(region, inv.instances, rows)) {
    const d = decide(f, prior.get(f.uuid), options);
    reports.push(dryRun ? { ...f, action: `would_${d.act}` } : await act(deps, region, f, d));
  }
  if (!dryRun) {
    const plans = new Map(inv.instances.map((i) => [i.uuid, i.plan]));
    await replaceFindings(
      deps.pool,
      region,
      reports.map((r) => ({
        uuid: r.uuid,
        finding: r.finding,
        action: r.action,
        repairs: repairsAfter(r, prior.get(r.uuid)),
        detail: { reason: r.reason, plan: plans.get(r.uuid), operationId: r.operationId },
      })),
    );
    await auditChanges(deps, region, prior, reports);
    await recordSamples(deps.pool, region, inv.instances, rows);
  }
  return { region, status: 'reconciled', instances: inv.instances.length, findings: reports };
}

function summarize(report: RegionReport): Record<string, number> {
  const summary: Record<string, number> = { instances: report.instances ?? 0 };
  for (const f of report.findings) summary[f.finding] = (summary[f.finding] ?? 0) + 1;
  return summary;
}

/** One region's pass, under its lease (a dry run takes no lease and writes nothing). */
export async function reconcileRegion(
  deps: ReconcileDeps,
  region: string,
  opts: PassOptions = {},
): Promise<RegionReport> {
  const force = opts.force ?? false;
  if (opts.dryRun)
    return pass(deps, region, { dryRun: true, force }).catch((err: unknown) => failed(region, err));
  const leaseMs = Math.max(60_000, deps.inventoryTimeoutMs * 4);
  const { pool, holder } = deps;
  const claim = await claimReconcile(pool, region, holder, leaseMs, deps.intervalS, force);
  if (!claim) return { region, status: 'busy', findings: [] };
  const report = await pass(deps, region, { dryRun: false, force }).catch((err: unknown) =>
    failed(region, err),
  );
  await finishReconcile(pool, region, holder, {
    summary: report.status === 'reconciled' ? summarize(report) : undefined,
    error: report.error,
  });
  // Said once when it starts (a region without agents would say it every interval), and when it ends.
  if (report.error && report.error !== claim.lastError)
    deps.log.warn({ agentRegion: region, error: report.error }, 'region not reconciled');
  if (!report.error && claim.lastError)
    deps.log.info({ agentRegion: region }, 'region reconciled again');
  return report;
}

function failed(region: string, err: unknown): RegionReport {
  const error = err instanceof Error ? err.message : String(err);
  return { region, status: 'skipped', error, findings: [] };
}

/** Every agent region of the catalog, one after the other. */
export async function reconcileAll(
  deps: ReconcileDeps,
  opts: PassOptions & { region?: string } = {},
): Promise<RegionReport[]> {
  const regions = deps.catalog.agentRegions
    .map((a) => a.name)
    .filter((r) => !opts.region || r === opts.region);
  const reports: RegionReport[] = [];
  for (const region of regions) reports.push(await reconcileRegion(deps, region, opts));
  return reports;
}

export interface Reconciler {
  start(): void;
  stop(): Promise<void>;
}

/**
 * Tries every region a few times per interval; the lease lets one replica in per interval,
 * so a replica that dies mid-pass is replaced within its lease.
 */
export function createReconciler(deps: ReconcileDeps): Reconciler {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> = Promise.resolve();
  let stopped = false;
  const tickMs = Math.max(1_000, Math.min(30_000, (deps.intervalS * 1000) / 5));
  const tick = (): void => {
    running = reconcileAll(deps)
      .catch((err: unknown) => deps.log.error({ err }, 'reconcile failed; will retry'))
      .finally(() => {
        if (!stopped) timer = setTimeout(tick, tickMs);
      });
  };
  return {
    start() {
      timer = setTimeout(tick, Math.min(tickMs, 2_000));
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}

export const replicaHolder = (): string => `cp-${randomUUID().slice(0, 8)}`;
