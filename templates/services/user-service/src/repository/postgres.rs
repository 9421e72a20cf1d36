//! Accounts and tokens in `PostgreSQL`. Each trait method is one transaction; the database's
//! constraints (unique email, foreign keys) are the last word on conflicts, so two replicas
//! registering one address at once cannot both succeed. Events go to the outbox in the
//! transaction of the change; `platform::outbox::Relay` publishes them.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use platform::auth::Role;
use platform::outbox;
use shared_events::EventEnvelope;
use shared_types::UserId;
use sqlx::PgPool;
use uuid::Uuid;

use super::{ProfileUpdate, RepoError, UserRepository};
use crate::models::{Email, OneTimeToken, RefreshToken, TokenError, User, VerificationToken};

/// Accounts, refresh tokens and reset tokens in `PostgreSQL`.
#[derive(Clone)]
pub struct PostgresUserRepository {
    pool: PgPool,
}

impl PostgresUserRepository {
    /// The repository on `pool` (migrated with [`crate::MIGRATOR`]).
    #[must_use]
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

fn storage(err: &sqlx::Error) -> RepoError {
    RepoError::Storage(err.to_string())
}

/// A write error: the unique email constraint is a duplicate, anything else a storage failure.
fn write_error(err: &sqlx::Error) -> RepoError {
    match err {
        sqlx::Error::Database(db) if db.is_unique_violation() => RepoError::DuplicateEmail,
        other => storage(other),
    }
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Customer => "customer",
        Role::Admin => "admin",
    }
}

type UserRow = (Uuid, String, String, String, bool, String, DateTime<Utc>);

const USER_COLUMNS: &str = "id, email, name, role, email_verified, password_hash, created_at";

fn user_from_row(
    (id, email, name, role, email_verified, password_hash, created_at): UserRow,
) -> Result<User, RepoError> {
    let corrupt = |what: String| RepoError::Storage(format!("user {id}: {what}"));
    Ok(User {
        id: UserId(id),
        email: Email::parse(&email).map_err(|err| corrupt(err.to_string()))?,
        name,
        role: match role.as_str() {
            "customer" => Role::Customer,
            "admin" => Role::Admin,
            other => return Err(corrupt(format!("unknown role `{other}`"))),
        },
        email_verified,
        password_hash,
        created_at,
    })
}

/// Why a token could not be used, from its row (or its absence).
fn refusal(row: Option<(DateTime<Utc>, bool)>, now: DateTime<Utc>) -> TokenError {
    match row {
        None => TokenError::Unknown,
        Some((expires_at, false)) if now >= expires_at => TokenError::Expired,
        // Revoked (or, impossibly under the row lock, usable after all: refusing is safe).
        Some(_) => TokenError::Revoked,
    }
}

