-- Durable checkpoints of catch-up subscriptions. SQLite commits one write
-- transaction at a time, so positions are already in commit order.
CREATE TABLE {{prefix}}checkpoints (
    name     TEXT PRIMARY KEY,
    position INTEGER NOT NULL,
    saved_at INTEGER NOT NULL -- unix microseconds
);
