-- Pruning deletes by age: without an index it scans the whole inbox.
CREATE INDEX inbox_processed_at ON {{prefix}}inbox (processed_at);
