/**
 * What differs between a region's inventory and the database, and what to do about it. Pure:
 * reconcile.ts feeds it the rows and carries out the decisions.
 *
 * - missing: provisioned here, but the region has no instance, or one that does not answer.
 * - stale: the instance runs another plan, or an older generation than the last one applied.
 * - orphan: an instance whose add-on is gone (deprovisioned, failed, stuck deprovisioning).
 * - unknown: an instance whose uuid the database does not place in this region at all.
 * A resource with an operation open (or one that finished while the inventory was taken)
 * is left alone: its operation, not the reconciler, decides what runs.
 */
import type { InstanceSummary } from '../../../shared/src/messages.js';
import type { FindingKind, FindingRow, FleetRow } from '../db/drift.js';

export interface Finding {
  uuid: string;
  finding: FindingKind;
  reason: string;
}

export type Decision =
  | { act: 'repair' }
  | { act: 'remove' }
  | { act: 'wait'; why: 'waiting_grace' | 'repair_budget_spent' }
  | { act: 'report' };

export interface DecideOptions {
  orphanGraceS: number;
  maxRepairs: number;
  now: Date;
  /** The operator's `reconcile`: one more repair even past the budget (the cause was fixed). */
  pastBudget?: boolean;
}

function againstDatabase(row: FleetRow, inst: InstanceSummary | undefined): Finding | undefined {
  const { uuid } = row;
  if (!inst) return { uuid, finding: 'missing', reason: 'no instance in the region' };
  if (!inst.ready) return { uuid, finding: 'missing', reason: 'the instance does not answer' };
  if (inst.plan !== row.plan)
    return { uuid, finding: 'stale', reason: `runs plan ${inst.plan}, expected ${row.plan}` };
  if (row.good_generation !== null && inst.generation < row.good_generation)
    return {
      uuid,
      finding: 'stale',
      reason: `runs generation ${inst.generation}, expected ${row.good_generation}`,
    };
  return undefined;
}

function ofInstance(
  region: string,
  inst: InstanceSummary,
  row: FleetRow | undefined,
): Finding | undefined {
  const { uuid } = inst;
  if (!row) return { uuid, finding: 'unknown', reason: 'no add-on with this uuid is known' };
  if (row.agent_region !== region)
    return {
      uuid,
      finding: 'unknown',
      reason: `the database places this add-on in ${row.agent_region}`,
    };
  if (row.busy) return undefined;
  if (row.state === 'deprovisioned' || row.state === 'failed' || row.state === 'deprovisioning')
    return { uuid, finding: 'orphan', reason: `its add-on is ${row.state}` };
  return undefined;
}

/** Every finding of one region's pass. */
export function findDrift(
  region: string,
  instances: InstanceSummary[],
  rows: FleetRow[],
): Finding[] {
  const byUuid = new Map(instances.map((i) => [i.uuid, i]));
  const rowOf = new Map(rows.map((r) => [r.uuid, r]));
  const findings = new Map<string, Finding>();
  for (const row of rows) {
    if (row.agent_region !== region || row.state !== 'provisioned' || row.busy) continue;
    const f = againstDatabase(row, byUuid.get(row.uuid));
    if (f) findings.set(f.uuid, f);
  }
  for (const inst of instances) {
    const f = ofInstance(region, inst, rowOf.get(inst.uuid));
    if (f) findings.set(f.uuid, f);
  }
  return [...findings.values()];
}

/** What one finding leads to, given what earlier passes saw of it. */
export function decide(f: Finding, prior: FindingRow | undefined, o: DecideOptions): Decision {
  switch (f.finding) {
    case 'missing':
    case 'stale': {
      const repairs = prior?.finding === f.finding ? prior.repairs : 0;
      return repairs < o.maxRepairs || o.pastBudget
        ? { act: 'repair' }
        : { act: 'wait', why: 'repair_budget_spent' };
    }
    case 'orphan': {
      const since = prior?.finding === 'orphan' ? prior.first_seen_at : o.now;
      return o.now.getTime() - since.getTime() >= o.orphanGraceS * 1000
        ? { act: 'remove' }
        : { act: 'wait', why: 'waiting_grace' };
    }
    case 'unknown':
      return { act: 'report' };
  }
}

/** Two inventories of one region (agents sharing a cluster): one entry per uuid, the best seen. */
export function mergeInventories(lists: InstanceSummary[][]): InstanceSummary[] {
  const merged = new Map<string, InstanceSummary>();
  for (const list of lists)
    for (const inst of list) {
      const seen = merged.get(inst.uuid);
      if (!seen || (inst.ready && !seen.ready) || inst.generation > seen.generation)
        merged.set(inst.uuid, inst);
    }
  return [...merged.values()];
}
