ALTER TABLE {{prefix}}events DROP COLUMN metadata;
