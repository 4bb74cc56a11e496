-- Operations that must wait (revoking old credentials after a grace period).
alter table operations add column not_before timestamptz;
