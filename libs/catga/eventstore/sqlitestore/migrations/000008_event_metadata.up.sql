-- The appended event's own metadata (JSON object of strings), published as
-- Catga-Meta-<key> headers.
ALTER TABLE {{prefix}}events ADD COLUMN metadata TEXT NOT NULL DEFAULT '';
