//! Order storage and the idempotency store of `POST /api/v1/orders`, behind traits so a
//! Postgres implementation can replace the in-memory one. Every method is one atomic
//! operation: `transition` reads, applies the state machine and writes under one lock (the
//! database version does it in one transaction, together with the outbox row of the event
//! it causes), and `claim` is an insert-if-absent.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shared_types::{OrderId, Page, UserId};

use crate::models::{IllegalTransition, Order, OrderEvent};

/// Why a repository operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RepositoryError {
    #[error("order {0} not found")]
    NotFound(OrderId),
    #[error("order {0} already exists")]
    Duplicate(OrderId),
    #[error(transparent)]
    Illegal(#[from] IllegalTransition),
    #[error("order storage unavailable: {0}")]
    Unavailable(String),
}

/// A finished response, kept to replay it for a repeated idempotency key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredResponse {
    pub status: u16,
    pub body: serde_json::Value,
    /// The `Location` header, if the response had one.
    pub location: Option<String>,
}

/// What claiming an idempotency key found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The key was free and now belongs to this request: do the work, then `complete` (or
    /// `release` on failure).
    Claimed,
    /// Another request with this key and body is still being processed.
    InProgress,
    /// A request with this key and body finished: replay its response.
    Completed(StoredResponse),
    /// The key was used with a different request body.
    Mismatch,
}

/// Idempotency keys of one user: claimed atomically, then completed with the response or
/// released so a retry can proceed.
#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Claims `(user, key)` for a request whose body hashes to `fingerprint`, unless it is
    /// already claimed or completed.
    async fn claim(
        &self,
        user: UserId,
        key: &str,
        fingerprint: &str,
    ) -> Result<Claim, RepositoryError>;

    /// Stores the response of the request that claimed `(user, key)`.
    async fn complete(
        &self,
        user: UserId,
        key: &str,
        response: StoredResponse,
    ) -> Result<(), RepositoryError>;

    /// Frees an in-progress claim whose request failed, so the key can be used again.
    async fn release(&self, user: UserId, key: &str) -> Result<(), RepositoryError>;
}

/// Where orders live.
#[async_trait]
pub trait OrderRepository: IdempotencyStore {
    /// Stores a new order.
    async fn create(&self, order: Order) -> Result<(), RepositoryError>;

    /// The order, if it exists.
    async fn get(&self, id: OrderId) -> Result<Option<Order>, RepositoryError>;

    /// One page of `user`'s orders, newest first.
    async fn list_for_user(
        &self,
        user: UserId,
        page: u32,
        per_page: u32,
    ) -> Result<Page<Order>, RepositoryError>;

    /// Applies `event` to the order at `at`: the updated order if its status changed, `None`
    /// if the event was a no-op for its current status.
    async fn transition(
        &self,
        id: OrderId,
        event: &OrderEvent,
        at: DateTime<Utc>,
    ) -> Result<Option<Order>, RepositoryError>;
}

#[derive(Debug)]
enum KeyState {
    InProgress {
        fingerprint: String,
    },
    Completed {
        fingerprint: String,
        response: StoredResponse,
    },
}

#[derive(Debug, Default)]
struct State {
    orders: HashMap<OrderId, Order>,
    keys: HashMap<(UserId, String), KeyState>,
}

/// Orders and idempotency keys in process memory.
#[derive(Debug, Default)]
pub struct InMemoryOrderRepository {
    state: Mutex<State>,
}

impl InMemoryOrderRepository {
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl IdempotencyStore for InMemoryOrderRepository {
    async fn claim(
        &self,
        user: UserId,
        key: &str,
        fingerprint: &str,
    ) -> Result<Claim, RepositoryError> {
        let mut state = self.lock();
        let slot = (user, key.to_owned());
        Ok(match state.keys.get(&slot) {
            None => {
                state.keys.insert(
                    slot,
                    KeyState::InProgress {
                        fingerprint: fingerprint.to_owned(),
                    },
                );
                Claim::Claimed
            }
            Some(
                KeyState::InProgress { fingerprint: held }
                | KeyState::Completed {
                    fingerprint: held, ..
                },
            ) if held != fingerprint => Claim::Mismatch,
            Some(KeyState::InProgress { .. }) => Claim::InProgress,
            Some(KeyState::Completed { response, .. }) => Claim::Completed(response.clone()),
        })
    }

    async fn complete(
        &self,
        user: UserId,
        key: &str,
        response: StoredResponse,
    ) -> Result<(), RepositoryError> {
        let mut state = self.lock();
        if let Some(slot) = state.keys.get_mut(&(user, key.to_owned()))
            && let KeyState::InProgress { fingerprint } = slot
        {
            *slot = KeyState::Completed {
                fingerprint: std::mem::take(fingerprint),
                response,
            };
        }
        Ok(())
    }

    async fn release(&self, user: UserId, key: &str) -> Result<(), RepositoryError> {
        let mut state = self.lock();
        let slot = (user, key.to_owned());
        if matches!(state.keys.get(&slot), Some(KeyState::InProgress { .. })) {
            state.keys.remove(&slot);
        }
        Ok(())
    }
}

#[async_trait]
impl OrderRepository for InMemoryOrderRepository {
    async fn create(&self, order: Order) -> Result<(), RepositoryError> {
        let mut state = self.lock();
        if state.orders.contains_key(&order.id) {
            return Err(RepositoryError::Duplicate(order.id));
        }
        state.orders.insert(order.id, order);
        Ok(())
    }

