-- Stock per product and the reservations holding it, plus the platform's outbox and inbox.

CREATE TABLE stock (
    product_id UUID PRIMARY KEY,
    available BIGINT NOT NULL CHECK (available >= 0),
    reserved BIGINT NOT NULL CHECK (reserved >= 0),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK (available <= 4294967295 AND reserved <= 4294967295)
);

CREATE TABLE reservations (
    order_id UUID PRIMARY KEY,
    state TEXT NOT NULL CHECK (state IN ('reserved', 'committed', 'released')),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE reservation_lines (
    order_id UUID NOT NULL REFERENCES reservations (order_id) ON DELETE CASCADE,
    product_id UUID NOT NULL REFERENCES stock (product_id),
    quantity BIGINT NOT NULL CHECK (quantity > 0 AND quantity <= 4294967295),
    PRIMARY KEY (order_id, product_id)
);

CREATE TABLE outbox (
    id BIGSERIAL PRIMARY KEY,
    event_id UUID NOT NULL UNIQUE,
    topic TEXT NOT NULL,
    aggregate_id TEXT NOT NULL,
    envelope JSONB NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    attempts INT NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    published_at TIMESTAMPTZ
);
CREATE INDEX outbox_pending ON outbox (next_attempt_at) WHERE published_at IS NULL;

CREATE TABLE processed_events (
    consumer TEXT NOT NULL,
    event_id UUID NOT NULL,
    processed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
