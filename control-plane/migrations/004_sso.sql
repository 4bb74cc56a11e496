-- SSO tokens already used: a token is accepted once inside its validity window.
create table sso_tokens_used (
  token_hash text primary key,
  resource_uuid uuid not null,
  expires_at timestamptz not null,
  created_at timestamptz not null default now()
);
create index sso_tokens_used_expires on sso_tokens_used (expires_at);
