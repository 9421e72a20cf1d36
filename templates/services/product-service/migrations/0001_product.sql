-- The catalogue of product-service.

-- Trigram indexes make the search's `ILIKE '%needle%'` an index scan instead of a full scan.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- Categories are stored trimmed and lower-case (the service normalises them), so equality is
-- the case-insensitive filter.
CREATE TABLE categories (
    name TEXT PRIMARY KEY CHECK (name <> '' AND name = lower(btrim(name)))
);

CREATE TABLE products (
    id          UUID PRIMARY KEY,
    name        TEXT NOT NULL CHECK (btrim(name) <> ''),
    description TEXT NOT NULL DEFAULT '',
    category    TEXT NOT NULL REFERENCES categories (name),
    price_minor BIGINT NOT NULL CHECK (price_minor > 0),
    currency    TEXT NOT NULL CHECK (currency IN ('USD', 'EUR', 'GBP')),
    -- Inactive products are kept (orders refer to them) but not listed.
    active      BOOLEAN NOT NULL DEFAULT TRUE,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Listings: active products by name (byte order, as the in-memory store sorts), optionally of
-- one category.
CREATE INDEX products_listing ON products ((lower(name) COLLATE "C"), id) WHERE active;
CREATE INDEX products_category_listing
    ON products (category, (lower(name) COLLATE "C"), id) WHERE active;
-- Search: case-insensitive substring match in name or description.
CREATE INDEX products_name_search ON products USING gin (lower(name) gin_trgm_ops) WHERE active;
CREATE INDEX products_description_search
    ON products USING gin (lower(description) gin_trgm_ops) WHERE active;

-- Events written in the transaction of the change that caused them; platform::outbox::Relay
-- publishes them.
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
CREATE INDEX outbox_pending ON outbox (next_attempt_at) WHERE published_at IS NULL;