#[async_trait]
impl UserRepository for PostgresUserRepository {
    async fn insert_user(&self, user: User, events: &[EventEnvelope]) -> Result<(), RepoError> {
        let mut tx = self.pool.begin().await.map_err(|err| storage(&err))?;
        sqlx::query(
            "INSERT INTO users (id, email, name, role, email_verified, password_hash, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(user.id.0)
        .bind(user.email.as_str())
        .bind(&user.name)
        .bind(role_name(user.role))
        .bind(user.email_verified)
        .bind(&user.password_hash)
        .bind(user.created_at)
        .execute(&mut *tx)
        .await
        .map_err(|err| write_error(&err))?;
        for event in events {
            outbox::enqueue(&mut tx, event)
                .await
                .map_err(|err| storage(&err))?;
        }
        tx.commit().await.map_err(|err| write_error(&err))
    }

    async fn user_by_id(&self, id: UserId) -> Result<Option<User>, RepoError> {
        sqlx::query_as::<_, UserRow>(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await
            .map_err(|err| storage(&err))?
            .map(user_from_row)
            .transpose()
    }

    async fn user_by_email(&self, email: &Email) -> Result<Option<User>, RepoError> {
        sqlx::query_as::<_, UserRow>(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE email = $1"
        ))
        .bind(email.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(|err| storage(&err))?
        .map(user_from_row)
        .transpose()
    }

    async fn update_profile(
        &self,
        id: UserId,
        name: Option<String>,
        email: Option<Email>,
    ) -> Result<ProfileUpdate, RepoError> {
        let mut tx = self.pool.begin().await.map_err(|err| storage(&err))?;
        let current: Option<String> =
            sqlx::query_scalar("SELECT email FROM users WHERE id = $1 FOR UPDATE")
                .bind(id.0)
                .fetch_optional(&mut *tx)
                .await
                .map_err(|err| storage(&err))?;
        let current = current.ok_or(RepoError::NotFound)?;
        let changed = email.filter(|email| email.as_str() != current);
        // A new address is unverified until a token mailed to it comes back.
        let row = sqlx::query_as::<_, UserRow>(&format!(
            "UPDATE users SET name = COALESCE($2, name), email = COALESCE($3, email), \
             email_verified = email_verified AND $3::text IS NULL \
             WHERE id = $1 RETURNING {USER_COLUMNS}"
        ))
        .bind(id.0)
        .bind(name)
        .bind(changed.as_ref().map(Email::as_str))
        .fetch_one(&mut *tx)
        .await
        .map_err(|err| write_error(&err))?;
        if changed.is_some() {
            // The reset tokens went to the old address: they no longer reach the owner.
            spend_all_resets(&mut tx, id.0, Utc::now()).await?;
        }
        tx.commit().await.map_err(|err| write_error(&err))?;
        let user = user_from_row(row)?;
        let previous_email = match changed {
            Some(_) => Some(
                Email::parse(&current)
                    .map_err(|err| RepoError::Storage(format!("user {id}: {err}")))?,
            ),
            None => None,
        };
        Ok(ProfileUpdate {
            user,
            previous_email,
        })
    }

    async fn store_refresh(&self, token: RefreshToken) -> Result<(), RepoError> {
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, user_id, expires_at, revoked_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(&token.token_hash)
        .bind(token.user_id.0)
        .bind(token.expires_at)
        .bind(token.revoked.then(Utc::now))
        .execute(&self.pool)
        .await
        .map_err(|err| storage(&err))?;
        Ok(())
    }

    async fn rotate_refresh(
        &self,
        old_hash: &str,
        new: RefreshToken,
        now: DateTime<Utc>,
    ) -> Result<UserId, RepoError> {
        let mut tx = self.pool.begin().await.map_err(|err| storage(&err))?;
        // Revoking the live token is the check: of two concurrent rotations only one updates
        // the row; the other waits for its lock and then finds it revoked.
        let rotated: Option<Uuid> = sqlx::query_scalar(
            "UPDATE refresh_tokens SET revoked_at = $2 \
             WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > $2 \
             RETURNING user_id",
        )
        .bind(old_hash)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await
        .map_err(|err| storage(&err))?;
        if let Some(owner) = rotated {
            sqlx::query(
                "INSERT INTO refresh_tokens (token_hash, user_id, expires_at) VALUES ($1, $2, $3)",
            )
            .bind(&new.token_hash)
            .bind(owner)
            .bind(new.expires_at)
            .execute(&mut *tx)
            .await
            .map_err(|err| storage(&err))?;
            tx.commit().await.map_err(|err| storage(&err))?;
            return Ok(UserId(owner));
        }
        let row: Option<(Uuid, DateTime<Utc>, bool)> = sqlx::query_as(
            "SELECT user_id, expires_at, revoked_at IS NOT NULL FROM refresh_tokens \
             WHERE token_hash = $1 FOR UPDATE",
        )
        .bind(old_hash)
        .fetch_optional(&mut *tx)
        .await
        .map_err(|err| storage(&err))?;
        let refused = refusal(row.map(|(_, expires, revoked)| (expires, revoked)), now);
        if let (TokenError::Revoked, Some((owner, _, _))) = (refused, row) {
            tracing::warn!(user_id = %owner, "revoked refresh token reused; revoking all of the user's tokens");
            sqlx::query(
                "UPDATE refresh_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
            )
            .bind(owner)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(|err| storage(&err))?;
            tx.commit().await.map_err(|err| storage(&err))?;
        }
        Err(refused.into())
    }

    async fn revoke_refresh(&self, hash: &str, user: UserId) -> Result<bool, RepoError> {
        let revoked = sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = now() \
             WHERE token_hash = $1 AND user_id = $2 AND revoked_at IS NULL",
        )
        .bind(hash)
        .bind(user.0)
        .execute(&self.pool)
        .await
        .map_err(|err| storage(&err))?;
        Ok(revoked.rows_affected() == 1)
    }

    async fn store_reset(&self, token: OneTimeToken) -> Result<(), RepoError> {
        sqlx::query(
            "INSERT INTO password_reset_tokens (token_hash, user_id, expires_at, used_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(&token.token_hash)
        .bind(token.user_id.0)
        .bind(token.expires_at)
        .bind(token.used.then(Utc::now))
        .execute(&self.pool)
        .await
        .map_err(|err| storage(&err))?;
        Ok(())
    }

    async fn redeem_reset(
        &self,
        hash: &str,
        new_password_hash: String,
        now: DateTime<Utc>,
    ) -> Result<UserId, RepoError> {
        let mut tx = self.pool.begin().await.map_err(|err| storage(&err))?;
        // Spending the token is the check, so it can be redeemed once however many try.
        let owner: Option<Uuid> = sqlx::query_scalar(
            "UPDATE password_reset_tokens SET used_at = $2 \
             WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2 \
             RETURNING user_id",
        )
        .bind(hash)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await
        .map_err(|err| storage(&err))?;
        let Some(owner) = owner else {
            let row: Option<(DateTime<Utc>, bool)> = sqlx::query_as(
                "SELECT expires_at, used_at IS NOT NULL FROM password_reset_tokens \
                 WHERE token_hash = $1",
            )
            .bind(hash)
            .fetch_optional(&mut *tx)
            .await
            .map_err(|err| storage(&err))?;
            return Err(refusal(row, now).into());
        };
        sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1")
            .bind(owner)
            .bind(new_password_hash)
            .execute(&mut *tx)
            .await
            .map_err(|err| storage(&err))?;
        sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
        )
        .bind(owner)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|err| storage(&err))?;
        spend_all_resets(&mut tx, owner, now).await?;
        tx.commit().await.map_err(|err| storage(&err))?;
        Ok(UserId(owner))
    }

