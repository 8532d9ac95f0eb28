-- A failed publish is counted on the entry; a held entry (retry_at in the
-- future) keeps its stream out of claims until then, and an entry that
-- keeps failing is parked in outbox_parked with its reason.
ALTER TABLE {{prefix}}outbox
    ADD COLUMN attempts   integer NOT NULL DEFAULT 0,
    ADD COLUMN retry_at   timestamptz,
    ADD COLUMN last_error text NOT NULL DEFAULT '';
CREATE INDEX outbox_held ON {{prefix}}outbox (retry_at) WHERE retry_at IS NOT NULL;

CREATE TABLE {{prefix}}outbox_parked (
    position  bigint PRIMARY KEY REFERENCES {{prefix}}events (position),
    stream_id text NOT NULL,
    attempts  integer NOT NULL,
    reason    text NOT NULL,
    parked_at timestamptz NOT NULL DEFAULT now()
);
