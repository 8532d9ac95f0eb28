-- Pruning deletes by age: without an index it scans the whole inbox.
CREATE INDEX {{prefix}}inbox_processed_at ON {{prefix}}inbox (processed_at);