    async fn store_verification(&self, token: VerificationToken) -> Result<(), RepoError> {
        sqlx::query(
            "INSERT INTO email_verification_tokens (token_hash, user_id, email, expires_at, used_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&token.token.token_hash)
        .bind(token.token.user_id.0)
        .bind(token.email.as_str())
        .bind(token.token.expires_at)
        .bind(token.token.used.then(Utc::now))
        .execute(&self.pool)
        .await
        .map_err(|err| storage(&err))?;
        Ok(())
    }

    async fn redeem_verification(
        &self,
        hash: &str,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<(), RepoError> {
        let mut tx = self.pool.begin().await.map_err(|err| storage(&err))?;
        // Spent first, as a reset token is, so it verifies at most once.
        let spent: Option<String> = sqlx::query_scalar(
            "UPDATE email_verification_tokens SET used_at = $2 \
             WHERE token_hash = $1 AND user_id = $3 AND used_at IS NULL AND expires_at > $2 \
             RETURNING email",
        )
        .bind(hash)
        .bind(now)
        .bind(user.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(|err| storage(&err))?;
        let Some(email) = spent else {
            let row: Option<(DateTime<Utc>, bool)> = sqlx::query_as(
                "SELECT expires_at, used_at IS NOT NULL FROM email_verification_tokens \
                 WHERE token_hash = $1 AND user_id = $2",
            )
            .bind(hash)
            .bind(user.0)
            .fetch_optional(&mut *tx)
            .await
            .map_err(|err| storage(&err))?;
            return Err(refusal(row, now).into());
        };
        // Only while the account still has the address the token was mailed to: an email
        // change committed meanwhile makes this match no row.
        let verified =
            sqlx::query("UPDATE users SET email_verified = true WHERE id = $1 AND email = $2")
                .bind(user.0)
                .bind(&email)
                .execute(&mut *tx)
                .await
                .map_err(|err| storage(&err))?;
        tx.commit().await.map_err(|err| storage(&err))?;
        if verified.rows_affected() == 1 {
            Ok(())
        } else {
            Err(TokenError::Revoked.into())
        }
    }
}

/// Spends every reset token of `user` not yet used, in `tx`.
async fn spend_all_resets(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    user: Uuid,
    now: DateTime<Utc>,
) -> Result<(), RepoError> {
    sqlx::query(
        "UPDATE password_reset_tokens SET used_at = $2 WHERE user_id = $1 AND used_at IS NULL",
    )
    .bind(user)
    .bind(now)
    .execute(&mut **tx)
    .await
    .map_err(|err| storage(&err))?;
    Ok(())
}
