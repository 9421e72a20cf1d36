-- Email verification: an address counts as the holder's once a token mailed to it comes back,
-- and admin power needs a verified address (user-service README, Roles).

-- Accounts that exist when this runs start unverified, admins included: nobody proved their
-- addresses, which is what this column tells apart. A holder verifies with
-- POST /api/v1/auth/verify-email/resend, then POST /api/v1/auth/verify-email.
ALTER TABLE users ADD COLUMN email_verified BOOLEAN NOT NULL DEFAULT false;

-- Verification tokens, stored only as SHA-256 hashes, single use, short-lived. `email` is the
-- address the token was mailed to: it verifies the account only while the account still has
-- that address.
CREATE TABLE email_verification_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id    UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email      TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    used_at    TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
