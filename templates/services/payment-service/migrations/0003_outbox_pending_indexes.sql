-- The relay's query (platform::outbox::relay_once) walks pending rows in id order and takes
-- only the oldest unpublished row of each aggregate, so that events of one aggregate are
-- published in order. Without these two indexes it read and sorted every pending row on each
-- pass: the slower the relay got, the larger the backlog and the slower each pass (64 ms at
-- 3,000 pending rows, against 0.6 ms with them).
CREATE INDEX outbox_pending_by_id ON outbox (id) WHERE published_at IS NULL;
CREATE INDEX outbox_pending_by_aggregate ON outbox (aggregate_id, id) WHERE published_at IS NULL;
