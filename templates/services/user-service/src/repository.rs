//! Storage of accounts and tokens. Every method is one atomic operation, one transaction in
//! `PostgreSQL` ([`postgres::PostgresUserRepository`]): uniqueness checks, token rotation,
//! password resets, email changes and verifications never span two calls, and registering an
//! account stores the account and its `user.registered` event together.

pub mod postgres;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use shared_events::{EventBus, EventEnvelope};
use shared_types::UserId;

use crate::models::{Email, OneTimeToken, RefreshToken, TokenError, User, VerificationToken};

/// Why an operation was refused or failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RepoError {
    #[error("email is already registered")]
    DuplicateEmail,
    #[error("user not found")]
    NotFound,
    /// A refresh or reset token was refused.
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error("user storage failed: {0}")]
    Storage(String),
}

/// Accounts, refresh tokens and reset tokens.
#[async_trait]
pub trait UserRepository: Send + Sync {
    /// Adds `user` unless its email is taken, together with the events the registration
    /// causes: in `PostgreSQL` both in one transaction (the events go to the outbox); in memory
    /// the events are published once the account is stored.
    async fn insert_user(&self, user: User, events: &[EventEnvelope]) -> Result<(), RepoError>;
    async fn user_by_id(&self, id: UserId) -> Result<Option<User>, RepoError>;
    async fn user_by_email(&self, email: &Email) -> Result<Option<User>, RepoError>;
    /// Changes name and/or email; a new email must not belong to someone else. A changed
    /// email is unverified, the reset tokens mailed to the old address are spent, and the
    /// answer names the address it replaced.
    async fn update_profile(
        &self,
        id: UserId,
        name: Option<String>,
        email: Option<Email>,
    ) -> Result<ProfileUpdate, RepoError>;
    /// Stores a newly issued refresh token.
    async fn store_refresh(&self, token: RefreshToken) -> Result<(), RepoError>;
    /// Exchanges the token hashed `old_hash` for `new` (which gets the old one's owner):
    /// the old one is revoked and the new one stored, or nothing changes. Presenting an
    /// already revoked token is treated as theft: every token of its owner is revoked (and
    /// stays revoked although the call answers [`TokenError::Revoked`]).
    async fn rotate_refresh(
        &self,
        old_hash: &str,
        new: RefreshToken,
        now: DateTime<Utc>,
    ) -> Result<UserId, RepoError>;
    /// Revokes the token hashed `hash` if it belongs to `user`; whether one was revoked.
    async fn revoke_refresh(&self, hash: &str, user: UserId) -> Result<bool, RepoError>;
    /// Stores a newly issued reset token.
    async fn store_reset(&self, token: OneTimeToken) -> Result<(), RepoError>;
    /// Redeems the reset token hashed `hash`: marks it and every other outstanding reset token
    /// of the owner used, sets the owner's password hash, and revokes all the owner's refresh
    /// tokens — all or nothing.
    async fn redeem_reset(
        &self,
        hash: &str,
        new_password_hash: String,
        now: DateTime<Utc>,
    ) -> Result<UserId, RepoError>;
    /// Stores a newly issued email-verification token.
    async fn store_verification(&self, token: VerificationToken) -> Result<(), RepoError>;
    /// Redeems `user`'s verification token hashed `hash` (another user's is unknown): marks it
    /// used and the address verified — if the account still has the address it was mailed
    /// to; otherwise the token is spent and refused as revoked (the address changed since).
    async fn redeem_verification(
        &self,
        hash: &str,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<(), RepoError>;
}

/// What [`UserRepository::update_profile`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileUpdate {
    /// The account as it is now.
    pub user: User,
    /// The address the account had, when the change gave it another.
    pub previous_email: Option<Email>,
}

#[derive(Default)]
struct Store {
    users: HashMap<UserId, User>,
    by_email: HashMap<Email, UserId>,
    refresh: HashMap<String, RefreshToken>,
    reset: HashMap<String, OneTimeToken>,
    verification: HashMap<String, VerificationToken>,
}

