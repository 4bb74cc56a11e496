/**
 * After a reconcile pass, one sample per reported instance that is a resource of the region
 * (an orphan or another region's uuid is not this region's to describe): whether it answered,
 * and its numbers when the agent measured them. Old samples are pruned in the same pass, a
 * bounded batch at a time, so a long backlog never makes one pass slow.
 */
import type { InstanceSummary } from '../../../shared/src/messages.js';
import type { FleetRow } from '../db/drift.js';
import type { Queryable } from '../db/pool.js';
import { insertSamples, pruneSamples } from '../db/samples.js';

/** The least a pass prunes; twice what it adds when that is more, so pruning keeps up. */
const PRUNE_BATCH = 5_000;

export async function recordSamples(
  db: Queryable,
  region: string,
  instances: InstanceSummary[],
  rows: FleetRow[],
): Promise<void> {
  const ours = new Set(
    rows.filter((r) => r.agent_region === region && r.state !== 'deprovisioned').map((r) => r.uuid),
  );
  const samples = instances
    .filter((i) => ours.has(i.uuid))
    .map((i) => ({ uuid: i.uuid, ready: i.ready, ...(i.stats ? { stats: i.stats } : {}) }));
  await insertSamples(db, samples);
  await pruneSamples(db, Math.max(PRUNE_BATCH, 2 * samples.length));
}
