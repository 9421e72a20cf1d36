-- Accounts and credentials of user-service.

CREATE TABLE users (
    id            UUID PRIMARY KEY,
    -- Normalised by the service (trimmed, lower-cased); the check keeps every writer honest,
    -- so the unique constraint is case-insensitive.
    email         TEXT NOT NULL CONSTRAINT users_email_lowercase CHECK (email = lower(btrim(email))),
    name          TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('customer', 'admin')),
    -- argon2id PHC string.
    password_hash TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    CONSTRAINT users_email_key UNIQUE (email)
);

-- Refresh tokens, stored only as SHA-256 hashes of the secret handed out.
CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id    UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at TIMESTAMPTZ NOT NULL,
    -- Set by rotation, logout, password reset, or theft detection.
    revoked_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX refresh_tokens_live_by_user ON refresh_tokens (user_id) WHERE revoked_at IS NULL;

-- Password-reset tokens: hashed, short-lived, single use.
CREATE TABLE password_reset_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id    UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at TIMESTAMPTZ NOT NULL,
    used_at    TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

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