impl Store {
    fn revoke_all_refresh(&mut self, user: UserId) {
        for token in self.refresh.values_mut().filter(|t| t.user_id == user) {
            token.revoked = true;
        }
    }

    /// Spends every reset token of `user` not yet used.
    fn spend_all_resets(&mut self, user: UserId) {
        for token in self.reset.values_mut().filter(|t| t.user_id == user) {
            token.used = true;
        }
    }
}

/// The in-memory repository, one lock around everything; publishes the events of a change
/// on `bus` once the change is made.
pub struct InMemoryUserRepository {
    store: Mutex<Store>,
    bus: Arc<dyn EventBus>,
}

impl InMemoryUserRepository {
    /// An empty repository publishing on `bus`.
    #[must_use]
    pub fn new(bus: Arc<dyn EventBus>) -> Self {
        Self {
            store: Mutex::default(),
            bus,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl UserRepository for InMemoryUserRepository {
    async fn insert_user(&self, user: User, events: &[EventEnvelope]) -> Result<(), RepoError> {
        let id = user.id;
        {
            let mut store = self.lock();
            if store.by_email.contains_key(&user.email) {
                return Err(RepoError::DuplicateEmail);
            }
            store.by_email.insert(user.email.clone(), user.id);
            store.users.insert(user.id, user);
        }
        // The account exists either way; without an outbox a refused event can only be logged.
        for event in events {
            if let Err(err) = self.bus.publish(event.clone()).await {
                tracing::error!(user_id = %id, topic = event.topic(), error = %err, "event not published");
            }
        }
        Ok(())
    }

    async fn user_by_id(&self, id: UserId) -> Result<Option<User>, RepoError> {
        Ok(self.lock().users.get(&id).cloned())
    }

    async fn user_by_email(&self, email: &Email) -> Result<Option<User>, RepoError> {
        let store = self.lock();
        Ok(store
            .by_email
            .get(email)
            .and_then(|id| store.users.get(id))
            .cloned())
    }

    async fn update_profile(
        &self,
        id: UserId,
        name: Option<String>,
        email: Option<Email>,
    ) -> Result<ProfileUpdate, RepoError> {
        let mut store = self.lock();
        let current = store
            .users
            .get(&id)
            .ok_or(RepoError::NotFound)?
            .email
            .clone();
        let changed = email.filter(|email| *email != current);
        if let Some(email) = &changed {
            if store.by_email.contains_key(email) {
                return Err(RepoError::DuplicateEmail);
            }
            store.by_email.remove(&current);
            store.by_email.insert(email.clone(), id);
        }
        let user = store.users.get_mut(&id).ok_or(RepoError::NotFound)?;
        if let Some(name) = name {
            user.name = name;
        }
        let previous_email = changed.map(|email| {
            user.email_verified = false;
            std::mem::replace(&mut user.email, email)
        });
        let user = user.clone();
        if previous_email.is_some() {
            store.spend_all_resets(id);
        }
        Ok(ProfileUpdate {
            user,
            previous_email,
        })
    }

    async fn store_refresh(&self, token: RefreshToken) -> Result<(), RepoError> {
        self.lock().refresh.insert(token.token_hash.clone(), token);
        Ok(())
    }

    async fn rotate_refresh(
        &self,
        old_hash: &str,
        mut new: RefreshToken,
        now: DateTime<Utc>,
    ) -> Result<UserId, RepoError> {
        let mut store = self.lock();
        let old = store.refresh.get_mut(old_hash).ok_or(TokenError::Unknown)?;
        let owner = old.user_id;
        match old.check(now) {
            Ok(()) => {
                old.revoked = true;
                new.user_id = owner;
                store.refresh.insert(new.token_hash.clone(), new);
                Ok(owner)
            }
            Err(TokenError::Revoked) => {
                tracing::warn!(user_id = %owner, "revoked refresh token reused; revoking all of the user's tokens");
                store.revoke_all_refresh(owner);
                Err(TokenError::Revoked.into())
            }
            Err(err) => Err(err.into()),
        }
    }

    async fn revoke_refresh(&self, hash: &str, user: UserId) -> Result<bool, RepoError> {
        Ok(match self.lock().refresh.get_mut(hash) {
            Some(token) if token.user_id == user && !token.revoked => {
                token.revoked = true;
                true
            }
            _ => false,
        })
    }

    async fn store_reset(&self, token: OneTimeToken) -> Result<(), RepoError> {
        self.lock().reset.insert(token.token_hash.clone(), token);
        Ok(())
    }

    async fn redeem_reset(
        &self,
        hash: &str,
        new_password_hash: String,
        now: DateTime<Utc>,
    ) -> Result<UserId, RepoError> {
        let mut store = self.lock();
        let token = store.reset.get_mut(hash).ok_or(TokenError::Unknown)?;
        token.check(now)?;
        token.used = true;
        let owner = token.user_id;
        let user = store.users.get_mut(&owner).ok_or(TokenError::Unknown)?;
        user.password_hash = new_password_hash;
        store.revoke_all_refresh(owner);
        store.spend_all_resets(owner);
        Ok(owner)
    }

    async fn store_verification(&self, token: VerificationToken) -> Result<(), RepoError> {
        self.lock()
            .verification
            .insert(token.token.token_hash.clone(), token);
        Ok(())
    }

    async fn redeem_verification(
        &self,
        hash: &str,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<(), RepoError> {
        let mut store = self.lock();
        let token = store
            .verification
            .get_mut(hash)
            .filter(|token| token.token.user_id == user)
            .ok_or(TokenError::Unknown)?;
        token.token.check(now)?;
        token.token.used = true;
        let email = token.email.clone();
        let account = store.users.get_mut(&user).ok_or(TokenError::Unknown)?;
        if account.email != email {
            return Err(TokenError::Revoked.into());
        }
        account.email_verified = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use platform::auth::Role;
    use shared_events::{InMemoryEventBus, UserRegistered};

    use super::*;

    fn repo() -> InMemoryUserRepository {
        InMemoryUserRepository::new(Arc::new(InMemoryEventBus::default()))
    }

    fn user(email: &str) -> User {
        User {
            id: UserId::new(),
            email: Email::parse(email).unwrap(),
            name: "Ada".to_owned(),
            role: Role::Customer,
            email_verified: true,
            password_hash: "hash".to_owned(),
            created_at: Utc::now(),
        }
    }

    #[tokio::test]
    async fn rotation_revokes_the_old_token_and_reuse_revokes_the_whole_family() {
        let repo = repo();
        let owner = UserId::new();
        let now = Utc::now();
        let ttl = Duration::from_secs(60);
        let (_, first) = RefreshToken::issue(owner, now, ttl);
        let first_hash = first.token_hash.clone();
        repo.store_refresh(first).await.unwrap();

        let (_, second) = RefreshToken::issue(UserId::new(), now, ttl);
        let second_hash = second.token_hash.clone();
        assert_eq!(
            repo.rotate_refresh(&first_hash, second, now).await,
            Ok(owner)
        );
        assert_eq!(
            repo.lock().refresh[&second_hash].user_id,
            owner,
            "the new token belongs to the old one's owner"
        );

        let (_, third) = RefreshToken::issue(owner, now, ttl);
        assert_eq!(
            repo.rotate_refresh(&first_hash, third, now).await,
            Err(RepoError::Token(TokenError::Revoked))
        );
        assert!(
            repo.lock().refresh[&second_hash].revoked,
            "reuse of a rotated token revokes its successors"
        );
    }

    #[tokio::test]
    async fn an_expired_refresh_token_cannot_be_rotated() {
        let repo = repo();
        let now = Utc::now();
        let (_, token) = RefreshToken::issue(UserId::new(), now, Duration::from_secs(1));
        let hash = token.token_hash.clone();
        repo.store_refresh(token).await.unwrap();
        let (_, next) = RefreshToken::issue(UserId::new(), now, Duration::from_secs(1));
        let later = now + chrono::Duration::seconds(2);
        assert_eq!(
            repo.rotate_refresh(&hash, next, later).await,
            Err(RepoError::Token(TokenError::Expired))
        );
    }

    #[tokio::test]
    async fn an_email_change_cannot_take_someone_elses_address() {
        let repo = repo();
        let (ada, bob) = (user("ada@example.com"), user("bob@example.com"));
        let ada_id = ada.id;
        repo.insert_user(ada, &[]).await.unwrap();
        repo.insert_user(bob, &[]).await.unwrap();
        assert_eq!(
            repo.update_profile(ada_id, None, Some(Email::parse("bob@example.com").unwrap()))
                .await,
            Err(RepoError::DuplicateEmail)
        );
        let moved = repo
            .update_profile(ada_id, None, Some(Email::parse("ada@new.example").unwrap()))
            .await
            .unwrap();
        assert_eq!(moved.user.email.as_str(), "ada@new.example");
        assert!(
            !moved.user.email_verified,
            "a new address starts unverified"
        );
        assert_eq!(
            moved.previous_email,
            Some(Email::parse("ada@example.com").unwrap())
        );
        assert!(
            repo.user_by_email(&Email::parse("ada@example.com").unwrap())
                .await
                .unwrap()
                .is_none(),
            "the old address is free again"
        );
    }

    #[tokio::test]
    async fn a_verification_token_verifies_only_the_address_it_was_mailed_to() {
        let repo = repo();
        let mut ada = user("ada@example.com");
        ada.email_verified = false;
        let ada_id = ada.id;
        repo.insert_user(ada, &[]).await.unwrap();
        let now = Utc::now();
        let issue = |email: &str| {
            let (_, token) = OneTimeToken::issue(ada_id, now, Duration::from_secs(60));
            VerificationToken {
                token,
                email: Email::parse(email).unwrap(),
            }
        };
        let stale = issue("ada@example.com");
        let stale_hash = stale.token.token_hash.clone();
        repo.store_verification(stale).await.unwrap();
        repo.update_profile(ada_id, None, Some(Email::parse("ada@new.example").unwrap()))
            .await
            .unwrap();
        assert_eq!(
            repo.redeem_verification(&stale_hash, ada_id, now).await,
            Err(RepoError::Token(TokenError::Revoked)),
            "a token for the old address does not verify the new one"
        );
        assert!(
            !repo
                .user_by_id(ada_id)
                .await
                .unwrap()
                .unwrap()
                .email_verified
        );

        let fresh = issue("ada@new.example");
        let fresh_hash = fresh.token.token_hash.clone();
        repo.store_verification(fresh).await.unwrap();
        assert_eq!(
            repo.redeem_verification(&fresh_hash, UserId::new(), now)
                .await,
            Err(RepoError::Token(TokenError::Unknown)),
            "another user cannot spend it"
        );
        assert_eq!(
            repo.redeem_verification(&fresh_hash, ada_id, now).await,
            Ok(())
        );
        assert!(
            repo.user_by_id(ada_id)
                .await
                .unwrap()
                .unwrap()
                .email_verified
        );
        assert_eq!(
            repo.redeem_verification(&fresh_hash, ada_id, now).await,
            Err(RepoError::Token(TokenError::Revoked)),
            "single use"
        );
    }

    #[tokio::test]
    async fn the_events_of_a_registration_are_published_once_the_account_is_stored() {
        let bus = InMemoryEventBus::default();
        let repo = InMemoryUserRepository::new(Arc::new(bus.clone()));
        let ada = user("ada@example.com");
        let event = EventEnvelope::wrap(&UserRegistered {
            user_id: ada.id,
            email: ada.email.to_string(),
            name: ada.name.clone(),
        });
        repo.insert_user(ada, std::slice::from_ref(&event))
            .await
            .unwrap();
        assert_eq!(
            repo.insert_user(user("ada@example.com"), std::slice::from_ref(&event))
                .await,
            Err(RepoError::DuplicateEmail)
        );
        assert_eq!(
            bus.published(),
            vec![event],
            "a refused registration publishes nothing"
        );
    }
}
