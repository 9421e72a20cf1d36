-- The order service's tables: orders with their lines and status history, the idempotency
-- keys of checkout, and the outbox / inbox of its events.

CREATE TABLE orders (
    id          UUID PRIMARY KEY,
    user_id     UUID NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('pending', 'reserved', 'confirmed', 'cancelled')),
    total_minor BIGINT NOT NULL CHECK (total_minor >= 0),
    currency    TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);

-- A user's orders, newest first.
CREATE INDEX orders_by_user ON orders (user_id, created_at DESC, id DESC);

CREATE TABLE order_lines (
    order_id         UUID NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    line_no          INT NOT NULL CHECK (line_no >= 0),
    product_id       UUID NOT NULL,
    quantity         BIGINT NOT NULL CHECK (quantity BETWEEN 1 AND 4294967295),
    unit_price_minor BIGINT NOT NULL CHECK (unit_price_minor >= 0),
    currency         TEXT NOT NULL,
    PRIMARY KEY (order_id, line_no)
);

CREATE TABLE order_status_history (
    order_id UUID NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    seq      INT NOT NULL CHECK (seq >= 0),
    status   TEXT NOT NULL CHECK (status IN ('pending', 'reserved', 'confirmed', 'cancelled')),
    at       TIMESTAMPTZ NOT NULL,
    reason   TEXT,
    PRIMARY KEY (order_id, seq)
);

-- Idempotency keys of POST /api/v1/orders, per user. A row without a response is a claim in
-- progress; the response is stored in the transaction that creates the order, and replayed.
CREATE TABLE idempotency_keys (
    user_id           UUID NOT NULL,
    key               TEXT NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    request_hash      TEXT NOT NULL,
    response_status   SMALLINT,
    response_body     JSONB,
    -- The `Location` header of the stored response, if it had one.
    response_location TEXT,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key),
    CHECK ((response_status IS NULL) = (response_body IS NULL))
);

-- Events written in the transaction of the state change they announce; the relay publishes.
CREATE TABLE outbox (
    id              BIGSERIAL PRIMARY KEY,
    event_id        UUID NOT NULL UNIQUE,
    topic           TEXT NOT NULL,
    aggregate_id    TEXT NOT NULL,
    envelope        JSONB NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    attempts        INT NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    published_at    TIMESTAMPTZ
);

CREATE INDEX outbox_unpublished ON outbox (next_attempt_at) WHERE published_at IS NULL;

-- Events a consumer has handled, recorded in the transaction of the handler's effect.
CREATE TABLE processed_events (
    consumer     TEXT NOT NULL,
    event_id     UUID NOT NULL,
    processed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
