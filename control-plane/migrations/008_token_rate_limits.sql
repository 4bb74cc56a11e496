-- A rate limit met with one add-on's token (a 429, or RateLimit-Remaining: 0) pauses the
-- Platform API calls made with that token only, on every replica (heroku/send-call.ts,
-- db/calls.ts claimDueCall). Nullable and without a default: no table rewrite, and replicas
-- of the previous build, which do not read it, keep working during a rolling upgrade.
alter table heroku_tokens add column if not exists rate_limited_until timestamptz;
