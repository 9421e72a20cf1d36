//! The use cases: register, verify an email address, log in, refresh, log out, read and edit
//! profiles, reset a password, and create an admin. Mail goes through the [`Mailer`]; a mail
//! that cannot be sent is logged (never its token) and does not fail the request.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use platform::ApiError;
use platform::auth::{AuthUser, JwtKeys, Role};
use serde::{Deserialize, Serialize};
use shared_types::UserId;

use crate::config::Settings;
use crate::events;
use crate::mail::{Mail, Mailer};
use crate::models::{
    self, Email, OneTimeToken, RefreshToken, User, UserView, ValidationError, VerificationToken,
};
use crate::password::PasswordHashing;
use crate::repository::{RepoError, UserRepository};

/// The one answer to a failed login, whichever part was wrong.
pub const INVALID_CREDENTIALS: &str = "invalid email or password";

/// The answer to an admin whose own address is not verified (any more).
pub const UNVERIFIED_ADMIN: &str = "admin power needs a verified email address: verify yours (POST /api/v1/auth/verify-email) and log in again";

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
            RepoError::Storage(_) => Self::dependency("the account store", err),
        }
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
    /// Stored trimmed; must not be blank.
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub name: Option<String>,
    /// A new address: unverified until a token mailed to it comes back; the old address is
    /// told of the change. Compared trimmed and lower-cased.
    #[schema(format = Email, max_length = 254)]
    pub email: Option<String>,
    /// The caller's current password: required to change `email`.
    pub current_password: Option<String>,
}

/// What [`UserService::create_admin`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminBootstrap {
    /// A new verified admin.
    Created(UserView),
    /// The address already belonged to a verified admin; nothing changed (its password
    /// included).
    Existed(UserView),
}

/// The user service's use cases.
#[derive(Clone)]
pub struct UserService {
    repo: Arc<dyn UserRepository>,
    mailer: Arc<dyn Mailer>,
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
        mailer: Arc<dyn Mailer>,
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

    /// The keys access tokens are verified with.
    #[must_use]
    pub fn keys(&self) -> &JwtKeys {
        &self.keys
    }

    /// Creates a customer account with an unverified address, together with its
    /// `user.registered` event, and mails a verification token to the address.
    pub async fn register(
        &self,
        email: &str,
        password: String,
        name: &str,
    ) -> Result<UserView, ApiError> {
        let email = Email::parse(email)?;
        let name = models::normalise_name(name)?;
        models::check_password_policy(&password)?;
        let user = User {
            id: UserId::new(),
            email,
            name,
            role: Role::Customer,
            email_verified: false,
            password_hash: self.hashing.hash(password).await?,
            created_at: Utc::now(),
        };
        self.repo
            .insert_user(user.clone(), &[events::registered(&user)])
            .await?;
        tracing::info!(user_id = %user.id, "user registered");
        // The account exists either way: a lost token is replaced by asking for another.
        if let Err(err) = self.send_verification(&user).await {
            tracing::error!(user_id = %user.id, error = %err, "verification token not issued");
        }
        Ok(UserView::from(&user))
    }

    /// Creates a verified admin (`user-service create-admin`, the devstack's admin). An address
    /// that is already a verified admin's is left as it is; any other account on it is a
    /// conflict, and nothing changes.
    pub async fn create_admin(
        &self,
        email: &str,
        password: String,
        name: &str,
    ) -> Result<AdminBootstrap, ApiError> {
        let email = Email::parse(email)?;
        let name = models::normalise_name(name)?;
        models::check_password_policy(&password)?;
        let taken = |existing: Option<User>| match existing {
            Some(user) if user.effective_role() == Role::Admin => {
                Ok(AdminBootstrap::Existed(UserView::from(&user)))
            }
            _ => Err(ApiError::conflict(format!(
                "`{email}` already has an account that is not a verified admin; nothing was changed"
            ))),
        };
        if let Some(existing) = self.repo.user_by_email(&email).await? {
            return taken(Some(existing));
        }
        let user = User {
            id: UserId::new(),
            email: email.clone(),
            name,
            role: Role::Admin,
            email_verified: true,
            password_hash: self.hashing.hash(password).await?,
            created_at: Utc::now(),
        };
        match self
            .repo
            .insert_user(user.clone(), &[events::registered(&user)])
            .await
        {
            Ok(()) => {
                tracing::info!(user_id = %user.id, email = %user.email, "admin created");
                Ok(AdminBootstrap::Created(UserView::from(&user)))
            }
            // Created by someone else since the lookup.
            Err(RepoError::DuplicateEmail) => taken(self.repo.user_by_email(&email).await?),
            Err(err) => Err(err.into()),
        }
    }

    /// Issues a verification token for `user`'s current address and mails it.
    async fn send_verification(&self, user: &User) -> Result<(), ApiError> {
        let (secret, token) =
            OneTimeToken::issue(user.id, Utc::now(), self.settings.verification_token_ttl);
        let expires_at = token.expires_at;
        self.repo
            .store_verification(VerificationToken {
                token,
                email: user.email.clone(),
            })
            .await?;
        self.deliver(Mail::EmailVerification {
            to: user.email.clone(),
            token: secret,
            expires_at,
        })
        .await;
        Ok(())
    }

