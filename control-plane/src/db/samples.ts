/** SQL for instance samples: what the reconciler heard from each instance, kept 25 hours. */
import type { InstanceStats } from '../../../shared/src/messages.js';
import type { Queryable } from './pool.js';

export interface NewSample {
  uuid: string;
  ready: boolean;
  stats?: InstanceStats;
}

export interface SampleRow {
  at: Date;
  ready: boolean;
  stats: InstanceStats | null;
}

/** One row per instance, all at the statement's now(); a repeated (uuid, at) is ignored. */
export async function insertSamples(db: Queryable, samples: NewSample[]): Promise<void> {
  if (samples.length === 0) return;
  await db.query(
    `insert into instance_samples (resource_uuid, ready, stats)
     select * from unnest($1::uuid[], $2::boolean[], $3::jsonb[])
     on conflict do nothing`,
    [
      samples.map((s) => s.uuid),
      samples.map((s) => s.ready),
      samples.map((s) => (s.stats ? JSON.stringify(s.stats) : null)),
    ],
  );
}

/** One resource's samples of the last 24 hours, oldest first. */
export async function recentSamples(db: Queryable, uuid: string): Promise<SampleRow[]> {
  const res = await db.query<SampleRow>(
    `select at, ready, stats from instance_samples
      where resource_uuid = $1 and at >= now() - interval '24 hours'
      order by at`,
    [uuid],
  );
  return res.rows;
}

/** Deletes up to `limit` samples older than 25 hours; returns how many went. */
export async function pruneSamples(db: Queryable, limit: number): Promise<number> {
  const res = await db.query(
    `delete from instance_samples where ctid = any(array(
       select ctid from instance_samples where at < now() - interval '25 hours' limit $1))`,
    [limit],
  );
  return res.rowCount ?? 0;
}
