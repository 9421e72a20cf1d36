//! The in-memory repository: each operation runs entirely under one lock, and the events it
//! causes are published on the bus right after.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use shared_events::{EventBus, EventEnvelope};
use shared_types::{EventId, OrderId, ProductId};

use super::{Applied, Delivery, EventsFor, InventoryRepository, RepositoryError, ReserveOutcome};
use crate::models::{
    Insufficient, NotReserved, ReleaseEffect, ReleaseOutcome, Reservation, ReservationLines,
    ReservationState, StockLevel,
};

#[derive(Default)]
struct State {
    stock: HashMap<ProductId, StockLevel>,
    reservations: HashMap<OrderId, Reservation>,
    /// Orders cancelled before they were reserved (tombstones).
    cancelled: HashSet<OrderId>,
    processed: HashSet<(&'static str, EventId)>,
}

/// Everything in one mutex; events go to `bus` after the change.
pub struct InMemoryInventoryRepository {
    state: Mutex<State>,
    bus: Arc<dyn EventBus>,
}

impl InMemoryInventoryRepository {
    /// An empty store publishing the events of its changes on `bus`.
    #[must_use]
    pub fn new(bus: Arc<dyn EventBus>) -> Self {
        Self {
            state: Mutex::default(),
            bus,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn seen(state: &State, delivery: Option<Delivery>) -> bool {
        delivery.is_some_and(|d| state.processed.contains(&(d.consumer, d.event_id)))
    }

    /// Publishes `events`, then records the delivery: a failed publish leaves the delivery
    /// unrecorded, so the redelivery publishes again (the effects are idempotent per order).
    async fn publish_then_record(
        &self,
        delivery: Option<Delivery>,
        events: Vec<EventEnvelope>,
    ) -> Result<(), RepositoryError> {
        for event in events {
            self.bus
                .publish(event)
                .await
                .map_err(|err| RepositoryError(err.to_string()))?;
        }
        if let Some(delivery) = delivery {
            self.lock()
                .processed
                .insert((delivery.consumer, delivery.event_id));
        }
        Ok(())
    }
}

fn level(stock: &mut HashMap<ProductId, StockLevel>, product_id: ProductId) -> &mut StockLevel {
    stock.entry(product_id).or_insert(StockLevel {
        product_id,
        available: 0,
        reserved: 0,
    })
}

fn reserve_locked(
    state: &mut State,
    order_id: OrderId,
    lines: &ReservationLines,
) -> ReserveOutcome {
    if let Some(existing) = state.reservations.get(&order_id) {
        return Ok(existing.clone());
    }
    if state.cancelled.contains(&order_id) {
        return Err(NotReserved::Cancelled);
    }
    // Check every line before touching any: all or nothing.
    for line in lines.lines() {
        let available = state
            .stock
            .get(&line.product_id)
            .map_or(0, |level| level.available);
        if available < line.quantity {
            return Err(NotReserved::Insufficient(Insufficient {
                product_id: line.product_id,
                requested: line.quantity,
                available,
            }));
        }
    }
    for line in lines.lines() {
        let entry = level(&mut state.stock, line.product_id);
        entry.available -= line.quantity;
        entry.reserved = entry.reserved.saturating_add(line.quantity);
    }
    let reservation = Reservation {
        order_id,
        lines: lines.clone(),
        state: ReservationState::Reserved,
    };
    state.reservations.insert(order_id, reservation.clone());
    Ok(reservation)
}

fn commit_locked(state: &mut State, order_id: OrderId) -> Option<Reservation> {
    let reservation = state.reservations.get_mut(&order_id)?;
    if reservation.state.can_commit() {
        for line in reservation.lines.lines() {
            let entry = level(&mut state.stock, line.product_id);
            entry.reserved = entry.reserved.saturating_sub(line.quantity);
        }
        reservation.state = ReservationState::Committed;
    }
    Some(reservation.clone())
}

fn release_locked(state: &mut State, order_id: OrderId) -> ReleaseOutcome {
    let Some(reservation) = state.reservations.get_mut(&order_id) else {
        state.cancelled.insert(order_id);
        return ReleaseOutcome::UnknownOrder;
    };
    let effect = reservation.state.release_effect();
    for line in reservation.lines.lines() {
        let entry = level(&mut state.stock, line.product_id);
        match effect {
            ReleaseEffect::ReturnHeld => {
                entry.reserved = entry.reserved.saturating_sub(line.quantity);
                entry.available = entry.available.saturating_add(line.quantity);
            }
            ReleaseEffect::Restock => {
                entry.available = entry.available.saturating_add(line.quantity);
            }
            ReleaseEffect::Nothing => {}
        }
    }
    reservation.state = ReservationState::Released;
    let reservation = reservation.clone();
    match effect {
        ReleaseEffect::ReturnHeld => ReleaseOutcome::ReturnedHeld(reservation),
        ReleaseEffect::Restock => ReleaseOutcome::Restocked(reservation),
        ReleaseEffect::Nothing => ReleaseOutcome::AlreadyReleased(reservation),
    }
}

#[async_trait]
impl InventoryRepository for InMemoryInventoryRepository {
    async fn stock(&self, product_id: ProductId) -> Result<Option<StockLevel>, RepositoryError> {
        Ok(self.lock().stock.get(&product_id).copied())
    }

    async fn set_available(
        &self,
        product_id: ProductId,
        available: u32,
    ) -> Result<StockLevel, RepositoryError> {
        let mut state = self.lock();
        let entry = level(&mut state.stock, product_id);
        entry.available = available;
        Ok(*entry)
    }

    async fn ensure_stock(
        &self,
        product_id: ProductId,
        available: u32,
    ) -> Result<StockLevel, RepositoryError> {
        let mut state = self.lock();
        Ok(*state.stock.entry(product_id).or_insert(StockLevel {
            product_id,
            available,
            reserved: 0,
        }))
    }

    async fn reserve(
        &self,
        order_id: OrderId,
        lines: &ReservationLines,
        delivery: Option<Delivery>,
        events: &EventsFor<'_, ReserveOutcome>,
    ) -> Result<Applied<ReserveOutcome>, RepositoryError> {
        let outcome = {
            let mut state = self.lock();
            if Self::seen(&state, delivery) {
                return Ok(Applied::AlreadyProcessed);
            }
            reserve_locked(&mut state, order_id, lines)
        };
        self.publish_then_record(delivery, events(&outcome)).await?;
        Ok(Applied::Done(outcome))
    }

    async fn commit(
        &self,
        order_id: OrderId,
        delivery: Option<Delivery>,
    ) -> Result<Applied<Option<Reservation>>, RepositoryError> {
        let outcome = {
            let mut state = self.lock();
            if Self::seen(&state, delivery) {
                return Ok(Applied::AlreadyProcessed);
            }
            commit_locked(&mut state, order_id)
        };
        self.publish_then_record(delivery, Vec::new()).await?;
        Ok(Applied::Done(outcome))
    }

    async fn release(
        &self,
        order_id: OrderId,
        delivery: Option<Delivery>,
        events: &EventsFor<'_, ReleaseOutcome>,
    ) -> Result<Applied<ReleaseOutcome>, RepositoryError> {
        let outcome = {
            let mut state = self.lock();
            if Self::seen(&state, delivery) {
                return Ok(Applied::AlreadyProcessed);
            }
            release_locked(&mut state, order_id)
        };
        self.publish_then_record(delivery, events(&outcome)).await?;
        Ok(Applied::Done(outcome))
    }

    async fn emit(
        &self,
        delivery: Option<Delivery>,
        events: Vec<EventEnvelope>,
    ) -> Result<Applied<()>, RepositoryError> {
        if Self::seen(&self.lock(), delivery) {
            return Ok(Applied::AlreadyProcessed);
        }
        self.publish_then_record(delivery, events).await?;
        Ok(Applied::Done(()))
    }

    async fn reservation(&self, order_id: OrderId) -> Result<Option<Reservation>, RepositoryError> {
        Ok(self.lock().reservations.get(&order_id).cloned())
    }
}

#[cfg(test)]
mod tests {
    use shared_events::{InMemoryEventBus, InventoryReleased};

    use super::*;
    use crate::models::ReservationLine;
    use crate::repository::no_events;

    fn lines(items: &[(ProductId, u32)]) -> ReservationLines {
        ReservationLines::new(items.iter().map(|&(product_id, quantity)| ReservationLine {
            product_id,
            quantity,
        }))
        .unwrap()
    }

    fn repository() -> (InMemoryInventoryRepository, InMemoryEventBus) {
        let bus = InMemoryEventBus::default();
        (InMemoryInventoryRepository::new(Arc::new(bus.clone())), bus)
    }

    async fn stocked(items: &[(ProductId, u32)]) -> InMemoryInventoryRepository {
        let (repo, _) = repository();
        for &(product, available) in items {
            repo.set_available(product, available).await.unwrap();
        }
        repo
    }

    fn done<T>(applied: Applied<T>) -> T {
        match applied {
            Applied::Done(value) => value,
            Applied::AlreadyProcessed => panic!("expected the operation to run"),
        }
    }

    fn released(outcome: &ReleaseOutcome) -> Vec<EventEnvelope> {
        match outcome {
            ReleaseOutcome::ReturnedHeld(r) | ReleaseOutcome::Restocked(r) => {
                vec![EventEnvelope::wrap(&InventoryReleased {
                    order_id: r.order_id,
                })]
            }
            _ => Vec::new(),
        }
    }

    #[tokio::test]
    async fn a_reservation_holds_units_and_commit_sells_them() {
        let product = ProductId::new();
        let repo = stocked(&[(product, 5)]).await;
        let order = OrderId::new();
        done(
            repo.reserve(order, &lines(&[(product, 2)]), None, &no_events)
                .await
                .unwrap(),
        )
        .unwrap();
        let level = repo.stock(product).await.unwrap().unwrap();
        assert_eq!((level.available, level.reserved), (3, 2));
        let committed = done(repo.commit(order, None).await.unwrap()).unwrap();
        assert_eq!(committed.state, ReservationState::Committed);
        repo.commit(order, None).await.unwrap();
        let level = repo.stock(product).await.unwrap().unwrap();
        assert_eq!((level.available, level.reserved), (3, 0));
    }

    #[tokio::test]
    async fn an_unknown_product_cannot_be_reserved() {
        let (repo, _) = repository();
        let product = ProductId::new();
        let outcome = done(
            repo.reserve(OrderId::new(), &lines(&[(product, 1)]), None, &no_events)
                .await
                .unwrap(),
        );
        assert_eq!(
            outcome,
            Err(NotReserved::Insufficient(Insufficient {
                product_id: product,
                requested: 1,
                available: 0
            }))
        );
        assert!(repo.stock(product).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn releasing_a_held_reservation_returns_its_units_once_and_publishes_once() {
        let product = ProductId::new();
        let (repo, bus) = repository();
        repo.set_available(product, 4).await.unwrap();
        let order = OrderId::new();
        repo.reserve(order, &lines(&[(product, 4)]), None, &no_events)
            .await
            .unwrap();
        let first = done(repo.release(order, None, &released).await.unwrap());
        assert!(first.released_something());
        let second = done(repo.release(order, None, &released).await.unwrap());
        assert!(!second.released_something());
        let level = repo.stock(product).await.unwrap().unwrap();
        assert_eq!((level.available, level.reserved), (4, 0));
        assert_eq!(bus.published().len(), 1);
        assert_eq!(
            done(repo.release(OrderId::new(), None, &released).await.unwrap()),
            ReleaseOutcome::UnknownOrder
        );
    }

    #[tokio::test]
    async fn a_cancel_before_the_reservation_leaves_a_tombstone_and_the_reservation_holds_nothing()
    {
        let product = ProductId::new();
        let repo = stocked(&[(product, 4)]).await;
        let order = OrderId::new();
        assert_eq!(
            done(repo.release(order, None, &released).await.unwrap()),
            ReleaseOutcome::UnknownOrder
        );
        let outcome = done(
            repo.reserve(order, &lines(&[(product, 2)]), None, &no_events)
                .await
                .unwrap(),
        );
        assert_eq!(outcome, Err(NotReserved::Cancelled));
        let level = repo.stock(product).await.unwrap().unwrap();
        assert_eq!((level.available, level.reserved), (4, 0));
        assert!(repo.reservation(order).await.unwrap().is_none());
        // Other orders are unaffected.
        assert!(
            done(
                repo.reserve(OrderId::new(), &lines(&[(product, 2)]), None, &no_events)
                    .await
                    .unwrap()
            )
            .is_ok()
        );
    }

    #[tokio::test]
    async fn a_delivery_already_processed_changes_nothing() {
        let product = ProductId::new();
        let repo = stocked(&[(product, 4)]).await;
        let delivery = Delivery {
            consumer: "inventory-service",
            event_id: EventId::new(),
        };
        let first = repo
            .reserve(
                OrderId::new(),
                &lines(&[(product, 1)]),
                Some(delivery),
                &no_events,
            )
            .await
            .unwrap();
        assert!(matches!(first, Applied::Done(Ok(_))));
        let again = repo
            .reserve(
                OrderId::new(),
                &lines(&[(product, 1)]),
                Some(delivery),
                &no_events,
            )
            .await
            .unwrap();
        assert_eq!(again, Applied::AlreadyProcessed);
        assert_eq!(repo.stock(product).await.unwrap().unwrap().available, 3);
    }

    #[tokio::test]
    async fn setting_stock_keeps_units_held_for_orders_and_seeding_keeps_existing_stock() {
        let product = ProductId::new();
        let repo = stocked(&[(product, 4)]).await;
        repo.reserve(OrderId::new(), &lines(&[(product, 3)]), None, &no_events)
            .await
            .unwrap();
        let level = repo.set_available(product, 10).await.unwrap();
        assert_eq!((level.available, level.reserved), (10, 3));
        let level = repo.ensure_stock(product, 99).await.unwrap();
        assert_eq!((level.available, level.reserved), (10, 3));
        let fresh = ProductId::new();
        assert_eq!(repo.ensure_stock(fresh, 7).await.unwrap().available, 7);
    }
}
