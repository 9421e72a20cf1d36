//! Storage of accounts and tokens. Every method is one atomic operation, as it would be one
//! transaction in a database: uniqueness checks, token rotation and password resets never
//! span two calls.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use shared_types::UserId;

use crate::models::{Email, RefreshToken, ResetToken, TokenError, User};

/// Why a write was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RepoError {
    #[error("email is already registered")]
    DuplicateEmail,
    #[error("user not found")]
    NotFound,
}

/// Accounts, refresh tokens and reset tokens.
#[async_trait]
pub trait UserRepository: Send + Sync {
    /// Adds `user` unless its email is taken.
    async fn insert_user(&self, user: User) -> Result<(), RepoError>;
    async fn user_by_id(&self, id: UserId) -> Option<User>;
    async fn user_by_email(&self, email: &Email) -> Option<User>;
    /// Changes name and/or email; a new email must not belong to someone else.
    async fn update_profile(
        &self,
        id: UserId,
        name: Option<String>,
        email: Option<Email>,
    ) -> Result<User, RepoError>;
    /// Stores a newly issued refresh token.
    async fn store_refresh(&self, token: RefreshToken);
    /// Exchanges the token hashed `old_hash` for `new` (which gets the old one's owner):
    /// the old one is revoked and the new one stored, or nothing changes. Presenting an
    /// already revoked token is treated as theft: every token of its owner is revoked.
    async fn rotate_refresh(
        &self,
        old_hash: &str,
        new: RefreshToken,
        now: DateTime<Utc>,
    ) -> Result<UserId, TokenError>;
    /// Revokes the token hashed `hash` if it belongs to `user`; whether one was revoked.
    async fn revoke_refresh(&self, hash: &str, user: UserId) -> bool;
    /// Stores a newly issued reset token.
    async fn store_reset(&self, token: ResetToken);
    /// Redeems the reset token hashed `hash`: marks it used, sets the owner's password hash,
    /// and revokes all the owner's refresh tokens — all or nothing.
    async fn redeem_reset(
        &self,
        hash: &str,
        new_password_hash: String,
        now: DateTime<Utc>,
    ) -> Result<UserId, TokenError>;
}

#[derive(Default)]
struct Store {
    users: HashMap<UserId, User>,
    by_email: HashMap<Email, UserId>,
    refresh: HashMap<String, RefreshToken>,
    reset: HashMap<String, ResetToken>,
}

impl Store {
    fn revoke_all_refresh(&mut self, user: UserId) {
        for token in self.refresh.values_mut().filter(|t| t.user_id == user) {
            token.revoked = true;
        }
    }
}

/// The in-memory repository, one lock around everything.
#[derive(Default)]
pub struct InMemoryUserRepository {
    store: Mutex<Store>,
}

