-- Resources are keyed by Heroku's uuid; operations are the outbox.
create table resources (
  uuid uuid primary key,
  name text not null,
  plan text not null,
  region_value text not null,
  heroku_region text not null,
  private_space boolean,
  agent_region text not null,
  state text not null check (state in ('provisioning', 'provisioned', 'deprovisioning', 'deprovisioned', 'failed')),
  generation integer not null default 1,
  applied_generation integer not null default 0,
  config_enc text,
  endpoint jsonb,
  certificate jsonb,
  callback_url text,
  log_input_url_enc text,
  options jsonb not null default '{}',
  oauth_grant_enc text,
  oauth_grant_expires_at timestamptz,
  app_id text,
  app_name text,
  provision_message text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  deprovisioned_at timestamptz
);

create table operations (
  id uuid primary key,
  resource_uuid uuid not null references resources (uuid),
  kind text not null check (kind in ('provision', 'change_plan', 'deprovision', 'rotate_credentials', 'revoke_credentials')),
  generation integer not null,
  state text not null check (state in ('pending', 'dispatched', 'succeeded', 'failed')),
  plan text not null,
  params jsonb not null default '{}',
  attempts integer not null default 0,
  dispatched_at timestamptz,
  deadline timestamptz,
  last_error jsonb,
  progress text,
  completed_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (resource_uuid, generation)
);
create index operations_open on operations (created_at) where state in ('pending', 'dispatched');
create index operations_resource on operations (resource_uuid, generation desc);

create table audit_events (
  id bigserial primary key,
  resource_uuid uuid,
  actor text not null,
  action text not null,
  detail jsonb not null default '{}',
  request_id text,
  created_at timestamptz not null default now()
);
create index audit_events_resource on audit_events (resource_uuid, id);
