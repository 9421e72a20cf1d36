-- When the charge of a pending payment was last claimed. A payment still pending a lease after
-- this (the replica asking the provider crashed) is taken over by the next charge with its
-- idempotency key, which asks the provider again with the same key.
ALTER TABLE payments ADD COLUMN claimed_at TIMESTAMPTZ NOT NULL DEFAULT now();
