-- A queued call that needs the authorization of an add-on Heroku has removed can never
-- succeed: it is dropped (db/calls.ts dropCallsOfGoneAddons), a state of its own so that it
-- is neither retried nor counted as a failure. Replicas of the previous build claim only
-- 'pending' rows and never write 'dropped', so a rolling upgrade is safe.
alter table heroku_calls drop constraint if exists heroku_calls_state_check;
alter table heroku_calls add constraint heroku_calls_state_check
  check (state in ('pending', 'succeeded', 'failed', 'dropped'));
