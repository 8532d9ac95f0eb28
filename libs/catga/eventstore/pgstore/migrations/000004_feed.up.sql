-- events.tx orders the feed. It is the appending transaction's id (xid8),
-- raised to the stream's previous tx where that is higher (streams.tx), so
-- it never decreases along a stream even when a transaction that got its
-- id first waited for the stream's row lock. It is never below the
-- appending transaction's id, so everything below pg_snapshot_xmin has
-- committed for good: events read in (tx, position) order up to it can
-- never be preceded by a later commit. Existing rows get the migration's
-- own id, which sorts them before every later append.
ALTER TABLE {{prefix}}events ADD COLUMN tx xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX events_feed ON {{prefix}}events (tx, position);
ALTER TABLE {{prefix}}streams ADD COLUMN tx xid8 NOT NULL DEFAULT pg_current_xact_id();

-- Durable checkpoints of catch-up subscriptions.
CREATE TABLE {{prefix}}checkpoints (
    name     text PRIMARY KEY,
    tx       xid8 NOT NULL,
    position bigint NOT NULL,
    saved_at timestamptz NOT NULL DEFAULT now()
);
