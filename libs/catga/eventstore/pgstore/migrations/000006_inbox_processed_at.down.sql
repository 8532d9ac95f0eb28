DROP INDEX {{prefix}}inbox_processed_at;
