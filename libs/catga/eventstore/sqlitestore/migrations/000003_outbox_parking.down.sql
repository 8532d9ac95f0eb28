DROP TABLE {{prefix}}outbox_parked;
DROP INDEX {{prefix}}outbox_held;
DROP INDEX {{prefix}}outbox_stream_position;
ALTER TABLE {{prefix}}outbox DROP COLUMN last_error;
ALTER TABLE {{prefix}}outbox DROP COLUMN retry_at;
ALTER TABLE {{prefix}}outbox DROP COLUMN attempts;
