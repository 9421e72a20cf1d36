-- The relay selects only the oldest unpublished row of each aggregate (so events of one
-- aggregate are published in order); this index answers "is there an earlier unpublished row
-- of this aggregate?" without scanning every pending row, which matters when a backlog builds.
CREATE INDEX outbox_pending_by_aggregate ON outbox (aggregate_id, id) WHERE published_at IS NULL;
