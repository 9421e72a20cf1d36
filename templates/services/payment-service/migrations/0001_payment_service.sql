-- The payment service's tables: payments (one per idempotency key), refunds, the orders known
-- to be cancelled, and the outbox / inbox of its events.

CREATE TABLE payments (
    id              UUID PRIMARY KEY,
    order_id        UUID NOT NULL,
    user_id         UUID NOT NULL,
    amount_minor    BIGINT NOT NULL CHECK (amount_minor >= 0),
    currency        TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed', 'refunded')),
    -- Why the provider declined; set exactly for failed payments.
    failure_reason  TEXT CHECK ((status = 'failed') = (failure_reason IS NOT NULL)),
    idempotency_key TEXT NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 255),
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    -- The claim: a second charge with the same key finds this row instead of charging again.
    UNIQUE (idempotency_key)
);

CREATE INDEX payments_by_order ON payments (order_id, created_at, id);

-- One refund per payment, ever.
CREATE TABLE refunds (
    id           UUID PRIMARY KEY,
    payment_id   UUID NOT NULL UNIQUE REFERENCES payments (id),
    amount_minor BIGINT NOT NULL CHECK (amount_minor >= 0),
    currency     TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL
);

-- Orders that were cancelled: no charge for them goes through any more.
CREATE TABLE cancelled_orders (
    order_id     UUID PRIMARY KEY,
    cancelled_at TIMESTAMPTZ NOT NULL DEFAULT now()
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
