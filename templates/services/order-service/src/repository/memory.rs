//! Orders and idempotency keys in process memory; events are published on the bus right
//! after the state change they announce.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use platform::bus::InMemoryStore;
use shared_events::{EventBus, EventEnvelope};
use shared_types::{EventId, OrderId, Page, UserId};

use super::{
    Claim, Completion, Delivery, IdempotencyStore, OrderRepository, RepositoryError, StoredResponse,
};
use crate::models::{Order, OrderEvent, OrderStatus};

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
    processed: HashSet<(&'static str, EventId)>,
}

/// Orders and idempotency keys in process memory, publishing the events of each state change
/// on `bus` once the change is stored.
pub struct InMemoryOrderRepository {
    store: InMemoryStore<State>,
}

impl InMemoryOrderRepository {
    #[must_use]
    pub fn new(bus: Arc<dyn EventBus>) -> Self {
        Self {
            store: InMemoryStore::new(bus),
        }
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
        let mut state = self.store.lock();
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

    async fn release(&self, user: UserId, key: &str) -> Result<(), RepositoryError> {
        let mut state = self.store.lock();
        let slot = (user, key.to_owned());
        if matches!(state.keys.get(&slot), Some(KeyState::InProgress { .. })) {
            state.keys.remove(&slot);
        }
        Ok(())
    }
}

#[async_trait]
impl OrderRepository for InMemoryOrderRepository {
    async fn create(
        &self,
        order: Order,
        events: &[EventEnvelope],
        completes: Option<Completion>,
    ) -> Result<(), RepositoryError> {
        {
            let mut state = self.store.lock();
            if state.orders.contains_key(&order.id) {
                return Err(RepositoryError::Duplicate(order.id));
            }
            if let Some(Completion { key, response }) = completes {
                let Some(slot) = state.keys.get_mut(&(order.user_id, key.clone())) else {
                    return Err(RepositoryError::ClaimLost(key));
                };
                let KeyState::InProgress { fingerprint } = slot else {
                    return Err(RepositoryError::ClaimLost(key));
                };
                *slot = KeyState::Completed {
                    fingerprint: std::mem::take(fingerprint),
                    response,
                };
            }
            state.orders.insert(order.id, order);
        }
        Ok(self.store.publish(events.iter().cloned()).await?)
    }

    async fn get(&self, id: OrderId) -> Result<Option<Order>, RepositoryError> {
        Ok(self.store.lock().orders.get(&id).cloned())
    }

    async fn list_for_user(
        &self,
        user: UserId,
        page: u32,
        per_page: u32,
    ) -> Result<Page<Order>, RepositoryError> {
        let mut orders: Vec<Order> = self
            .store
            .lock()
            .orders
            .values()
            .filter(|order| order.user_id == user)
            .cloned()
            .collect();
        orders.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        Ok(Page::slice(orders, page, per_page))
    }

    async fn unsettled_before(
        &self,
        cutoff: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<OrderId>, RepositoryError> {
        let mut unsettled: Vec<(DateTime<Utc>, OrderId)> = self
            .store
            .lock()
            .orders
            .values()
            .filter(|order| {
                order.created_at < cutoff
                    && matches!(order.status, OrderStatus::Pending | OrderStatus::Reserved)
            })
            .map(|order| (order.created_at, order.id))
            .collect();
        unsettled.sort();
        Ok(unsettled
            .into_iter()
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .map(|(_, id)| id)
            .collect())
    }

    async fn transition(
        &self,
        id: OrderId,
        event: &OrderEvent,
        at: DateTime<Utc>,
        delivery: Option<Delivery>,
    ) -> Result<Option<Order>, RepositoryError> {
        let changed = {
            let mut state = self.store.lock();
            let delivered = delivery.map(|d| (d.consumer, d.event_id));
            if delivered.is_some_and(|seen| state.processed.contains(&seen)) {
                return Ok(None);
            }
            let order = state
                .orders
                .get_mut(&id)
                .ok_or(RepositoryError::NotFound(id))?;
            let changed = order.apply(event, at)?.then(|| order.clone());
            if let Some(seen) = delivered {
                state.processed.insert(seen);
            }
            changed
        };
        if let Some(order) = &changed {
            self.store.publish(order.announcement()).await?;
        }
        Ok(changed)
    }
}

#[cfg(test)]
mod tests {
    use shared_events::{InMemoryEventBus, OrderCancelled, OrderCreated, OrderLine, topics};
    use shared_types::{Currency, Money, ProductId};

