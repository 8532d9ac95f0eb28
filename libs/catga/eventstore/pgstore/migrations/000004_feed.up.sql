-- The appending transaction's id (xid8) orders the feed: every transaction
-- below pg_snapshot_xmin has ended, so events read in (tx, position) order
-- up to it can never be preceded by a later commit. Existing rows get the
-- migration's own id, which sorts them before every later append.
ALTER TABLE {{prefix}}events ADD COLUMN tx xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX events_feed ON {{prefix}}events (tx, position);

-- Durable checkpoints of catch-up subscriptions.
CREATE TABLE {{prefix}}checkpoints (
    name     text PRIMARY KEY,
    tx       xid8 NOT NULL,
    position bigint NOT NULL,
    saved_at timestamptz NOT NULL DEFAULT now()
);
