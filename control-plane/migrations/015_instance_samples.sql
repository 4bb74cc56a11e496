-- What each instance said of itself at a reconcile pass (fleet/samples.ts), for the customer
-- dashboard's "How it is doing" card: whether it answered, and its numbers (memory used and
-- limit, keys, clients, ops/s, uptime) when the agent measured them (stats is null for an
-- instance that did not answer, or from an agent too old to measure). Kept 25 hours; the
-- pass prunes older rows. The primary key serves one resource's time range. Expand-only.
create table if not exists instance_samples (
  resource_uuid uuid not null,
  at timestamptz not null default now(),
  ready boolean not null,
  stats jsonb,
  primary key (resource_uuid, at)
);
-- The prune's range over every resource.
create index if not exists instance_samples_at on instance_samples (at);
