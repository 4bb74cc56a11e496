/** Operator commands about fleet truth: drift, reconcile, remove-unknown. */
import type { Catalog } from '../catalog/schema.js';
import { listFindings } from '../db/drift.js';
import type { Pool } from '../db/pool.js';
import { removeUnknown } from '../fleet/actions.js';
import { reconcileAll, type ReconcileDeps, type RegionReport } from '../fleet/reconcile.js';
import { age, table, type Flags } from './commands.js';

const MEANING: Record<string, string> = {
  missing: 'provisioned, but the region has no working instance: a repair re-creates it',
  stale: 'runs another plan or an older generation: a repair re-applies the current one',
  orphan: 'its add-on is gone: removed after ORPHAN_GRACE_S',
  unknown: 'no add-on of ours: reported only; `remove-unknown <uuid> --region R --yes` deletes it',
};

/** The findings of the last pass of each region. */
export async function drift(pool: Pool, flags: Flags): Promise<string> {
  const findings = await listFindings(pool, flags.region);
  if (flags.json) return `${JSON.stringify(findings, null, 2)}\n`;
  const rows = findings.map((f) => ({
    region: f.agent_region,
    uuid: f.uuid,
    finding: f.finding,
    reason: String(f.detail.reason ?? ''),
    action: f.action,
    repairs: f.repairs,
    'first seen': `${age(f.first_seen_at)} ago`,
  }));
  const kinds = [...new Set(findings.map((f) => f.finding))];
  return (
    table(rows, 'no drift: every region matched the database at its last pass') +
    kinds.map((k) => `\n${k}: ${MEANING[k]}`).join('') +
    (kinds.length ? '\n' : '')
  );
}

function reportText(reports: RegionReport[], dryRun: boolean): string {
  return reports
    .map((r) => {
      if (r.status === 'busy') return `${r.region}: another replica is reconciling it now\n`;
      if (r.status === 'skipped') return `${r.region}: skipped: ${r.error ?? 'unknown'}\n`;
      const head = `${r.region}: ${r.instances ?? 0} instances, ${r.findings.length} findings${dryRun ? ' (dry run: nothing changed)' : ''}\n`;
      const rows = r.findings.map((f) => ({
        uuid: f.uuid,
        finding: f.finding,
        reason: f.reason,
        action: f.action,
        operation: f.operationId ?? '',
      }));
      return head + (rows.length ? table(rows, '') : '');
    })
    .join('');
}

/** A pass now, in every region or one; with --dry-run it only says what it would do. */
export async function reconcileNow(deps: ReconcileDeps, flags: Flags): Promise<string> {
  const reports = await reconcileAll(deps, {
    force: true,
    dryRun: flags.dryRun,
    region: flags.region,
  });
  if (flags.region && reports.length === 0) throw new Error(`no agent region ${flags.region}`);
  if (flags.json) return `${JSON.stringify(reports, null, 2)}\n`;
  return reportText(reports, flags.dryRun);
}

export async function removeUnknownInstance(
  pool: Pool,
  catalog: Catalog,
  uuid: string | undefined,
  flags: Flags,
): Promise<string> {
  if (!uuid || !flags.region)
    throw new Error(
      'usage: npm run operator -- remove-unknown <uuid> --region <agent-region> --yes',
    );
  if (!flags.yes)
    throw new Error(
      `this deletes instance ${uuid} and its data in ${flags.region}; add --yes to go ahead`,
    );
  const operationId = await removeUnknown(pool, catalog, uuid, flags.region);
  return flags.json
    ? `${JSON.stringify({ uuid, region: flags.region, operationId })}\n`
    : `removal of ${uuid} in ${flags.region} requested: operation ${operationId} (see: npm run operator -- show ${uuid})\n`;
}
