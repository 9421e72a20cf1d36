//! The use cases: register, log in, refresh, log out, read and edit profiles, reset a
//! password. Password hashing runs on the blocking pool so it never stalls the runtime.

use std::sync::Arc;

use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Params, Version};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use platform::ApiError;
use platform::auth::{AuthUser, JwtKeys, Role};
use serde::{Deserialize, Serialize};
use shared_types::UserId;

use crate::config::{HashingCost, Settings};
use crate::events;
use crate::models::{self, Email, RefreshToken, ResetToken, User, UserView, ValidationError};
use crate::repository::{RepoError, UserRepository};

/// The one answer to a failed login, whichever part was wrong.
pub const INVALID_CREDENTIALS: &str = "invalid email or password";

impl From<ValidationError> for ApiError {
    fn from(err: ValidationError) -> Self {
        Self::unprocessable(err.to_string())
    }
}

impl From<RepoError> for ApiError {
    fn from(err: RepoError) -> Self {
        match err {
            RepoError::DuplicateEmail => Self::conflict(err.to_string()),
            RepoError::NotFound => Self::not_found(err.to_string()),
            RepoError::Token(_) => Self::bad_request(err.to_string()),
            RepoError::Storage(_) => Self::unavailable(err.to_string()),
        }
    }
}

/// Why a reset mail could not be sent.
#[derive(Debug, thiserror::Error)]
#[error("could not send the reset mail: {0}")]
pub struct MailError(pub String);

/// Delivers password-reset tokens to their owners. A real deployment plugs an email
/// provider in here; the link it sends carries `token`.
#[async_trait]
pub trait ResetMailer: Send + Sync {
    async fn send_reset(
        &self,
        to: &Email,
        token: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<(), MailError>;
}

/// Writes the reset token to the log instead of mailing it: for local development only,
/// since anyone reading the log can reset the password.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoggingResetMailer;

#[async_trait]
impl ResetMailer for LoggingResetMailer {
    async fn send_reset(
        &self,
        to: &Email,
        token: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<(), MailError> {
        tracing::info!(%to, token, %expires_at, "password reset requested (logging mailer: no email sent)");
        Ok(())
    }
}

/// argon2id hashing with configured cost, off the async runtime, at most one hash per CPU at
/// a time. Each hash takes the cost's memory (19 MiB by default) and a CPU for tens of
/// milliseconds: without the bound, a burst of logins ran hundreds at once, and the process
/// grew by gigabytes while every hash got slower. Requests beyond the bound wait their turn.
#[derive(Debug, Clone)]
pub struct PasswordHashing {
    params: Params,
    turns: Arc<tokio::sync::Semaphore>,
}

impl PasswordHashing {
    /// Hashing with `cost`; refuses parameters argon2 does not accept.
    pub fn new(cost: HashingCost) -> anyhow::Result<Self> {
        let params = Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None)
            .map_err(|err| anyhow::anyhow!("invalid argon2 parameters {cost:?}: {err}"))?;
        let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        Ok(Self {
            params,
            turns: Arc::new(tokio::sync::Semaphore::new(cpus)),
        })
    }

    /// How many hashes run at once at most: the CPUs this process may use.
    #[must_use]
    pub fn at_once(&self) -> usize {
        self.turns.available_permits()
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    /// Runs `work` on a blocking thread once a turn is free.
    async fn in_turn<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let turn = self
            .turns
            .clone()
            .acquire_owned()
            .await
            .map_err(ApiError::internal)?;
        tokio::task::spawn_blocking(move || {
            let done = work();
            drop(turn);
            done
        })
        .await
        .map_err(ApiError::internal)
    }

    /// The PHC string of `password` with a fresh random salt.
    pub async fn hash(&self, password: String) -> Result<String, ApiError> {
        let argon2 = self.argon2();
        self.in_turn(move || {
            argon2
                .hash_password(password.as_bytes())
                .map(|hash| hash.to_string())
        })
        .await?
        .map_err(ApiError::internal)
    }

    /// Whether `password` matches the PHC string `hash` (whose own parameters are used).
    pub async fn verify(&self, password: String, hash: String) -> Result<bool, ApiError> {
        let argon2 = self.argon2();
        self.in_turn(move || {
            argon2
                .verify_password(password.as_bytes(), hash.as_str())
                .is_ok()
        })
        .await
    }
}

/// What a successful login or refresh returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TokenPair {
    pub access_token: String,
    pub token_type: String,
    /// Seconds the access token lives.
    pub expires_in: u64,
    pub refresh_token: String,
}

