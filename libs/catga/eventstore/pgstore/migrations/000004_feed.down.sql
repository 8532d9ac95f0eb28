DROP TABLE {{prefix}}checkpoints;
DROP INDEX {{prefix}}events_feed;
ALTER TABLE {{prefix}}events DROP COLUMN tx;
ALTER TABLE {{prefix}}streams DROP COLUMN tx;