    use super::*;
    use crate::models::OrderStatus;

    fn repo() -> (InMemoryOrderRepository, InMemoryEventBus) {
        let bus = InMemoryEventBus::default();
        (InMemoryOrderRepository::new(Arc::new(bus.clone())), bus)
    }

    fn order(user: UserId) -> Order {
        let line = OrderLine {
            product_id: ProductId::new(),
            quantity: 1,
            unit_price: Money::new(100, Currency::Usd),
        };
        Order::place(user, vec![line], Utc::now()).unwrap()
    }

    fn created(order: &Order) -> EventEnvelope {
        EventEnvelope::wrap(&OrderCreated {
            order_id: order.id,
            user_id: order.user_id,
            lines: order.lines.clone(),
            total: order.total,
        })
    }

    fn response() -> StoredResponse {
        StoredResponse {
            status: 202,
            body: serde_json::json!({ "ok": true }),
            location: None,
        }
    }

    fn completion(key: &str) -> Completion {
        Completion {
            key: key.to_owned(),
            response: response(),
        }
    }

    #[tokio::test]
    async fn a_key_is_claimed_once_then_replayed_and_guards_its_body() {
        let (repo, _) = repo();
        let user = UserId::new();
        assert_eq!(repo.claim(user, "k", "a").await.unwrap(), Claim::Claimed);
        assert_eq!(repo.claim(user, "k", "a").await.unwrap(), Claim::InProgress);
        assert_eq!(repo.claim(user, "k", "b").await.unwrap(), Claim::Mismatch);
        assert_eq!(
            repo.claim(UserId::new(), "k", "b").await.unwrap(),
            Claim::Claimed,
            "keys are per user"
        );
        repo.create(order(user), &[], Some(completion("k")))
            .await
            .unwrap();
        assert_eq!(
            repo.claim(user, "k", "a").await.unwrap(),
            Claim::Completed(response())
        );
        assert_eq!(repo.claim(user, "k", "b").await.unwrap(), Claim::Mismatch);
    }

    #[tokio::test]
    async fn a_released_key_can_be_claimed_again_but_a_completed_one_cannot_be_released() {
        let (repo, _) = repo();
        let user = UserId::new();
        repo.claim(user, "k", "a").await.unwrap();
        repo.release(user, "k").await.unwrap();
        assert_eq!(repo.claim(user, "k", "b").await.unwrap(), Claim::Claimed);
        repo.create(order(user), &[], Some(completion("k")))
            .await
            .unwrap();
        repo.release(user, "k").await.unwrap();
        assert!(matches!(
            repo.claim(user, "k", "b").await.unwrap(),
            Claim::Completed(_)
        ));
    }

    #[tokio::test]
    async fn an_order_for_a_key_that_is_not_claimed_is_not_stored() {
        let (repo, bus) = repo();
        let order = order(UserId::new());
        let id = order.id;
        let events = [created(&order)];
        assert_eq!(
            repo.create(order, &events, Some(completion("never-claimed")))
                .await,
            Err(RepositoryError::ClaimLost("never-claimed".into()))
        );
        assert_eq!(repo.get(id).await.unwrap(), None);
        assert!(bus.published().is_empty());
    }

