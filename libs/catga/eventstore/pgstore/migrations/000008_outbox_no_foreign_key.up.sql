-- The outbox's foreign keys to events cost every append a lock on the event
-- row it has just inserted (the referential check takes FOR KEY SHARE),
-- which writes WAL, for no safety: entries are only ever inserted by the
-- statement that inserts their event, and events are never deleted.
ALTER TABLE {{prefix}}outbox DROP CONSTRAINT IF EXISTS outbox_position_fkey;
ALTER TABLE {{prefix}}outbox_parked DROP CONSTRAINT IF EXISTS outbox_parked_position_fkey;
