//! The cart service's consumer: a confirmed order empties its buyer's cart. The repository
//! clears the cart and remembers the event id in one atomic step, so a redelivered event is
//! skipped and cannot empty a cart the user has filled again since.

use async_trait::async_trait;
use shared_events::{EventEnvelope, EventHandler, HandlerError, OrderConfirmed, topics};

use crate::service::CartService;

/// Handles `order.confirmed`.
pub struct CartConsumer {
    service: CartService,
}

impl CartConsumer {
    #[must_use]
    pub fn new(service: CartService) -> Self {
        Self { service }
    }
}

#[async_trait]
impl EventHandler for CartConsumer {
    async fn handle(&self, event: &EventEnvelope) -> Result<(), HandlerError> {
        if event.topic() != topics::ORDER_CONFIRMED {
            return Ok(());
        }
        let confirmed: OrderConfirmed = event.decode()?;
        let cleared = self
            .service
            .clear_after_order(confirmed.user_id, event.event_id)
            .await
            .map_err(|err| HandlerError::new(err.to_string()))?;
        if cleared {
            tracing::info!(order_id = %confirmed.order_id, user_id = %confirmed.user_id, "cart cleared after order confirmation");
        } else {
            tracing::debug!(event_id = %event.event_id, "event already handled; skipped");
        }
        Ok(())
    }
}
