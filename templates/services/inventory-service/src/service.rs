//! The use cases of the inventory service, called by the HTTP API and by the event consumers.

use std::sync::Arc;

use platform::ApiError;
use shared_events::{
    EventEnvelope, InventoryReleased, InventoryReservationFailed, InventoryReserved,
    OrderCancelled, OrderConfirmed, OrderCreated,
};
use shared_types::{OrderId, ProductId};

use crate::models::{
    ReleaseOutcome, Reservation, ReservationLine, ReservationLines, ReservationState, StockLevel,
};
use crate::repository::{Applied, Delivery, InventoryRepository, ReserveOutcome, no_events};

/// Stock and reservations; the saga's inventory events are stored with the changes that cause
/// them (the repository publishes or outboxes them). Cloning shares it.
#[derive(Clone)]
pub struct InventoryService {
    repository: Arc<dyn InventoryRepository>,
}

/// `inventory.released` when a release actually gave stock back.
fn released_events(outcome: &ReleaseOutcome) -> Vec<EventEnvelope> {
    match outcome {
        ReleaseOutcome::ReturnedHeld(reservation) | ReleaseOutcome::Restocked(reservation) => {
            vec![EventEnvelope::wrap(&InventoryReleased {
                order_id: reservation.order_id,
            })]
        }
        ReleaseOutcome::AlreadyReleased(_) | ReleaseOutcome::UnknownOrder => Vec::new(),
    }
}

fn reservation_failed(order: &OrderCreated, reason: String) -> EventEnvelope {
    EventEnvelope::wrap(&InventoryReservationFailed {
        order_id: order.order_id,
        user_id: order.user_id,
        reason,
    })
}

fn log_duplicate<T>(applied: &Applied<T>, delivery: Delivery) {
    if matches!(applied, Applied::AlreadyProcessed) {
        tracing::debug!(event_id = %delivery.event_id, "event already handled; skipped");
    }
}

impl InventoryService {
    #[must_use]
    pub fn new(repository: Arc<dyn InventoryRepository>) -> Self {
        Self { repository }
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
        match self
            .repository
            .reserve(order_id, &lines, None, &no_events)
            .await?
        {
            Applied::Done(Ok(reservation)) => Ok(reservation),
            Applied::Done(Err(short)) => Err(ApiError::conflict(short.to_string())),
            Applied::AlreadyProcessed => Err(ApiError::internal(
                "a reservation without a delivery was reported as a duplicate",
            )),
        }
    }

    /// The reservation of an order; 404 when there is none.
    pub async fn reservation(&self, order_id: OrderId) -> Result<Reservation, ApiError> {
        self.repository
            .reservation(order_id)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("no reservation for order {order_id}")))
    }

    /// Releases an order's reservation (idempotent); `inventory.released` goes out when stock
    /// actually came back.
    pub async fn release(&self, order_id: OrderId) -> Result<ReleaseOutcome, ApiError> {
        match self
            .repository
            .release(order_id, None, &released_events)
            .await?
        {
            Applied::Done(outcome) => {
                if outcome.released_something() {
                    tracing::info!(%order_id, "reservation released");
                }
                Ok(outcome)
            }
            Applied::AlreadyProcessed => Err(ApiError::internal(
                "a release without a delivery was reported as a duplicate",
            )),
        }
    }

    /// `order.created`: reserve the order's lines and tell the saga how it went
    /// (`inventory.reserved` or `inventory.reservation-failed`), stored with the reservation.
    pub async fn on_order_created(
        &self,
        order: &OrderCreated,
        delivery: Delivery,
    ) -> Result<(), ApiError> {
        let lines = order.lines.iter().map(|line| ReservationLine {
            product_id: line.product_id,
            quantity: line.quantity,
        });
        let lines = match ReservationLines::new(lines) {
            Ok(lines) => lines,
            Err(invalid) => {
                tracing::info!(order_id = %order.order_id, reason = %invalid, "reservation failed");
                let applied = self
                    .repository
                    .emit(
                        Some(delivery),
                        vec![reservation_failed(order, invalid.to_string())],
                    )
                    .await?;
                log_duplicate(&applied, delivery);
                return Ok(());
            }
        };
        let events = |outcome: &ReserveOutcome| match outcome {
            Ok(reservation) if reservation.state == ReservationState::Reserved => {
                vec![EventEnvelope::wrap(&InventoryReserved {
                    order_id: order.order_id,
                    user_id: order.user_id,
                    total: order.total,
                })]
            }
            // A late redelivery: the saga has moved past this reservation already.
            Ok(_) => Vec::new(),
            Err(short) => vec![reservation_failed(order, short.to_string())],
        };
        let applied = self
            .repository
            .reserve(order.order_id, &lines, Some(delivery), &events)
            .await?;
        match &applied {
            Applied::Done(Ok(reservation)) if reservation.state == ReservationState::Reserved => {
                tracing::info!(order_id = %order.order_id, "stock reserved");
            }
            Applied::Done(Ok(reservation)) => {
                tracing::info!(order_id = %order.order_id, state = ?reservation.state, "order.created redelivered after the reservation moved on; ignored");
            }
            Applied::Done(Err(short)) => {
                tracing::info!(order_id = %order.order_id, reason = %short, "reservation failed");
            }
            Applied::AlreadyProcessed => log_duplicate(&applied, delivery),
        }
        Ok(())
    }

    /// `order.confirmed`: the held units are sold.
    pub async fn on_order_confirmed(
        &self,
        order: &OrderConfirmed,
        delivery: Delivery,
    ) -> Result<(), ApiError> {
        let applied = self
            .repository
            .commit(order.order_id, Some(delivery))
            .await?;
        match &applied {
            Applied::Done(Some(reservation)) => {
                tracing::info!(order_id = %order.order_id, state = ?reservation.state, "reservation committed");
            }
            Applied::Done(None) => {
                tracing::warn!(order_id = %order.order_id, "order confirmed without a reservation");
            }
            Applied::AlreadyProcessed => log_duplicate(&applied, delivery),
        }
        Ok(())
    }

    /// `order.cancelled`: give the units back (or restock sold ones).
    pub async fn on_order_cancelled(
        &self,
        order: &OrderCancelled,
        delivery: Delivery,
    ) -> Result<(), ApiError> {
        let applied = self
            .repository
            .release(order.order_id, Some(delivery), &released_events)
            .await?;
        match &applied {
            Applied::Done(outcome) if outcome.released_something() => {
                tracing::info!(order_id = %order.order_id, "reservation released");
            }
            Applied::Done(_) => {}
            Applied::AlreadyProcessed => log_duplicate(&applied, delivery),
        }
        Ok(())
    }
}
