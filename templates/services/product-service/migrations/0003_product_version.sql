-- Every change counts up a product's version; `product.updated` carries it, so a consumer
-- (cart-service's price table) keeps the newest terms whatever order events arrive in.
ALTER TABLE products ADD COLUMN version BIGINT NOT NULL DEFAULT 1 CHECK (version >= 1);