    #[tokio::test]
    async fn a_created_order_publishes_its_events_once_stored() {
        let (repo, bus) = repo();
        let order = order(UserId::new());
        let events = [created(&order)];
        repo.create(order.clone(), &events, None).await.unwrap();
        assert_eq!(
            repo.create(order.clone(), &events, None).await,
            Err(RepositoryError::Duplicate(order.id))
        );
        assert_eq!(bus.published(), events);
    }

    #[tokio::test]
    async fn a_transition_reports_changes_and_no_ops_and_announces_the_new_status() {
        let (repo, bus) = repo();
        let order = order(UserId::new());
        let id = order.id;
        repo.create(order, &[], None).await.unwrap();
        let reserved = repo
            .transition(id, &OrderEvent::InventoryReserved, Utc::now(), None)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(reserved.status, OrderStatus::Reserved);
        assert_eq!(
            repo.transition(id, &OrderEvent::InventoryReserved, Utc::now(), None)
                .await
                .unwrap(),
            None
        );
        assert!(bus.published().is_empty(), "reserved is not announced");
        repo.transition(id, &OrderEvent::CancelledByCustomer, Utc::now(), None)
            .await
            .unwrap()
            .unwrap();
        let published = bus.published();
        assert_eq!(published.len(), 1);
        assert_eq!(published[0].topic(), topics::ORDER_CANCELLED);
        let cancelled: OrderCancelled = published[0].decode().unwrap();
        assert_eq!(cancelled.order_id, id);
        assert!(matches!(
            repo.transition(
                OrderId::new(),
                &OrderEvent::InventoryReserved,
                Utc::now(),
                None
            )
            .await,
            Err(RepositoryError::NotFound(_))
        ));
    }

    #[tokio::test]
    async fn a_processed_delivery_has_no_second_effect_but_a_failed_one_is_retried() {
        let (repo, _) = repo();
        let order = order(UserId::new());
        let id = order.id;
        repo.create(order, &[], None).await.unwrap();
        let delivery = || Delivery {
            consumer: "test",
            event_id: EventId::new(),
        };
        repo.transition(
            id,
            &OrderEvent::InventoryReserved,
            Utc::now(),
            Some(delivery()),
        )
        .await
        .unwrap();
        // A reserved order cannot fail its reservation: that delivery fails.
        let contradiction = OrderEvent::ReservationFailed {
            reason: "gone".into(),
        };
        let early = delivery();
        assert!(
            repo.transition(id, &contradiction, Utc::now(), Some(early))
                .await
                .is_err()
        );
        let decline = delivery();
        let event = OrderEvent::PaymentFailed {
            reason: "declined".into(),
        };
        assert!(
            repo.transition(id, &event, Utc::now(), Some(decline))
                .await
                .unwrap()
                .is_some()
        );
        assert_eq!(
            repo.transition(id, &event, Utc::now(), Some(decline))
                .await
                .unwrap(),
            None
        );
        assert_eq!(repo.get(id).await.unwrap().unwrap().status_history.len(), 3);
        // The failed delivery was not recorded: its retry is judged by the state machine.
        assert_eq!(
            repo.transition(id, &contradiction, Utc::now(), Some(early))
                .await
                .unwrap(),
            None
        );
    }

    #[tokio::test]
    async fn a_user_sees_only_their_orders_newest_first() {
        let (repo, _) = repo();
        let user = UserId::new();
        let mut first = order(user);
        first.created_at -= chrono::Duration::seconds(10);
        let second = order(user);
        repo.create(first.clone(), &[], None).await.unwrap();
        repo.create(second.clone(), &[], None).await.unwrap();
        repo.create(order(UserId::new()), &[], None).await.unwrap();
        let page = repo.list_for_user(user, 1, 10).await.unwrap();
        let ids: Vec<_> = page.items.iter().map(|o| o.id).collect();
        assert_eq!(ids, [second.id, first.id]);
        assert_eq!(page.total, 2);
    }
}
