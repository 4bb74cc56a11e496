-- heroku_calls' half of 017 (whose comment says why): the predecessor checks read
-- heroku_calls_by_resource_state; the call claim's walk gets an index whose predicate carries
-- a clause true of every row (next_attempt_at is never -infinity) that only the walk and the
-- pending count state, so no per-resource read can use it.
lock table heroku_calls in access exclusive mode;
create index if not exists heroku_calls_by_resource_state
  on heroku_calls (resource_uuid, state, id);
create index if not exists heroku_calls_due_walk
  on heroku_calls (next_attempt_at, id) where state = 'pending' and next_attempt_at > '-infinity';
drop index if exists heroku_calls_due_order;
drop index if exists heroku_calls_pending_by_resource;
