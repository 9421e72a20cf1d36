-- Pruning (platform::retention) deletes published outbox rows past their retention; this
-- index finds them without reading the whole table.
CREATE INDEX outbox_published_at ON outbox (published_at) WHERE published_at IS NOT NULL;

-- Pruning (platform::retention) deletes remembered event ids past the inbox retention; this
-- index finds them without reading the whole table.
CREATE INDEX processed_events_processed_at ON processed_events (processed_at);

-- Pruning deletes idempotency keys past their window; this index finds them.
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);