    /// Sends `mail`; a failure is logged (without the body) and otherwise ignored.
    async fn deliver(&self, mail: Mail) {
        if let Err(err) = self.mailer.send(&mail).await {
            tracing::error!(mail = mail.kind(), to = %mail.to(), error = %err, "mail not sent");
        }
    }

    /// Marks the caller's address verified with a token mailed to it.
    pub async fn verify_email(&self, caller: &AuthUser, token: &str) -> Result<(), ApiError> {
        self.repo
            .redeem_verification(&models::hash_secret(token), caller.claims.sub, Utc::now())
            .await
            .map_err(|err| match err {
                RepoError::Token(err) => {
                    ApiError::bad_request(format!("verification token refused: {err}"))
                }
                other => other.into(),
            })?;
        tracing::info!(user_id = %caller.claims.sub, "email verified");
        Ok(())
    }

    /// Mails the caller a new verification token, unless their address is verified.
    pub async fn resend_verification(&self, caller: &AuthUser) -> Result<(), ApiError> {
        let user = self
            .repo
            .user_by_id(caller.claims.sub)
            .await?
            .ok_or_else(|| ApiError::not_found("your account no longer exists"))?;
        if user.email_verified {
            return Err(ApiError::conflict(format!(
                "`{}` is verified already",
                user.email
            )));
        }
        self.send_verification(&user).await
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

    /// An access token with the account's effective role: an admin with an unverified
    /// address gets a customer's token.
    fn access_pair(
        &self,
        user: &User,
        now: DateTime<Utc>,
        refresh_token: String,
    ) -> Result<TokenPair, ApiError> {
        let (access_token, _) =
            self.settings
                .signing
                .issue(user.id, user.effective_role(), now.timestamp())?;
        Ok(TokenPair {
            access_token,
            token_type: "Bearer".to_owned(),
            expires_in: self.settings.signing.access_ttl.as_secs(),
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

    /// Lets `caller` act on `id`'s account: their own, or any for an admin whose account still
    /// has a verified address (the token's role may predate an email change).
    async fn authorize(&self, caller: &AuthUser, id: UserId, own: &str) -> Result<(), ApiError> {
        if caller.claims.sub == id {
            return Ok(());
        }
        if caller.claims.role != Role::Admin {
            return Err(ApiError::forbidden(format!("you may only {own}")));
        }
        let acting = self.repo.user_by_id(caller.claims.sub).await?;
        if acting.is_some_and(|admin| admin.effective_role() == Role::Admin) {
            Ok(())
        } else {
            Err(ApiError::forbidden(UNVERIFIED_ADMIN))
        }
    }

    /// The profile of `id`, for the user themself or a verified admin.
    pub async fn profile(&self, caller: &AuthUser, id: UserId) -> Result<UserView, ApiError> {
        self.authorize(caller, id, "see your own profile").await?;
        self.repo
            .user_by_id(id)
            .await?
            .map(|user| UserView::from(&user))
            .ok_or_else(|| ApiError::not_found(format!("user {id} not found")))
    }

    /// Changes the name and/or email of `id`, for the user themself or a verified admin. A new
    /// email needs the caller's current password; the old address is told of the change and
    /// the new one gets a verification token.
    pub async fn update_profile(
        &self,
        caller: &AuthUser,
        id: UserId,
        change: ProfileChange,
    ) -> Result<UserView, ApiError> {
        self.authorize(caller, id, "change your own profile")
            .await?;
        let name = change
            .name
            .as_deref()
            .map(models::normalise_name)
            .transpose()?;
        let email = change.email.as_deref().map(Email::parse).transpose()?;
        let user = self
            .repo
            .user_by_id(id)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("user {id} not found")))?;
        let email = email.filter(|email| *email != user.email);
        if email.is_some() {
            self.reauthenticate(caller, change.current_password).await?;
        }
        let update = self.repo.update_profile(id, name, email).await?;
        if let Some(previous) = update.previous_email {
            tracing::info!(user_id = %id, by = %caller.claims.sub, "email changed");
            self.deliver(Mail::EmailChanged {
                to: previous,
                new_email: update.user.email.clone(),
                at: Utc::now(),
            })
            .await;
            if let Err(err) = self.send_verification(&update.user).await {
                tracing::error!(user_id = %id, error = %err, "verification token not issued");
            }
        }
        Ok(UserView::from(&update.user))
    }

    /// Checks `password` against the caller's own: a stolen access token alone cannot move
    /// an account to another address.
    async fn reauthenticate(
        &self,
        caller: &AuthUser,
        password: Option<String>,
    ) -> Result<(), ApiError> {
        let password = password.ok_or_else(|| {
            ApiError::forbidden(
                "changing the email needs your current password in `current_password`",
            )
        })?;
        let acting = self
            .repo
            .user_by_id(caller.claims.sub)
            .await?
            .ok_or_else(|| ApiError::forbidden("your account no longer exists"))?;
        if self.hashing.verify(password, acting.password_hash).await? {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "`current_password` is not your current password",
            ))
        }
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
        let (secret, record) =
            OneTimeToken::issue(user.id, Utc::now(), self.settings.reset_token_ttl);
        let expires_at = record.expires_at;
        self.repo.store_reset(record).await?;
        tracing::info!(user_id = %user.id, "password reset requested");
        self.deliver(Mail::PasswordReset {
            to: user.email,
            token: secret,
            expires_at,
        })
        .await;
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
