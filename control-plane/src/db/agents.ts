/** SQL for agent_heartbeats: which region agents are alive. */
import type { Queryable } from './pool.js';

export async function recordHeartbeat(
  db: Queryable,
  h: { agentRegion: string; agentId: string; driver: string; inFlight: number; startedAt: string },
): Promise<void> {
  await db.query(
    `insert into agent_heartbeats (agent_region, agent_id, driver, in_flight, started_at, last_seen_at)
     values ($1, $2, $3, $4, $5, now())
     on conflict (agent_region, agent_id) do update set driver = excluded.driver,
       in_flight = excluded.in_flight, started_at = excluded.started_at, last_seen_at = now()`,
    [h.agentRegion, h.agentId, h.driver, h.inFlight, h.startedAt],
  );
}

export interface RegionLiveness {
  agent_region: string;
  agents: number;
  /** Agents heard from within the dead-after window. */
  live_agents: number;
  last_seen_at: Date;
  last_seen_age_s: number;
}

/** Per region ever heard from: its agents, how many are alive, and the freshest heartbeat. */
export async function regionLiveness(db: Queryable, deadAfterS: number): Promise<RegionLiveness[]> {
  const res = await db.query<RegionLiveness>(
    `select agent_region, count(*)::int as agents,
            count(*) filter (where last_seen_at > now() - ($1::int * interval '1 second'))::int as live_agents,
            max(last_seen_at) as last_seen_at,
            extract(epoch from now() - max(last_seen_at))::int as last_seen_age_s
       from agent_heartbeats group by agent_region order by agent_region`,
    [deadAfterS],
  );
  return res.rows;
}

/** Agents not heard from for a day are forgotten (a replaced pod's id never comes back). */
export async function forgetOldAgents(db: Queryable): Promise<void> {
  await db.query(`delete from agent_heartbeats where last_seen_at < now() - interval '1 day'`);
}
