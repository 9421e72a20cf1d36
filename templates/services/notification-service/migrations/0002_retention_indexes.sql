-- Pruning (platform::retention) deletes remembered event ids past the inbox retention; this
-- index finds them without reading the whole table.
CREATE INDEX processed_events_processed_at ON processed_events (processed_at);
