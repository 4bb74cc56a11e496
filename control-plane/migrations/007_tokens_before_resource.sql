-- A Private Space lookup exchanges the one-time grant before the resource row exists: its
-- tokens are stored at once (a retry of the provision, on any replica, reuses them), so
-- heroku_tokens may hold a row for a uuid not (yet) in resources. Orphans are bounded in
-- db/tokens.ts (deleteOrphanTokens) and tokens are deleted once an add-on is gone.
alter table heroku_tokens drop constraint if exists heroku_tokens_resource_uuid_fkey;
create index if not exists heroku_tokens_created on heroku_tokens (created_at);