/// A profile change; absent fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProfileChange {
    pub name: Option<String>,
    pub email: Option<String>,
}

/// The user service's use cases.
#[derive(Clone)]
pub struct UserService {
    repo: Arc<dyn UserRepository>,
    mailer: Arc<dyn ResetMailer>,
    keys: JwtKeys,
    settings: Settings,
    hashing: PasswordHashing,
    /// A hash verified against when the email is unknown, so a login takes as long either way.
    decoy_hash: Arc<str>,
}

impl UserService {
    /// Wires the use cases; fails on unusable hashing parameters.
    pub async fn new(
        repo: Arc<dyn UserRepository>,
        mailer: Arc<dyn ResetMailer>,
        keys: JwtKeys,
        settings: Settings,
    ) -> anyhow::Result<Self> {
        let hashing = PasswordHashing::new(settings.hashing)?;
        let decoy_hash = hashing
            .hash(models::generate_secret())
            .await
            .map_err(|err| anyhow::anyhow!("cannot hash with argon2: {err}"))?;
        Ok(Self {
            repo,
            mailer,
            keys,
            settings,
            hashing,
            decoy_hash: decoy_hash.into(),
        })
    }

    /// The keys access tokens are signed and verified with.
    #[must_use]
    pub fn keys(&self) -> &JwtKeys {
        &self.keys
    }

    /// Creates an account (admin if its email is listed in the settings) together with its
    /// `user.registered` event.
    pub async fn register(
        &self,
        email: &str,
        password: String,
        name: &str,
    ) -> Result<UserView, ApiError> {
        let email = Email::parse(email)?;
        let name = models::normalise_name(name)?;
        models::check_password_policy(&password)?;
        let role = if self.settings.is_admin_email(&email) {
            Role::Admin
        } else {
            Role::Customer
        };
        let user = User {
            id: UserId::new(),
            email,
            name,
            role,
            password_hash: self.hashing.hash(password).await?,
            created_at: Utc::now(),
        };
        self.repo
            .insert_user(user.clone(), &[events::registered(&user)])
            .await?;
        tracing::info!(user_id = %user.id, ?role, "user registered");
        Ok(UserView::from(&user))
    }

    /// Exchanges credentials for an access token and a refresh token.
    pub async fn login(&self, email: &str, password: String) -> Result<TokenPair, ApiError> {
        let user = match Email::parse(email) {
            Ok(email) => self.repo.user_by_email(&email).await?,
            Err(_) => None,
        };
        let hash = user
            .as_ref()
            .map_or_else(|| self.decoy_hash.to_string(), |u| u.password_hash.clone());
        let matches = self.hashing.verify(password, hash).await?;
        match user {
            Some(user) if matches => self.issue_pair(&user, Utc::now()).await,
            _ => Err(ApiError::unauthorized(INVALID_CREDENTIALS)),
        }
    }

    async fn issue_pair(&self, user: &User, now: DateTime<Utc>) -> Result<TokenPair, ApiError> {
        let (refresh_token, record) =
            RefreshToken::issue(user.id, now, self.settings.refresh_token_ttl);
        self.repo.store_refresh(record).await?;
        self.access_pair(user, now, refresh_token)
    }

    fn access_pair(
        &self,
        user: &User,
        now: DateTime<Utc>,
        refresh_token: String,
    ) -> Result<TokenPair, ApiError> {
        let (access_token, _) = self.keys.issue(user.id, user.role, now.timestamp())?;
        Ok(TokenPair {
            access_token,
            token_type: "Bearer".to_owned(),
            expires_in: self.keys.access_ttl.as_secs(),
            refresh_token,
        })
    }

    /// Exchanges a refresh token for a new access token and a new refresh token; the old
    /// refresh token stops working.
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenPair, ApiError> {
        let now = Utc::now();
        let (secret, next) =
            RefreshToken::issue(UserId::new(), now, self.settings.refresh_token_ttl);
        let owner = self
            .repo
            .rotate_refresh(&models::hash_secret(refresh_token), next, now)
            .await
            .map_err(|err| match err {
                RepoError::Token(err) => {
                    ApiError::unauthorized(format!("refresh token refused: {err}"))
                }
                other => other.into(),
            })?;
        let user = self.repo.user_by_id(owner).await?.ok_or_else(|| {
            ApiError::unauthorized("refresh token refused: user no longer exists")
        })?;
        self.access_pair(&user, now, secret)
    }

