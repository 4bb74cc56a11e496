-- The call worker leases the calls it claims instead of holding their row locks while it
-- talks to Heroku (db/calls.ts claimDueCalls): a claim is one short statement that moves
-- next_attempt_at past the lease and marks leased_until, so the call is neither due nor
-- droppable while its attempt is in flight. A replica that dies mid-attempt leaves the call
-- due again when the lease ends. Replicas of the previous build claim only calls with
-- next_attempt_at <= now(), so they leave leased calls alone during a rolling upgrade.
alter table heroku_calls add column if not exists leased_until timestamptz;

-- Both tables are queues: every finished row leaves a dead tuple and a dead entry in the
-- partial "due" indexes at the head of the claim's scan. Vacuum them long before the
-- default 20% of the table has turned over.
alter table heroku_calls set (
  autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_threshold = 1000,
  autovacuum_analyze_scale_factor = 0.02, autovacuum_analyze_threshold = 1000);
alter table operations set (
  autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_threshold = 1000,
  autovacuum_analyze_scale_factor = 0.02, autovacuum_analyze_threshold = 1000);
