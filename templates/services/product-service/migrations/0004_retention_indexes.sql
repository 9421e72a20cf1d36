-- Pruning (platform::retention) deletes published outbox rows past their retention; this
-- index finds them without reading the whole table.
CREATE INDEX outbox_published_at ON outbox (published_at) WHERE published_at IS NOT NULL;
