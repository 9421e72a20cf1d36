//! Payments in process memory; events are published on the bus right after the state change
//! they announce.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use platform::bus::InMemoryStore;
use shared_events::{EventBus, EventEnvelope};
use shared_types::{EventId, OrderId, PaymentId};

use super::{Claimed, Delivery, PaymentRepository, RepositoryError};
use crate::models::{Payment, PaymentStatus};

#[derive(Debug, Default)]
struct State {
    payments: HashMap<PaymentId, Payment>,
    by_key: HashMap<String, PaymentId>,
    cancelled_orders: HashSet<OrderId>,
    processed: HashSet<(&'static str, EventId)>,
}

/// Payments in process memory, publishing the events of each state change on `bus` once the
/// change is stored.
pub struct InMemoryPaymentRepository {
    store: InMemoryStore<State>,
}

impl InMemoryPaymentRepository {
    #[must_use]
    pub fn new(bus: Arc<dyn EventBus>) -> Self {
        Self {
            store: InMemoryStore::new(bus),
        }
    }
}

#[async_trait]
impl PaymentRepository for InMemoryPaymentRepository {
    async fn claim(&self, pending: Payment) -> Result<Claimed, RepositoryError> {
        let mut state = self.store.lock();
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
        events: &[EventEnvelope],
    ) -> Result<Payment, RepositoryError> {
        let (settled, refunded) = {
            let mut state = self.store.lock();
            let State {
                payments,
                cancelled_orders,
                ..
            } = &mut *state;
            let payment = payments.get_mut(&id).ok_or(RepositoryError::NotFound(id))?;
            if !payment.is_pending() {
                return Err(RepositoryError::AlreadySettled(id));
            }
            payment.status = status;
            payment.updated_at = at;
            // A charge that was in flight when its order was cancelled: give it back.
            let refunded = if payment.status == PaymentStatus::Succeeded
                && cancelled_orders.contains(&payment.order_id)
            {
                payment.refund(at)?;
                Some(payment.refunded_event())
            } else {
                None
            };
            (payment.clone(), refunded)
        };
        self.store
            .publish(events.iter().cloned().chain(refunded))
            .await?;
        Ok(settled)
    }

    async fn get(&self, id: PaymentId) -> Result<Option<Payment>, RepositoryError> {
        Ok(self.store.lock().payments.get(&id).cloned())
    }

    async fn list_for_order(&self, order_id: OrderId) -> Result<Vec<Payment>, RepositoryError> {
        let mut payments: Vec<Payment> = self
            .store
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
        let refunded = {
            let mut state = self.store.lock();
            let payment = state
                .payments
                .get_mut(&id)
                .ok_or(RepositoryError::NotFound(id))?;
            payment.refund(at)?;
            payment.clone()
        };
        self.store.publish([refunded.refunded_event()]).await?;
        Ok(refunded)
    }

    async fn mark_order_cancelled(&self, order_id: OrderId) -> Result<(), RepositoryError> {
        self.store.lock().cancelled_orders.insert(order_id);
        Ok(())
    }

    async fn refund_order(
        &self,
        order_id: OrderId,
        at: DateTime<Utc>,
        delivery: Option<Delivery>,
    ) -> Result<Vec<Payment>, RepositoryError> {
        let mut refunded = {
            let mut state = self.store.lock();
            if let Some(delivery) = delivery
                && !state
                    .processed
                    .insert((delivery.consumer, delivery.event_id))
            {
                return Ok(Vec::new());
            }
            let mut refunded = Vec::new();
            for payment in state.payments.values_mut() {
                if payment.order_id == order_id && payment.status == PaymentStatus::Succeeded {
                    payment.refund(at)?;
                    refunded.push(payment.clone());
                }
            }
            refunded
        };
        refunded.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        self.store
            .publish(refunded.iter().map(Payment::refunded_event))
            .await?;
        Ok(refunded)
    }
}

#[cfg(test)]
mod tests {
    use shared_events::{InMemoryEventBus, PaymentRefunded, topics};
    use shared_types::{Currency, Money, UserId};

    use super::*;
    use crate::models::{ChargeRequest, RefundError};

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
        let repo = InMemoryPaymentRepository::new(Arc::new(InMemoryEventBus::default()));
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
        let repo = InMemoryPaymentRepository::new(Arc::new(InMemoryEventBus::default()));
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
        let repo = InMemoryPaymentRepository::new(Arc::new(InMemoryEventBus::default()));
        let payment = pending("k", OrderId::new());
        let id = payment.id;
        repo.claim(payment).await.unwrap();
        let settled = repo
            .settle(id, PaymentStatus::Succeeded, Utc::now(), &[])
            .await
            .unwrap();
        assert_eq!(settled.status, PaymentStatus::Succeeded);
        assert_eq!(
            repo.settle(id, PaymentStatus::Succeeded, Utc::now(), &[])
                .await,
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

    #[tokio::test]
    async fn refunding_an_order_refunds_its_succeeded_payments_once_per_delivery() {
        let bus = InMemoryEventBus::default();
        let repo = InMemoryPaymentRepository::new(Arc::new(bus.clone()));
        let order = OrderId::new();
        let paid = pending("paid", order);
        let declined = pending("declined", order);
        repo.claim(paid.clone()).await.unwrap();
        repo.claim(declined.clone()).await.unwrap();
        repo.settle(paid.id, PaymentStatus::Succeeded, Utc::now(), &[])
            .await
            .unwrap();
        let status = PaymentStatus::Failed {
            reason: "no".into(),
        };
        repo.settle(declined.id, status, Utc::now(), &[])
            .await
            .unwrap();
        let delivery = Delivery {
            consumer: "test",
            event_id: EventId::new(),
        };
        let refunded = repo
            .refund_order(order, Utc::now(), Some(delivery))
            .await
            .unwrap();
        assert_eq!(refunded.len(), 1);
        assert_eq!(refunded[0].id, paid.id);
        assert!(
            repo.refund_order(order, Utc::now(), Some(delivery))
                .await
                .unwrap()
                .is_empty()
        );
        let published = bus.published();
        assert_eq!(published.len(), 1);
        assert_eq!(published[0].topic(), topics::PAYMENT_REFUNDED);
        let event: PaymentRefunded = published[0].decode().unwrap();
        assert_eq!(event.payment_id, paid.id);
    }

    #[tokio::test]
    async fn a_success_settled_after_its_order_was_cancelled_is_refunded_at_once() {
        let bus = InMemoryEventBus::default();
        let repo = InMemoryPaymentRepository::new(Arc::new(bus.clone()));
        let order = OrderId::new();
        let (paid, declined) = (pending("paid", order), pending("declined", order));
        repo.claim(paid.clone()).await.unwrap();
        repo.claim(declined.clone()).await.unwrap();
        repo.mark_order_cancelled(order).await.unwrap();

        let settled = repo
            .settle(paid.id, PaymentStatus::Succeeded, Utc::now(), &[])
            .await
            .unwrap();
        assert_eq!(settled.status, PaymentStatus::Refunded);
        let failed = PaymentStatus::Failed {
            reason: "no".into(),
        };
        let settled = repo
            .settle(declined.id, failed.clone(), Utc::now(), &[])
            .await
            .unwrap();
        assert_eq!(settled.status, failed, "a decline has nothing to refund");
        let published = bus.published();
        assert_eq!(published.len(), 1);
        assert_eq!(published[0].topic(), topics::PAYMENT_REFUNDED);
        assert!(
            repo.refund_order(order, Utc::now(), None)
                .await
                .unwrap()
                .is_empty(),
            "refunded once"
        );
    }
}
