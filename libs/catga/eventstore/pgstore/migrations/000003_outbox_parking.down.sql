DROP TABLE {{prefix}}outbox_parked;
DROP INDEX {{prefix}}outbox_held;
ALTER TABLE {{prefix}}outbox DROP COLUMN attempts, DROP COLUMN retry_at, DROP COLUMN last_error;
