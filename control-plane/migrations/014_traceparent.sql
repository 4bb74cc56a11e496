-- The W3C trace context an operation and a queued Heroku call were created in, so the
-- dispatcher's publish and the call worker's attempt, which run later and elsewhere, continue
-- the trace of the request (or result) that caused them. Nullable: rows written with tracing
-- off, or by an older release, have none. Expand-only.
alter table operations add column if not exists traceparent text;
alter table heroku_calls add column if not exists traceparent text;
