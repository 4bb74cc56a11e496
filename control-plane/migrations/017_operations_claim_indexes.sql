-- Statistics on the queue tables are usually taken while the queues are nearly empty
-- (autovacuum's last look before a burst), and the planner then believes each partial index
-- on open rows is empty whatever its size: any read of it costs one page, with or without an
-- index condition, so it is chosen for anything its predicate serves, and read whole. The
-- per-resource predecessor checks read operations_open, operations_open_by_resource,
-- heroku_calls_due_order or heroku_calls_pending_by_resource that way, every open row per
-- candidate: with 100,000 open operations one dispatcher claim took 21 s (876,000 buffers);
-- a finish of 50 calls read 194,000 buffers at 100,000 pending calls.
--
-- Those checks now go through full indexes on (resource, state, order), whose estimates scale
-- with the table's real size: each reads the open rows of one resource. Partial indexes are
-- left only where reading all of them, or their first page in order, is the point: the
-- claims' walks (operations_pending, operations_dispatched_deadline, heroku_calls_due_walk)
-- and the scrape-time counts.
--
-- One table per migration, its strongest lock taken first: a migration that locked
-- operations and then heroku_calls deadlocked with live transactions that hold the second and
-- want the first (018 does heroku_calls).
lock table operations in access exclusive mode;
create index if not exists operations_by_resource_state
  on operations (resource_uuid, state, generation);
drop index if exists operations_open;
drop index if exists operations_open_by_resource;
