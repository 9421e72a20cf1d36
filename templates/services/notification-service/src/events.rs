//! The consumer of account, order and payment events. It publishes nothing.

use std::sync::Arc;

use async_trait::async_trait;
use shared_events::{BusError, EventBus, EventEnvelope, EventHandler, HandlerError};

use crate::models::{CONSUMED_TOPICS, RenderError};
use crate::service::{NotificationService, NotifyError};

/// Turns each consumed event into a notification, once per event id.
pub struct NotificationConsumer {
    service: NotificationService,
}

#[async_trait]
impl EventHandler for NotificationConsumer {
    async fn handle(&self, event: &EventEnvelope) -> Result<(), HandlerError> {
        match self.service.notify(event).await {
            Ok(outcome) => {
                tracing::debug!(event_id = %event.event_id, ?outcome, "event handled");
                Ok(())
            }
            // Nothing to say about this topic: acknowledge rather than dead-letter.
            Err(NotifyError::Render(RenderError::UnsupportedTopic(topic))) => {
                tracing::warn!(%topic, "ignoring event of an unexpected topic");
                Ok(())
            }
            // Malformed: dead-lettered after the retries. Storage: retried by the bus.
            Err(err) => Err(HandlerError::new(err.to_string())),
        }
    }
}

/// Subscribes the consumer to every notifying topic as consumer group `group`.
pub async fn subscribe(
    bus: &dyn EventBus,
    group: &str,
    service: NotificationService,
) -> Result<(), BusError> {
    bus.subscribe(
        group,
        CONSUMED_TOPICS,
        Arc::new(NotificationConsumer { service }),
    )
    .await
}
