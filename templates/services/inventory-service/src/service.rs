//! The use cases of the inventory service, called by the HTTP API and by the event consumers.

use std::sync::Arc;

use platform::ApiError;
use shared_events::{
    EventBus, EventEnvelope, InventoryReleased, InventoryReservationFailed, InventoryReserved,
    OrderCancelled, OrderConfirmed, OrderCreated,
};
use shared_types::{OrderId, ProductId};

use crate::models::{
    ReleaseOutcome, Reservation, ReservationLine, ReservationLines, ReservationState, StockLevel,
};
use crate::repository::{InventoryRepository, ReserveError};

/// Stock and reservations, publishing the saga's inventory events. Cloning shares it.
#[derive(Clone)]
pub struct InventoryService {
    repository: Arc<dyn InventoryRepository>,
    bus: Arc<dyn EventBus>,
}

impl InventoryService {
    #[must_use]
    pub fn new(repository: Arc<dyn InventoryRepository>, bus: Arc<dyn EventBus>) -> Self {
        Self { repository, bus }
    }

    /// The stock of a product; 404 when it is not tracked.
    pub async fn stock(&self, product_id: ProductId) -> Result<StockLevel, ApiError> {
        self.repository.stock(product_id).await?.ok_or_else(|| {
            ApiError::not_found(format!("no stock is kept for product {product_id}"))
        })
    }

    /// Sets the units available to sell; a negative or oversized count is a 422.
    pub async fn set_available(
        &self,
        product_id: ProductId,
        available: i64,
    ) -> Result<StockLevel, ApiError> {
        let available = u32::try_from(available).map_err(|_| {
            ApiError::unprocessable(format!(
                "available must be between 0 and {}, got {available}",
                u32::MAX
            ))
        })?;
        let level = self.repository.set_available(product_id, available).await?;
        tracing::info!(%product_id, available, "stock set");
        Ok(level)
    }

    /// Reserves every line for `order_id` or nothing: 422 for invalid lines, 409 naming the
    /// product that lacks stock.
    pub async fn reserve(
        &self,
        order_id: OrderId,
        lines: Vec<ReservationLine>,
    ) -> Result<Reservation, ApiError> {
        let lines =
            ReservationLines::new(lines).map_err(|err| ApiError::unprocessable(err.to_string()))?;
        match self.repository.reserve(order_id, &lines).await {
            Ok(reservation) => Ok(reservation),
            Err(ReserveError::Insufficient(short)) => Err(ApiError::conflict(short.to_string())),
            Err(ReserveError::Storage(err)) => Err(err.into()),
        }
    }

    /// The reservation of an order; 404 when there is none.
    pub async fn reservation(&self, order_id: OrderId) -> Result<Reservation, ApiError> {
        self.repository
            .reservation(order_id)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("no reservation for order {order_id}")))
    }

    /// Releases an order's reservation (idempotent) and publishes `inventory.released` when
    /// stock actually came back.
    pub async fn release(&self, order_id: OrderId) -> Result<ReleaseOutcome, ApiError> {
        let outcome = self.repository.release(order_id).await?;
        if outcome.released_something() {
            tracing::info!(%order_id, "reservation released");
            self.bus
                .publish(EventEnvelope::wrap(&InventoryReleased { order_id }))
                .await?;
        }
        Ok(outcome)
    }

    /// `order.created`: reserve the order's lines and tell the saga how it went.
    pub async fn on_order_created(&self, order: &OrderCreated) -> Result<(), ApiError> {
        let lines = order.lines.iter().map(|line| ReservationLine {
            product_id: line.product_id,
            quantity: line.quantity,
        });
        let outcome = match ReservationLines::new(lines) {
            Ok(lines) => self.repository.reserve(order.order_id, &lines).await,
            Err(invalid) => {
                return self.reservation_failed(order, invalid.to_string()).await;
            }
        };
        match outcome {
            Ok(reservation) if reservation.state == ReservationState::Reserved => {
                tracing::info!(order_id = %order.order_id, "stock reserved");
                self.bus
                    .publish(EventEnvelope::wrap(&InventoryReserved {
                        order_id: order.order_id,
                        user_id: order.user_id,
                        total: order.total,
                    }))
                    .await?;
                Ok(())
            }
            Ok(reservation) => {
                // A late redelivery: the saga has moved past this reservation already.
                tracing::info!(order_id = %order.order_id, state = ?reservation.state, "order.created redelivered after the reservation moved on; ignored");
                Ok(())
            }
            Err(ReserveError::Insufficient(short)) => {
                self.reservation_failed(order, short.to_string()).await
            }
            Err(ReserveError::Storage(err)) => Err(err.into()),
        }
    }

    async fn reservation_failed(
        &self,
        order: &OrderCreated,
        reason: String,
    ) -> Result<(), ApiError> {
        tracing::info!(order_id = %order.order_id, %reason, "reservation failed");
        self.bus
            .publish(EventEnvelope::wrap(&InventoryReservationFailed {
                order_id: order.order_id,
                user_id: order.user_id,
                reason,
            }))
            .await?;
        Ok(())
    }

    /// `order.confirmed`: the held units are sold.
    pub async fn on_order_confirmed(&self, order: &OrderConfirmed) -> Result<(), ApiError> {
        match self.repository.commit(order.order_id).await? {
            Some(reservation) => {
                tracing::info!(order_id = %order.order_id, state = ?reservation.state, "reservation committed");
            }
            None => {
                tracing::warn!(order_id = %order.order_id, "order confirmed without a reservation");
            }
        }
        Ok(())
    }

    /// `order.cancelled`: give the units back.
    pub async fn on_order_cancelled(&self, order: &OrderCancelled) -> Result<(), ApiError> {
        self.release(order.order_id).await.map(|_| ())
    }
}