    /// Revokes the caller's refresh token. Unknown or foreign tokens change nothing.
    pub async fn logout(&self, caller: &AuthUser, refresh_token: &str) -> Result<(), ApiError> {
        let revoked = self
            .repo
            .revoke_refresh(&models::hash_secret(refresh_token), caller.claims.sub)
            .await?;
        tracing::info!(user_id = %caller.claims.sub, revoked, "logout");
        Ok(())
    }

    /// The profile of `id`, for the user themself or an admin.
    pub async fn profile(&self, caller: &AuthUser, id: UserId) -> Result<UserView, ApiError> {
        if !caller.claims.may_act_for(id) {
            return Err(ApiError::forbidden("you may only see your own profile"));
        }
        self.repo
            .user_by_id(id)
            .await?
            .map(|user| UserView::from(&user))
            .ok_or_else(|| ApiError::not_found(format!("user {id} not found")))
    }

    /// Changes the name and/or email of `id`, for the user themself or an admin.
    pub async fn update_profile(
        &self,
        caller: &AuthUser,
        id: UserId,
        change: ProfileChange,
    ) -> Result<UserView, ApiError> {
        if !caller.claims.may_act_for(id) {
            return Err(ApiError::forbidden("you may only change your own profile"));
        }
        let name = change
            .name
            .as_deref()
            .map(models::normalise_name)
            .transpose()?;
        let email = change.email.as_deref().map(Email::parse).transpose()?;
        let user = self.repo.update_profile(id, name, email).await?;
        Ok(UserView::from(&user))
    }

    /// Issues and mails a reset token if `email` has an account; says nothing either way
    /// (only a storage failure is an error).
    pub async fn request_password_reset(&self, email: &str) -> Result<(), ApiError> {
        let Ok(email) = Email::parse(email) else {
            return Ok(());
        };
        let Some(user) = self.repo.user_by_email(&email).await? else {
            tracing::info!("password reset requested for an unknown email");
            return Ok(());
        };
        let now = Utc::now();
        let (secret, record) = ResetToken::issue(user.id, now, self.settings.reset_token_ttl);
        let expires_at = record.expires_at;
        self.repo.store_reset(record).await?;
        if let Err(err) = self
            .mailer
            .send_reset(&user.email, &secret, expires_at)
            .await
        {
            tracing::error!(user_id = %user.id, error = %err, "reset mail not sent");
        }
        Ok(())
    }

    /// Sets a new password with a reset token; the token is spent and every refresh token
    /// of the user revoked.
    pub async fn confirm_password_reset(
        &self,
        token: &str,
        new_password: String,
    ) -> Result<(), ApiError> {
        models::check_password_policy(&new_password)?;
        let hash = self.hashing.hash(new_password).await?;
        let user = self
            .repo
            .redeem_reset(&models::hash_secret(token), hash, Utc::now())
            .await
            .map_err(|err| match err {
                RepoError::Token(err) => {
                    ApiError::bad_request(format!("reset token refused: {err}"))
                }
                other => other.into(),
            })?;
        tracing::info!(user_id = %user, "password reset");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_hash_waits_while_every_turn_is_taken_and_runs_once_one_is_free() {
        let hashing = PasswordHashing::new(HashingCost::insecure_for_tests()).unwrap();
        let turns = u32::try_from(hashing.at_once()).unwrap();
        assert!(turns >= 1);
        let held = hashing
            .turns
            .clone()
            .acquire_many_owned(turns)
            .await
            .unwrap();
        let pending = tokio::spawn({
            let hashing = hashing.clone();
            async move { hashing.hash("correct horse".to_owned()).await }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!pending.is_finished(), "it ran although no turn was free");
        drop(held);
        let hash = pending.await.unwrap().unwrap();
        assert!(
            hashing
                .verify("correct horse".to_owned(), hash)
                .await
                .unwrap()
        );
        assert_eq!(hashing.at_once(), usize::try_from(turns).unwrap());
    }
}
