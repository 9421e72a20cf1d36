//! Payment storage behind a trait, with an in-memory implementation
//! ([`InMemoryPaymentRepository`]) and a `PostgreSQL` one ([`PostgresPaymentRepository`]). Each
//! method is one atomic operation, and a state change is stored together with the events it
//! causes (in memory: published right after; `PostgreSQL`: the outbox row in the same
//! transaction, published by the relay): `claim` is an insert-if-absent on the idempotency key
//! that also refuses orders already cancelled, `settle` and `refund` are compare-and-set on the
//! status, `refund_order` refunds all of an order's charges at once and remembers the consumed
//! event (the inbox).

mod memory;
mod postgres;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use shared_events::EventEnvelope;
use shared_types::{EventId, OrderId, PaymentId};

use crate::models::{Payment, PaymentStatus, RefundError};

pub use memory::InMemoryPaymentRepository;
pub use postgres::PostgresPaymentRepository;

/// Why a repository operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RepositoryError {
    #[error("payment {0} not found")]
    NotFound(PaymentId),
    #[error("payment {0} is already settled")]
    AlreadySettled(PaymentId),
    #[error(transparent)]
    Refund(#[from] RefundError),
    #[error("payment storage unavailable: {0}")]
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

/// What claiming an idempotency key found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claimed {
    /// The key was free: this pending payment is now stored, and the caller must ask the
    /// provider and `settle` it. Also answered (on `PostgreSQL`) with the existing payment of
    /// the key when it has been pending for longer than the lease — its charge was abandoned
    /// by a crashed replica — so the caller asks the provider again with the same key.
    New(Payment),
    /// A payment with this key exists (possibly still pending).
    Existing(Payment),
    /// The order was cancelled; nothing may be charged for it any more.
    OrderCancelled,
}

/// A consumed event, so that a redelivery of it has no second effect (the inbox).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    /// The consumer group that handles it.
    pub consumer: &'static str,
    pub event_id: EventId,
}

/// Where payments live.
#[async_trait]
pub trait PaymentRepository: Send + Sync {
    /// Stores `pending` unless a payment with its idempotency key exists or its order was
    /// cancelled. Safe against concurrent claims of the key from any replica: one stores.
    async fn claim(&self, pending: Payment) -> Result<Claimed, RepositoryError>;

    /// Moves a pending payment to its outcome, together with `events` (what the outcome
    /// announces, if anything). A success for an order already marked cancelled is refunded
    /// in the same step (status refunded, with its `payment.refunded` after `events`), so the
    /// compensation of a cancelled order never waits for charges in flight.
    async fn settle(
        &self,
        id: PaymentId,
        status: PaymentStatus,
        at: DateTime<Utc>,
        events: &[EventEnvelope],
    ) -> Result<Payment, RepositoryError>;

    /// The payment, if it exists.
    async fn get(&self, id: PaymentId) -> Result<Option<Payment>, RepositoryError>;

    /// The payments of an order, oldest first.
    async fn list_for_order(&self, order_id: OrderId) -> Result<Vec<Payment>, RepositoryError>;

    /// Refunds a succeeded payment with its `payment.refunded` ([`Payment::refunded_event`]);
    /// refuses one already refunded or never charged.
    async fn refund(&self, id: PaymentId, at: DateTime<Utc>) -> Result<Payment, RepositoryError>;

    /// Records that the order was cancelled, so no later charge for it goes through.
    async fn mark_order_cancelled(&self, order_id: OrderId) -> Result<(), RepositoryError>;

    /// Refunds every succeeded payment of the order, each with its `payment.refunded`, and
    /// marks `delivery` processed, in one step; answers the payments it refunded. A delivery
    /// already processed refunds nothing.
    async fn refund_order(
        &self,
        order_id: OrderId,
        at: DateTime<Utc>,
        delivery: Option<Delivery>,
    ) -> Result<Vec<Payment>, RepositoryError>;
}
