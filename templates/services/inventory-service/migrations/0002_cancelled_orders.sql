-- Orders cancelled before inventory saw them (order.cancelled overtook order.created): a later
-- order.created for one of them holds nothing and answers inventory.reservation-failed.
CREATE TABLE cancelled_orders (
    order_id UUID PRIMARY KEY,
    cancelled_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
