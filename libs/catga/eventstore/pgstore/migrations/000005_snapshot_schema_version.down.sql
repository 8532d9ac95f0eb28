ALTER TABLE {{prefix}}snapshots DROP COLUMN schema_version;
