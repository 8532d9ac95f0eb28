-- A deleted stream keeps its row (and its events, which the log never
-- loses) and refuses appends and loads.
ALTER TABLE {{prefix}}streams ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;