impl InMemoryUserRepository {
    fn lock(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl UserRepository for InMemoryUserRepository {
    async fn insert_user(&self, user: User) -> Result<(), RepoError> {
        let mut store = self.lock();
        if store.by_email.contains_key(&user.email) {
            return Err(RepoError::DuplicateEmail);
        }
        store.by_email.insert(user.email.clone(), user.id);
        store.users.insert(user.id, user);
        Ok(())
    }

    async fn user_by_id(&self, id: UserId) -> Option<User> {
        self.lock().users.get(&id).cloned()
    }

    async fn user_by_email(&self, email: &Email) -> Option<User> {
        let store = self.lock();
        store
            .by_email
            .get(email)
            .and_then(|id| store.users.get(id))
            .cloned()
    }

    async fn update_profile(
        &self,
        id: UserId,
        name: Option<String>,
        email: Option<Email>,
    ) -> Result<User, RepoError> {
        let mut store = self.lock();
        let current = store
            .users
            .get(&id)
            .ok_or(RepoError::NotFound)?
            .email
            .clone();
        if let Some(email) = &email
            && *email != current
        {
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
        if let Some(email) = email {
            user.email = email;
        }
        Ok(user.clone())
    }

    async fn store_refresh(&self, token: RefreshToken) {
        self.lock().refresh.insert(token.token_hash.clone(), token);
    }

    async fn rotate_refresh(
        &self,
        old_hash: &str,
        mut new: RefreshToken,
        now: DateTime<Utc>,
    ) -> Result<UserId, TokenError> {
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
                Err(TokenError::Revoked)
            }
            Err(err) => Err(err),
        }
    }

    async fn revoke_refresh(&self, hash: &str, user: UserId) -> bool {
        match self.lock().refresh.get_mut(hash) {
            Some(token) if token.user_id == user && !token.revoked => {
                token.revoked = true;
                true
            }
            _ => false,
        }
    }

    async fn store_reset(&self, token: ResetToken) {
        self.lock().reset.insert(token.token_hash.clone(), token);
    }

    async fn redeem_reset(
        &self,
        hash: &str,
        new_password_hash: String,
        now: DateTime<Utc>,
    ) -> Result<UserId, TokenError> {
        let mut store = self.lock();
        let token = store.reset.get_mut(hash).ok_or(TokenError::Unknown)?;
        token.check(now)?;
        token.used = true;
        let owner = token.user_id;
        let user = store.users.get_mut(&owner).ok_or(TokenError::Unknown)?;
        user.password_hash = new_password_hash;
        store.revoke_all_refresh(owner);
        Ok(owner)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use platform::auth::Role;

    use super::*;

    fn user(email: &str) -> User {
        User {
            id: UserId::new(),
            email: Email::parse(email).unwrap(),
            name: "Ada".to_owned(),
            role: Role::Customer,
            password_hash: "hash".to_owned(),
            created_at: Utc::now(),
        }
    }

    #[tokio::test]
    async fn rotation_revokes_the_old_token_and_reuse_revokes_the_whole_family() {
        let repo = InMemoryUserRepository::default();
        let owner = UserId::new();
        let now = Utc::now();
        let ttl = Duration::from_secs(60);
        let (_, first) = RefreshToken::issue(owner, now, ttl);
        let first_hash = first.token_hash.clone();
        repo.store_refresh(first).await;

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
            Err(TokenError::Revoked)
        );
        assert!(
            repo.lock().refresh[&second_hash].revoked,
            "reuse of a rotated token revokes its successors"
        );
    }

    #[tokio::test]
    async fn an_expired_refresh_token_cannot_be_rotated() {
        let repo = InMemoryUserRepository::default();
        let now = Utc::now();
        let (_, token) = RefreshToken::issue(UserId::new(), now, Duration::from_secs(1));
        let hash = token.token_hash.clone();
        repo.store_refresh(token).await;
        let (_, next) = RefreshToken::issue(UserId::new(), now, Duration::from_secs(1));
        let later = now + chrono::Duration::seconds(2);
        assert_eq!(
            repo.rotate_refresh(&hash, next, later).await,
            Err(TokenError::Expired)
        );
    }

    #[tokio::test]
    async fn an_email_change_cannot_take_someone_elses_address() {
        let repo = InMemoryUserRepository::default();
        let (ada, bob) = (user("ada@example.com"), user("bob@example.com"));
        let ada_id = ada.id;
        repo.insert_user(ada).await.unwrap();
        repo.insert_user(bob).await.unwrap();
        assert_eq!(
            repo.update_profile(ada_id, None, Some(Email::parse("bob@example.com").unwrap()))
                .await,
            Err(RepoError::DuplicateEmail)
        );
        let moved = repo
            .update_profile(ada_id, None, Some(Email::parse("ada@new.example").unwrap()))
            .await
            .unwrap();
        assert_eq!(moved.email.as_str(), "ada@new.example");
        assert!(
            repo.user_by_email(&Email::parse("ada@example.com").unwrap())
                .await
                .is_none(),
            "the old address is free again"
        );
    }
}
