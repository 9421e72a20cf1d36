-- When the current claim of an idempotency key was made. A claim that is still unanswered a
-- lease after this (its request crashed) may be taken over by the next request with the key.
ALTER TABLE idempotency_keys ADD COLUMN claimed_at TIMESTAMPTZ NOT NULL DEFAULT now();
