CREATE TABLE {{prefix}}streams (
    stream_id TEXT PRIMARY KEY,
    version   INTEGER NOT NULL
);

CREATE TABLE {{prefix}}events (
    position       INTEGER PRIMARY KEY AUTOINCREMENT,
    id             TEXT NOT NULL UNIQUE,
    stream_id      TEXT NOT NULL,
    version        INTEGER NOT NULL,
    type           TEXT NOT NULL,
    data           BLOB NOT NULL,
    correlation_id TEXT NOT NULL DEFAULT '',
    causation_id   TEXT NOT NULL DEFAULT '',
    recorded_at    INTEGER NOT NULL, -- unix microseconds
    UNIQUE (stream_id, version)
);

-- Pending outbox entries; the relay deletes an entry once JetStream acked it.
CREATE TABLE {{prefix}}outbox (
    position  INTEGER PRIMARY KEY REFERENCES {{prefix}}events (position),
    stream_id TEXT NOT NULL
);

CREATE TABLE {{prefix}}inbox (
    consumer     TEXT NOT NULL,
    message_id   TEXT NOT NULL,
    processed_at INTEGER NOT NULL,
    PRIMARY KEY (consumer, message_id)
) WITHOUT ROWID;

CREATE TABLE {{prefix}}snapshots (
    stream_id TEXT PRIMARY KEY,
    version   INTEGER NOT NULL,
    type      TEXT NOT NULL,
    data      BLOB NOT NULL,
    taken_at  INTEGER NOT NULL
);

-- SQLite has no row locks: one relay at a time holds this lease while it
-- publishes, across processes sharing the file.
CREATE TABLE {{prefix}}outbox_lease (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    owner TEXT NOT NULL,
    until INTEGER NOT NULL -- unix microseconds
);
INSERT INTO {{prefix}}outbox_lease (id, owner, until) VALUES (1, '', 0);
