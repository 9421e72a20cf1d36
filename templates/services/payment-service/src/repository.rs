//! Payment storage behind a trait, so a Postgres implementation can replace the in-memory
//! one. Each method is one atomic operation: `claim` is an insert-if-absent on the idempotency
//! key that also refuses orders already cancelled (a unique index plus a check in one
//! transaction), `settle` and `refund` are compare-and-set on the status.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use shared_types::{OrderId, PaymentId};

use crate::models::{Payment, PaymentStatus, RefundError};

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

/// What claiming an idempotency key found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claimed {
    /// The key was free: this pending payment is now stored, and the caller must ask the
    /// provider and `settle` it.
    New(Payment),
    /// A payment with this key exists (possibly still pending).
    Existing(Payment),
    /// The order was cancelled; nothing may be charged for it any more.
    OrderCancelled,
}

/// Where payments live.
#[async_trait]
pub trait PaymentRepository: Send + Sync {
    /// Stores `pending` unless a payment with its idempotency key exists or its order was
    /// cancelled.
    async fn claim(&self, pending: Payment) -> Result<Claimed, RepositoryError>;

    /// Moves a pending payment to its outcome.
    async fn settle(
        &self,
        id: PaymentId,
        status: PaymentStatus,
        at: DateTime<Utc>,
    ) -> Result<Payment, RepositoryError>;

    /// The payment, if it exists.
    async fn get(&self, id: PaymentId) -> Result<Option<Payment>, RepositoryError>;

    /// The payments of an order, oldest first.
    async fn list_for_order(&self, order_id: OrderId) -> Result<Vec<Payment>, RepositoryError>;

    /// Refunds a succeeded payment; refuses one already refunded or never charged.
    async fn refund(&self, id: PaymentId, at: DateTime<Utc>) -> Result<Payment, RepositoryError>;

    /// Records that the order was cancelled, so no later charge for it goes through.
    async fn mark_order_cancelled(&self, order_id: OrderId) -> Result<(), RepositoryError>;
}

#[derive(Debug, Default)]
struct State {
    payments: HashMap<PaymentId, Payment>,
    by_key: HashMap<String, PaymentId>,
    cancelled_orders: HashSet<OrderId>,
}

/// Payments in process memory.
#[derive(Debug, Default)]
pub struct InMemoryPaymentRepository {
    state: Mutex<State>,
}

impl InMemoryPaymentRepository {
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl PaymentRepository for InMemoryPaymentRepository {
    async fn claim(&self, pending: Payment) -> Result<Claimed, RepositoryError> {
        let mut state = self.lock();
        if let Some(id) = state.by_key.get(&pending.idempotency_key) {
            return Ok(Claimed::Existing(state.payments[id].clone()));
        }
        if state.cancelled_orders.contains(&pending.order_id) {
            return Ok(Claimed::OrderCancelled);
        }
        state
            .by_key
            .insert(pending.idempotency_key.clone(), pending.id);
        state.payments.insert(pending.id, pending.clone());
        Ok(Claimed::New(pending))
    }

    async fn settle(
        &self,
        id: PaymentId,
        status: PaymentStatus,
        at: DateTime<Utc>,
    ) -> Result<Payment, RepositoryError> {
        let mut state = self.lock();
        let payment = state
            .payments
            .get_mut(&id)
            .ok_or(RepositoryError::NotFound(id))?;
        if !payment.is_pending() {
            return Err(RepositoryError::AlreadySettled(id));
        }
        payment.status = status;
        payment.updated_at = at;
        Ok(payment.clone())
    }

    async fn get(&self, id: PaymentId) -> Result<Option<Payment>, RepositoryError> {
        Ok(self.lock().payments.get(&id).cloned())
    }

    async fn list_for_order(&self, order_id: OrderId) -> Result<Vec<Payment>, RepositoryError> {
        let mut payments: Vec<Payment> = self
            .lock()
            .payments
            .values()
            .filter(|p| p.order_id == order_id)
            .cloned()
            .collect();
        payments.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        Ok(payments)
    }

    async fn refund(&self, id: PaymentId, at: DateTime<Utc>) -> Result<Payment, RepositoryError> {
        let mut state = self.lock();
        let payment = state
            .payments
            .get_mut(&id)
            .ok_or(RepositoryError::NotFound(id))?;
        payment.refund(at)?;
        Ok(payment.clone())
    }

    async fn mark_order_cancelled(&self, order_id: OrderId) -> Result<(), RepositoryError> {
        self.lock().cancelled_orders.insert(order_id);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use shared_types::{Currency, Money, UserId};

    use super::*;
    use crate::models::ChargeRequest;

    fn pending(key: &str, order_id: OrderId) -> Payment {
        Payment::pending(
            &ChargeRequest {
                idempotency_key: key.into(),
                order_id,
                user_id: UserId::new(),
                amount: Money::new(100, Currency::Usd),
            },
            Utc::now(),
        )
    }

    #[tokio::test]
    async fn a_key_is_claimed_once() {
        let repo = InMemoryPaymentRepository::new();
        let first = pending("k", OrderId::new());
        assert_eq!(
            repo.claim(first.clone()).await.unwrap(),
            Claimed::New(first.clone())
        );
        assert_eq!(
            repo.claim(pending("k", OrderId::new())).await.unwrap(),
            Claimed::Existing(first)
        );
    }

    #[tokio::test]
    async fn a_cancelled_order_cannot_be_charged_but_its_existing_payment_is_still_found() {
        let repo = InMemoryPaymentRepository::new();
        let order = OrderId::new();
        let charged = pending("charged", order);
        repo.claim(charged.clone()).await.unwrap();
        repo.mark_order_cancelled(order).await.unwrap();
        assert_eq!(
            repo.claim(pending("new", order)).await.unwrap(),
            Claimed::OrderCancelled
        );
        assert_eq!(
            repo.claim(pending("charged", order)).await.unwrap(),
            Claimed::Existing(charged)
        );
    }

    #[tokio::test]
    async fn a_payment_settles_once_and_refunds_once() {
        let repo = InMemoryPaymentRepository::new();
        let payment = pending("k", OrderId::new());
        let id = payment.id;
        repo.claim(payment).await.unwrap();
        let settled = repo
            .settle(id, PaymentStatus::Succeeded, Utc::now())
            .await
            .unwrap();
        assert_eq!(settled.status, PaymentStatus::Succeeded);
        assert_eq!(
            repo.settle(id, PaymentStatus::Succeeded, Utc::now()).await,
            Err(RepositoryError::AlreadySettled(id))
        );
        assert_eq!(
            repo.refund(id, Utc::now()).await.unwrap().status,
            PaymentStatus::Refunded
        );
        assert_eq!(
            repo.refund(id, Utc::now()).await,
            Err(RepositoryError::Refund(RefundError::AlreadyRefunded))
        );
        assert!(matches!(
            repo.refund(PaymentId::new(), Utc::now()).await,
            Err(RepositoryError::NotFound(_))
        ));
    }
}