    async fn get(&self, id: OrderId) -> Result<Option<Order>, RepositoryError> {
        Ok(self.lock().orders.get(&id).cloned())
    }

    async fn list_for_user(
        &self,
        user: UserId,
        page: u32,
        per_page: u32,
    ) -> Result<Page<Order>, RepositoryError> {
        let mut orders: Vec<Order> = self
            .lock()
            .orders
            .values()
            .filter(|order| order.user_id == user)
            .cloned()
            .collect();
        orders.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        Ok(Page::slice(orders, page, per_page))
    }

    async fn transition(
        &self,
        id: OrderId,
        event: &OrderEvent,
        at: DateTime<Utc>,
    ) -> Result<Option<Order>, RepositoryError> {
        let mut state = self.lock();
        let order = state
            .orders
            .get_mut(&id)
            .ok_or(RepositoryError::NotFound(id))?;
        let changed = order.apply(event, at)?;
        Ok(changed.then(|| order.clone()))
    }
}

#[cfg(test)]
mod tests {
    use shared_events::OrderLine;
    use shared_types::{Currency, Money, ProductId};

    use super::*;
    use crate::models::OrderStatus;

    fn order(user: UserId) -> Order {
        let line = OrderLine {
            product_id: ProductId::new(),
            quantity: 1,
            unit_price: Money::new(100, Currency::Usd),
        };
        Order::place(user, vec![line], Utc::now()).unwrap()
    }

    fn response() -> StoredResponse {
        StoredResponse {
            status: 202,
            body: serde_json::json!({ "ok": true }),
            location: None,
        }
    }

    #[tokio::test]
    async fn a_key_is_claimed_once_then_replayed_and_guards_its_body() {
        let repo = InMemoryOrderRepository::new();
        let user = UserId::new();
        assert_eq!(repo.claim(user, "k", "a").await.unwrap(), Claim::Claimed);
        assert_eq!(repo.claim(user, "k", "a").await.unwrap(), Claim::InProgress);
        assert_eq!(repo.claim(user, "k", "b").await.unwrap(), Claim::Mismatch);
        assert_eq!(
            repo.claim(UserId::new(), "k", "b").await.unwrap(),
            Claim::Claimed,
            "keys are per user"
        );
        repo.complete(user, "k", response()).await.unwrap();
        assert_eq!(
            repo.claim(user, "k", "a").await.unwrap(),
            Claim::Completed(response())
        );
        assert_eq!(repo.claim(user, "k", "b").await.unwrap(), Claim::Mismatch);
    }

    #[tokio::test]
    async fn a_released_key_can_be_claimed_again_but_a_completed_one_cannot_be_released() {
        let repo = InMemoryOrderRepository::new();
        let user = UserId::new();
        repo.claim(user, "k", "a").await.unwrap();
        repo.release(user, "k").await.unwrap();
        assert_eq!(repo.claim(user, "k", "b").await.unwrap(), Claim::Claimed);
        repo.complete(user, "k", response()).await.unwrap();
        repo.release(user, "k").await.unwrap();
        assert!(matches!(
            repo.claim(user, "k", "b").await.unwrap(),
            Claim::Completed(_)
        ));
    }

    #[tokio::test]
    async fn a_transition_reports_changes_and_no_ops() {
        let repo = InMemoryOrderRepository::new();
        let order = order(UserId::new());
        let id = order.id;
        repo.create(order.clone()).await.unwrap();
        assert_eq!(
            repo.create(order).await,
            Err(RepositoryError::Duplicate(id))
        );
        let reserved = repo
            .transition(id, &OrderEvent::InventoryReserved, Utc::now())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(reserved.status, OrderStatus::Reserved);
        assert_eq!(
            repo.transition(id, &OrderEvent::InventoryReserved, Utc::now())
                .await
                .unwrap(),
            None
        );
        assert!(matches!(
            repo.transition(OrderId::new(), &OrderEvent::InventoryReserved, Utc::now())
                .await,
            Err(RepositoryError::NotFound(_))
        ));
    }

    #[tokio::test]
    async fn a_user_sees_only_their_orders_newest_first() {
        let repo = InMemoryOrderRepository::new();
        let user = UserId::new();
        let mut first = order(user);
        first.created_at -= chrono::Duration::seconds(10);
        let second = order(user);
        repo.create(first.clone()).await.unwrap();
        repo.create(second.clone()).await.unwrap();
        repo.create(order(UserId::new())).await.unwrap();
        let page = repo.list_for_user(user, 1, 10).await.unwrap();
        let ids: Vec<_> = page.items.iter().map(|o| o.id).collect();
        assert_eq!(ids, [second.id, first.id]);
        assert_eq!(page.total, 2);
    }
}
