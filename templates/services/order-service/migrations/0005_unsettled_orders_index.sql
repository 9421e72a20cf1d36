-- The saga's timeout looks for orders still pending or reserved long after they were placed;
-- this index holds only those, so the search stays small however many orders settled.
CREATE INDEX orders_unsettled ON orders (created_at) WHERE status IN ('pending', 'reserved');
