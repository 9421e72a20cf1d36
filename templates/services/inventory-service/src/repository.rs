//! Storage of stock levels and reservations. Every method is one atomic operation: a reservation
//! is checked and applied under one lock here, and will be one transaction of conditional
//! `UPDATE … SET available = available - $n WHERE product_id = $id AND available >= $n`
//! statements in the `PostgreSQL` implementation.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use shared_types::{OrderId, ProductId};

use crate::models::{
    Insufficient, ReleaseEffect, ReleaseOutcome, Reservation, ReservationLines, ReservationState,
    StockLevel,
};

/// The store could not be reached or answered with an error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("inventory storage failed: {0}")]
pub struct RepositoryError(pub String);

impl From<RepositoryError> for platform::ApiError {
    fn from(err: RepositoryError) -> Self {
        Self::unavailable(err.to_string())
    }
}

/// Why a reservation was not made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReserveError {
    #[error(transparent)]
    Insufficient(#[from] Insufficient),
    #[error(transparent)]
    Storage(#[from] RepositoryError),
}

/// Stock levels and reservations.
#[async_trait]
pub trait InventoryRepository: Send + Sync {
    /// The stock of `product_id`, if it is tracked.
    async fn stock(&self, product_id: ProductId) -> Result<Option<StockLevel>, RepositoryError>;

    /// Sets the units available to sell (restock or correction), creating the entry if needed;
    /// units held for orders are untouched.
    async fn set_available(
        &self,
        product_id: ProductId,
        available: u32,
    ) -> Result<StockLevel, RepositoryError>;

    /// Holds every line for `order_id`, or nothing: fails with the first line that lacks stock.
    /// Reserving an order that already has a reservation changes nothing and returns it.
    async fn reserve(
        &self,
        order_id: OrderId,
        lines: &ReservationLines,
    ) -> Result<Reservation, ReserveError>;

    /// Marks a held reservation sold (its units leave `reserved`). Returns the reservation as it
    /// now is (unchanged unless it was held), or `None` for an unknown order.
    async fn commit(&self, order_id: OrderId) -> Result<Option<Reservation>, RepositoryError>;

    /// Gives a held reservation's units back or restocks a sold one's; a no-op when already
    /// released or unknown.
    async fn release(&self, order_id: OrderId) -> Result<ReleaseOutcome, RepositoryError>;

    /// The reservation of `order_id`, if any.
    async fn reservation(&self, order_id: OrderId) -> Result<Option<Reservation>, RepositoryError>;
}

#[derive(Default)]
struct State {
    stock: HashMap<ProductId, StockLevel>,
    reservations: HashMap<OrderId, Reservation>,
}

/// Everything in one mutex: each operation runs entirely under the lock.
#[derive(Default)]
pub struct InMemoryInventoryRepository {
    state: Mutex<State>,
}

impl InMemoryInventoryRepository {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn level(stock: &mut HashMap<ProductId, StockLevel>, product_id: ProductId) -> &mut StockLevel {
    stock.entry(product_id).or_insert(StockLevel {
        product_id,
        available: 0,
        reserved: 0,
    })
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

    async fn reserve(
        &self,
        order_id: OrderId,
        lines: &ReservationLines,
    ) -> Result<Reservation, ReserveError> {
        let mut state = self.lock();
        if let Some(existing) = state.reservations.get(&order_id) {
            return Ok(existing.clone());
        }
        // Check every line before touching any: all or nothing.
        for line in lines.lines() {
            let available = state
                .stock
                .get(&line.product_id)
                .map_or(0, |level| level.available);
            if available < line.quantity {
                return Err(Insufficient {
                    product_id: line.product_id,
                    requested: line.quantity,
                    available,
                }
                .into());
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

    async fn commit(&self, order_id: OrderId) -> Result<Option<Reservation>, RepositoryError> {
        let mut guard = self.lock();
        let state = &mut *guard;
        let Some(reservation) = state.reservations.get_mut(&order_id) else {
            return Ok(None);
        };
        if reservation.state.can_commit() {
            for line in reservation.lines.lines() {
                let entry = level(&mut state.stock, line.product_id);
                entry.reserved = entry.reserved.saturating_sub(line.quantity);
            }
            reservation.state = ReservationState::Committed;
        }
        Ok(Some(reservation.clone()))
    }

    async fn release(&self, order_id: OrderId) -> Result<ReleaseOutcome, RepositoryError> {
        let mut guard = self.lock();
        let state = &mut *guard;
        let Some(reservation) = state.reservations.get_mut(&order_id) else {
            return Ok(ReleaseOutcome::UnknownOrder);
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
        Ok(match effect {
            ReleaseEffect::ReturnHeld => ReleaseOutcome::ReturnedHeld(reservation),
            ReleaseEffect::Restock => ReleaseOutcome::Restocked(reservation),
            ReleaseEffect::Nothing => ReleaseOutcome::AlreadyReleased(reservation),
        })
    }

    async fn reservation(&self, order_id: OrderId) -> Result<Option<Reservation>, RepositoryError> {
        Ok(self.lock().reservations.get(&order_id).cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::ReservationLine;

    fn lines(items: &[(ProductId, u32)]) -> ReservationLines {
        ReservationLines::new(items.iter().map(|&(product_id, quantity)| ReservationLine {
            product_id,
            quantity,
        }))
        .unwrap()
    }

    async fn stocked(items: &[(ProductId, u32)]) -> InMemoryInventoryRepository {
        let repo = InMemoryInventoryRepository::default();
        for &(product, available) in items {
            repo.set_available(product, available).await.unwrap();
        }
        repo
    }

    #[tokio::test]
    async fn a_reservation_holds_units_and_commit_sells_them() {
        let product = ProductId::new();
        let repo = stocked(&[(product, 5)]).await;
        let order = OrderId::new();
        repo.reserve(order, &lines(&[(product, 2)])).await.unwrap();
        let level = repo.stock(product).await.unwrap().unwrap();
        assert_eq!((level.available, level.reserved), (3, 2));
        let committed = repo.commit(order).await.unwrap().unwrap();
        assert_eq!(committed.state, ReservationState::Committed);
        repo.commit(order).await.unwrap();
        let level = repo.stock(product).await.unwrap().unwrap();
        assert_eq!((level.available, level.reserved), (3, 0));
    }

    #[tokio::test]
    async fn an_unknown_product_cannot_be_reserved() {
        let repo = InMemoryInventoryRepository::default();
        let product = ProductId::new();
        let err = repo
            .reserve(OrderId::new(), &lines(&[(product, 1)]))
            .await
            .unwrap_err();
        assert_eq!(
            err,
            ReserveError::Insufficient(Insufficient {
                product_id: product,
                requested: 1,
                available: 0
            })
        );
        assert!(repo.stock(product).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn releasing_a_held_reservation_returns_its_units_once() {
        let product = ProductId::new();
        let repo = stocked(&[(product, 4)]).await;
        let order = OrderId::new();
        repo.reserve(order, &lines(&[(product, 4)])).await.unwrap();
        assert!(repo.release(order).await.unwrap().released_something());
        assert!(!repo.release(order).await.unwrap().released_something());
        let level = repo.stock(product).await.unwrap().unwrap();
        assert_eq!((level.available, level.reserved), (4, 0));
        assert_eq!(
            repo.release(OrderId::new()).await.unwrap(),
            ReleaseOutcome::UnknownOrder
        );
    }

    #[tokio::test]
    async fn setting_stock_keeps_units_held_for_orders() {
        let product = ProductId::new();
        let repo = stocked(&[(product, 4)]).await;
        repo.reserve(OrderId::new(), &lines(&[(product, 3)]))
            .await
            .unwrap();
        let level = repo.set_available(product, 10).await.unwrap();
        assert_eq!((level.available, level.reserved), (10, 3));
    }
}
