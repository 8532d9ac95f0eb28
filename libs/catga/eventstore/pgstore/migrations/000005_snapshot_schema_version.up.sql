-- The aggregate's snapshot schema version: a load ignores snapshots of
-- another version, so a changed state type or evolve invalidates them.
ALTER TABLE {{prefix}}snapshots ADD COLUMN schema_version integer NOT NULL DEFAULT 0;
