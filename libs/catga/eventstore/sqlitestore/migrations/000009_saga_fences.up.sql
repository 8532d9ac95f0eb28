-- One opaque record per saga for the saga fence (package saga/storefence),
-- written in the transaction of the participant's appends.
CREATE TABLE {{prefix}}saga_fences (
    saga_id    TEXT PRIMARY KEY,
    record     BLOB NOT NULL,
    updated_at INTEGER NOT NULL -- unix microseconds
) WITHOUT ROWID;
