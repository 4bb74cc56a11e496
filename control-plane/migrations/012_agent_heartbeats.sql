-- Each region agent's last heartbeat as the control plane received it (fleet/heartbeats.ts):
-- what `operator regions` shows and what decides that a region is down. last_seen_at is
-- the control plane's clock, not the agent's.
create table if not exists agent_heartbeats (
  agent_region text not null,
  agent_id text not null,
  driver text not null,
  in_flight integer not null,
  started_at timestamptz not null,
  last_seen_at timestamptz not null default now(),
  primary key (agent_region, agent_id)
);
