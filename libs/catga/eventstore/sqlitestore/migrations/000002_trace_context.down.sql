ALTER TABLE {{prefix}}events DROP COLUMN trace_context;
