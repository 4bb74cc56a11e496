-- The claim queries ask, per candidate, "is an earlier item of the same resource still
-- open?" (operations: a lower generation pending or dispatched; heroku_calls: a lower id
-- pending, app log lines aside). Without an index on that predicate the anti-join can scan
-- every open row per candidate, quadratic in the backlog, whenever statistics are stale.
-- These partial indexes answer it with one index probe per candidate.
create index if not exists operations_open_by_resource
  on operations (resource_uuid, generation) where state in ('pending', 'dispatched');
create index if not exists heroku_calls_pending_by_resource
  on heroku_calls (resource_uuid, id) where state = 'pending' and kind <> 'app_log';
-- The call claim walks due calls in (next_attempt_at, id) order, a page at a time.
create index if not exists heroku_calls_due_order
  on heroku_calls (next_attempt_at, id) where state = 'pending';
drop index if exists heroku_calls_due;
