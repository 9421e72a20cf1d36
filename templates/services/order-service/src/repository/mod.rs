//! Order storage and the idempotency store of `POST /api/v1/orders`, behind traits with an
//! in-memory implementation ([`InMemoryOrderRepository`]) and a `PostgreSQL` one
//! ([`PostgresOrderRepository`]). Every method is one atomic operation, and a state change is
//! stored together with the events it causes: `create` stores the order, its `order.created`
//! and the response of its idempotency key at once; `transition` reads, applies the state
//! machine, writes, records the announcement of the new status and marks the consumed event
//! processed, all under one lock (in memory) or in one transaction (`PostgreSQL`, where the
//! events go to the outbox and the relay publishes them). `claim` is an insert-if-absent.

mod memory;
mod postgres;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shared_events::EventEnvelope;
use shared_types::{EventId, OrderId, Page, UserId};

use crate::models::{IllegalTransition, Order, OrderEvent};

pub use memory::InMemoryOrderRepository;
pub use postgres::PostgresOrderRepository;

/// Why a repository operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RepositoryError {
    #[error("order {0} not found")]
    NotFound(OrderId),
    #[error("order {0} already exists")]
    Duplicate(OrderId),
    #[error(transparent)]
    Illegal(#[from] IllegalTransition),
    #[error("idempotency key `{0}` is no longer claimed by this request")]
    ClaimLost(String),
    #[error("order storage unavailable: {0}")]
    Unavailable(String),
}

impl From<sqlx::Error> for RepositoryError {
    fn from(err: sqlx::Error) -> Self {
        Self::Unavailable(err.to_string())
    }
}

/// The in-memory repository publishes after each change: a bus failure is reported as
/// unavailable storage (the change itself is already stored).
impl From<shared_events::BusError> for RepositoryError {
    fn from(err: shared_events::BusError) -> Self {
        Self::Unavailable(err.to_string())
    }
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
    /// The key was free and now belongs to this request: do the work and `create` the order
    /// with its [`Completion`] (or `release` the key on failure).
    Claimed,
    /// Another request with this key and body is still being processed.
    InProgress,
    /// A request with this key and body finished: replay its response.
    Completed(StoredResponse),
    /// The key was used with a different request body.
    Mismatch,
}

/// The response of the request that claimed `key` (of the order's user), stored with the
/// order it created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    pub key: String,
    pub response: StoredResponse,
}

/// A consumed event, so that a redelivery of it has no second effect (the inbox).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    /// The consumer group that handles it.
    pub consumer: &'static str,
    pub event_id: EventId,
}

/// Idempotency keys of one user: claimed atomically, then completed by
/// [`OrderRepository::create`] or released so a retry can proceed.
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

    /// Frees an in-progress claim whose request failed, so the key can be used again. A
    /// completed key stays.
    async fn release(&self, user: UserId, key: &str) -> Result<(), RepositoryError>;
}

/// Where orders live.
#[async_trait]
pub trait OrderRepository: IdempotencyStore {
    /// Stores a new order with the events its creation causes and, if it was placed under an
    /// idempotency key the caller claimed, that key's response: all of it or nothing. A key
    /// that is no longer claimed fails with [`RepositoryError::ClaimLost`] and stores nothing.
    async fn create(
        &self,
        order: Order,
        events: &[EventEnvelope],
        completes: Option<Completion>,
    ) -> Result<(), RepositoryError>;

    /// The order, if it exists.
    async fn get(&self, id: OrderId) -> Result<Option<Order>, RepositoryError>;

    /// One page of `user`'s orders, newest first.
    async fn list_for_user(
        &self,
        user: UserId,
        page: u32,
        per_page: u32,
    ) -> Result<Page<Order>, RepositoryError>;

    /// Up to `limit` orders still pending or reserved that were placed before `cutoff`, oldest
    /// first: the ones the saga's timeout gives up.
    async fn unsettled_before(
        &self,
        cutoff: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<OrderId>, RepositoryError>;

    /// Applies `event` to the order at `at` and records the event announcing its new status
    /// ([`Order::announcement`]): the updated order if its status changed, `None` if the
    /// event was a no-op for its current status or `delivery` was already processed. An
    /// error changes nothing (and leaves `delivery` unprocessed, so a retry applies it).
    async fn transition(
        &self,
        id: OrderId,
        event: &OrderEvent,
        at: DateTime<Utc>,
        delivery: Option<Delivery>,
    ) -> Result<Option<Order>, RepositoryError>;
}
