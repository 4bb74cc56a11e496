-- Fleet truth (fleet/reconcile.ts). Expand-only: a new operation kind, two new tables.
--
-- repair: the reconciler's operation that brings a missing or stale instance back to its
-- resource's current plan and generation, through the outbox like every other operation.
alter table operations drop constraint if exists operations_kind_check;
alter table operations add constraint operations_kind_check
  check (kind in ('provision', 'change_plan', 'deprovision', 'rotate_credentials', 'revoke_credentials', 'repair'));

-- What the last reconcile pass of a region found that differs from the database, one row per
-- instance. A row goes when a later pass no longer finds it; first_seen_at survives passes
-- (the orphan grace period counts from it).
create table if not exists drift_findings (
  agent_region text not null,
  uuid uuid not null,
  finding text not null check (finding in ('missing', 'stale', 'orphan', 'unknown')),
  detail jsonb not null default '{}',
  first_seen_at timestamptz not null default now(),
  last_seen_at timestamptz not null default now(),
  -- What was done about it: repair_requested, removal_requested, reported, waiting_grace, repair_budget_spent.
  action text not null,
  repairs integer not null default 0,
  primary key (agent_region, uuid)
);

-- One row per region: who runs its pass (a lease, so replicas take turns) and how the last
-- one went.
create table if not exists reconcile_runs (
  agent_region text primary key,
  leased_by text,
  leased_until timestamptz,
  last_started_at timestamptz,
  last_finished_at timestamptz,
  last_summary jsonb,
  last_error text
);
