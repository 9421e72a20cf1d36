//! The cart service's consumer. `product.updated` records the product's terms in the price
//! table (keeping the newest version), so carts are priced at them from then on.
//! `order.confirmed` takes what the order bought out of its buyer's cart: the repository does
//! that and remembers the event id in one atomic step, so a redelivered event is skipped and
//! cannot take the same units twice.

use async_trait::async_trait;
use shared_events::{
    EventEnvelope, EventHandler, HandlerError, OrderConfirmed, ProductUpdated, topics,
};

use crate::models::{Bought, ProductTerms};
use crate::service::CartService;

/// Handles `order.confirmed` and `product.updated`.
pub struct CartConsumer {
    service: CartService,
}

impl CartConsumer {
    #[must_use]
    pub fn new(service: CartService) -> Self {
        Self { service }
    }

    async fn order_confirmed(&self, event: &EventEnvelope) -> Result<(), HandlerError> {
        let confirmed: OrderConfirmed = event.decode()?;
        // A confirmation from before events listed their lines meant "clear the cart".
        let bought = if confirmed.lines.is_empty() {
            Bought::Everything
        } else {
            Bought::Units(
                confirmed
                    .lines
                    .iter()
                    .map(|line| (line.product_id, line.quantity))
                    .collect(),
            )
        };
        let removed = self
            .service
            .remove_bought(confirmed.user_id, event.event_id, &bought)
            .await
            .map_err(|err| HandlerError::new(err.to_string()))?;
        if removed {
            tracing::info!(order_id = %confirmed.order_id, user_id = %confirmed.user_id, "bought items taken out of the cart");
        } else {
            tracing::debug!(event_id = %event.event_id, "event already handled; skipped");
        }
        Ok(())
    }

    async fn product_updated(&self, event: &EventEnvelope) -> Result<(), HandlerError> {
        let updated: ProductUpdated = event.decode()?;
        let terms = ProductTerms {
            name: updated.name,
            unit_price: updated.price,
            active: updated.active,
            version: updated.version,
        };
        let recorded = self
            .service
            .record_terms(updated.product_id, &terms)
            .await
            .map_err(|err| HandlerError::new(err.to_string()))?;
        if recorded {
            tracing::debug!(product_id = %updated.product_id, version = terms.version, "product terms recorded");
        } else {
            tracing::debug!(product_id = %updated.product_id, version = terms.version, "older product terms ignored");
        }
        Ok(())
    }
}

#[async_trait]
impl EventHandler for CartConsumer {
    async fn handle(&self, event: &EventEnvelope) -> Result<(), HandlerError> {
        match event.topic() {
            topics::ORDER_CONFIRMED => self.order_confirmed(event).await,
            topics::PRODUCT_UPDATED => self.product_updated(event).await,
            _ => Ok(()),
        }
    }
}
