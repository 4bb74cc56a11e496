-- OAuth tokens for the Platform API, one pair per add-on resource, encrypted at rest.
create table heroku_tokens (
  resource_uuid uuid primary key references resources (uuid),
  access_token_enc text not null,
  refresh_token_enc text,
  expires_at timestamptz not null,
  key_id text not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
