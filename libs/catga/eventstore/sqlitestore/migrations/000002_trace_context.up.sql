-- W3C trace context of the appending request, published with the event.
ALTER TABLE {{prefix}}events ADD COLUMN trace_context TEXT NOT NULL DEFAULT '';
