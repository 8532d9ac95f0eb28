-- One opaque record per saga for the saga fence (package saga/storefence):
-- read and written under this row's lock, in the transaction of the
-- participant's appends.
CREATE TABLE {{prefix}}saga_fences (
    saga_id    text PRIMARY KEY,
    record     bytea,
    updated_at timestamptz NOT NULL DEFAULT now()
);
