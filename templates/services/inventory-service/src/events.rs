//! The inventory service's consumer of order events. Delivery is at least once: an event id
//! already handled is skipped, and every effect is idempotent per order besides.

use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;
use shared_events::{
    EventEnvelope, EventHandler, HandlerError, OrderCancelled, OrderConfirmed, OrderCreated, topics,
};
use shared_types::EventId;

use crate::service::InventoryService;

/// Handles `order.created`, `order.confirmed` and `order.cancelled`.
pub struct InventoryConsumer {
    service: InventoryService,
    processed: Mutex<HashSet<EventId>>,
}

impl InventoryConsumer {
    #[must_use]
    pub fn new(service: InventoryService) -> Self {
        Self {
            service,
            processed: Mutex::default(),
        }
    }

    fn seen(&self, event_id: EventId) -> bool {
        self.processed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(&event_id)
    }

    fn remember(&self, event_id: EventId) {
        self.processed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(event_id);
    }
}

#[async_trait]
impl EventHandler for InventoryConsumer {
    async fn handle(&self, event: &EventEnvelope) -> Result<(), HandlerError> {
        if self.seen(event.event_id) {
            tracing::debug!(event_id = %event.event_id, "event already handled; skipped");
            return Ok(());
        }
        let result = match event.topic() {
            topics::ORDER_CREATED => {
                self.service
                    .on_order_created(&event.decode::<OrderCreated>()?)
                    .await
            }
            topics::ORDER_CONFIRMED => {
                self.service
                    .on_order_confirmed(&event.decode::<OrderConfirmed>()?)
                    .await
            }
            topics::ORDER_CANCELLED => {
                self.service
                    .on_order_cancelled(&event.decode::<OrderCancelled>()?)
                    .await
            }
            other => {
                tracing::debug!(topic = other, "not an inventory topic; ignored");
                Ok(())
            }
        };
        // Only a fully handled event (effects stored, follow-up published) counts as processed,
        // so a failed publish is retried; the effects themselves are idempotent per order.
        result.map_err(|err| HandlerError::new(err.detail))?;
        self.remember(event.event_id);
        Ok(())
    }
}
