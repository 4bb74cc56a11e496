-- The dispatcher's claim pages through pending operations in (created_at, id) order and
-- reads dispatched ones by deadline, each on its own partial index, instead of walking every
-- open operation by created_at: operations in flight (dispatched, waiting on an agent) no
-- longer sit in the pending walk. Expand-only: operations_open stays for its other readers.
create index if not exists operations_pending on operations (created_at, id) where state = 'pending';
create index if not exists operations_dispatched_deadline
  on operations (deadline) where state = 'dispatched';
