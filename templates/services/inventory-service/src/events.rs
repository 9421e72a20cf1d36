//! The inventory service's consumer of order events. Delivery is at least once: each event is
//! handled with its id (the [`Delivery`]), which the repository records in the same atomic step
//! as the effect (the inbox table on `PostgreSQL`), so a redelivered event changes nothing; every
//! effect is idempotent per order besides.

use async_trait::async_trait;
use shared_events::{
    EventEnvelope, EventHandler, HandlerError, OrderCancelled, OrderConfirmed, OrderCreated, topics,
};

use crate::repository::Delivery;
use crate::service::InventoryService;

/// The consumer group (and inbox consumer name) of the inventory service.
pub const CONSUMER: &str = platform::topology::INVENTORY_SERVICE.name;

/// Handles `order.created`, `order.confirmed` and `order.cancelled`.
pub struct InventoryConsumer {
    service: InventoryService,
}

impl InventoryConsumer {
    #[must_use]
    pub fn new(service: InventoryService) -> Self {
        Self { service }
    }
}

#[async_trait]
impl EventHandler for InventoryConsumer {
    async fn handle(&self, event: &EventEnvelope) -> Result<(), HandlerError> {
        let delivery = Delivery {
            consumer: CONSUMER,
            event_id: event.event_id,
        };
        let result = match event.topic() {
            topics::ORDER_CREATED => {
                self.service
                    .on_order_created(&event.decode::<OrderCreated>()?, delivery)
                    .await
            }
            topics::ORDER_CONFIRMED => {
                self.service
                    .on_order_confirmed(&event.decode::<OrderConfirmed>()?, delivery)
                    .await
            }
            topics::ORDER_CANCELLED => {
                self.service
                    .on_order_cancelled(&event.decode::<OrderCancelled>()?, delivery)
                    .await
            }
            other => {
                tracing::debug!(topic = other, "not an inventory topic; ignored");
                Ok(())
            }
        };
        // A failure stored nothing (not even the delivery), so the bus's retry runs it again.
        result.map_err(|err| HandlerError::new(err.detail))
    }
}
