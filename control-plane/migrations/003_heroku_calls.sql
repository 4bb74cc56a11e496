-- The durable queue of calls to Heroku's Platform API, and which answers went async.
create table heroku_calls (
  id bigserial primary key,
  resource_uuid uuid not null references resources (uuid),
  kind text not null check (kind in ('exchange_grant', 'config_update', 'provision_action', 'deprovision_action')),
  dedupe_key text not null,
  payload_enc text,
  state text not null default 'pending' check (state in ('pending', 'succeeded', 'failed')),
  attempts integer not null default 0,
  next_attempt_at timestamptz not null default now(),
  last_status integer,
  last_error text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  completed_at timestamptz,
  unique (resource_uuid, kind, dedupe_key)
);
create index heroku_calls_due on heroku_calls (next_attempt_at) where state = 'pending';

alter table operations add column answer_async boolean not null default false;
