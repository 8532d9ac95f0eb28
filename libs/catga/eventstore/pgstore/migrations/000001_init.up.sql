CREATE TABLE {{prefix}}streams (
    stream_id text PRIMARY KEY,
    version   bigint NOT NULL
);

CREATE TABLE {{prefix}}events (
    position       bigserial PRIMARY KEY,
    id             text NOT NULL UNIQUE,
    stream_id      text NOT NULL,
    version        bigint NOT NULL,
    type           text NOT NULL,
    data           json NOT NULL, -- json, not jsonb: kept byte for byte as published
    correlation_id text NOT NULL DEFAULT '',
    causation_id   text NOT NULL DEFAULT '',
    recorded_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (stream_id, version)
);

-- Pending outbox entries; a relay deletes an entry once JetStream acked it.
CREATE TABLE {{prefix}}outbox (
    position  bigint PRIMARY KEY REFERENCES {{prefix}}events (position),
    stream_id text NOT NULL
);
CREATE INDEX outbox_stream_position ON {{prefix}}outbox (stream_id, position);

CREATE TABLE {{prefix}}inbox (
    consumer     text NOT NULL,
    message_id   text NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, message_id)
);

CREATE TABLE {{prefix}}snapshots (
    stream_id text PRIMARY KEY,
    version   bigint NOT NULL,
    type      text NOT NULL,
    data      json NOT NULL,
    taken_at  timestamptz NOT NULL DEFAULT now()
);
