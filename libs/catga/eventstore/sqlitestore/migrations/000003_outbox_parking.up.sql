-- A failed publish is counted on the entry; a held entry (retry_at in the
-- future) keeps its stream out of claims until then, and an entry that
-- keeps failing is parked in outbox_parked with its reason.
ALTER TABLE {{prefix}}outbox ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE {{prefix}}outbox ADD COLUMN retry_at INTEGER NOT NULL DEFAULT 0; -- unix microseconds; 0: not held
ALTER TABLE {{prefix}}outbox ADD COLUMN last_error TEXT NOT NULL DEFAULT '';
CREATE INDEX {{prefix}}outbox_stream_position ON {{prefix}}outbox (stream_id, position);
CREATE INDEX {{prefix}}outbox_held ON {{prefix}}outbox (retry_at) WHERE retry_at > 0;

CREATE TABLE {{prefix}}outbox_parked (
    position  INTEGER PRIMARY KEY REFERENCES {{prefix}}events (position),
    stream_id TEXT NOT NULL,
    attempts  INTEGER NOT NULL,
    reason    TEXT NOT NULL,
    parked_at INTEGER NOT NULL -- unix microseconds
);
