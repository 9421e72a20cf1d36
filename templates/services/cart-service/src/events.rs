//! The cart service's consumer: a confirmed order empties its buyer's cart. A redelivered
//! event is skipped by its id, so it cannot empty a cart the user has filled again since.

use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;
use shared_events::{EventEnvelope, EventHandler, HandlerError, OrderConfirmed, topics};
use shared_types::EventId;

use crate::service::CartService;

/// Handles `order.confirmed`.
pub struct CartConsumer {
    service: CartService,
    processed: Mutex<HashSet<EventId>>,
}

impl CartConsumer {
    #[must_use]
    pub fn new(service: CartService) -> Self {
        Self {
            service,
            processed: Mutex::default(),
        }
    }

    fn processed(&self) -> std::sync::MutexGuard<'_, HashSet<EventId>> {
        self.processed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl EventHandler for CartConsumer {
    async fn handle(&self, event: &EventEnvelope) -> Result<(), HandlerError> {
        if event.topic() != topics::ORDER_CONFIRMED {
            return Ok(());
        }
        if self.processed().contains(&event.event_id) {
            tracing::debug!(event_id = %event.event_id, "event already handled; skipped");
            return Ok(());
        }
        let confirmed: OrderConfirmed = event.decode()?;
        self.service
            .clear(confirmed.user_id)
            .await
            .map_err(|err| HandlerError::new(err.to_string()))?;
        tracing::info!(order_id = %confirmed.order_id, user_id = %confirmed.user_id, "cart cleared after order confirmation");
        self.processed().insert(event.event_id);
        Ok(())
    }
}
