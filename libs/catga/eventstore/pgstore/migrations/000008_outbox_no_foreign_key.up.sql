-- The outbox's foreign keys to events cost every append a lock on the event
-- row it has just inserted (the referential check takes FOR KEY SHARE),
-- which writes WAL, for no safety: entries are only ever inserted by the
-- statement that inserts their event, and events are never deleted.
ALTER TABLE {{prefix}}outbox DROP CONSTRAINT IF EXISTS outbox_position_fkey;
ALTER TABLE {{prefix}}outbox_parked DROP CONSTRAINT IF EXISTS outbox_parked_position_fkey;

-- The outbox is a queue: every row is inserted and soon deleted, and claims
-- scan it from the oldest end, where the dead rows are. Vacuum it after a
-- fixed number of dead rows rather than a fraction of a table that is
-- always nearly empty.
ALTER TABLE {{prefix}}outbox SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 2000, autovacuum_vacuum_cost_delay = 0);
