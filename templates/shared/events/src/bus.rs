//! The bus contract: publish envelopes; subscribe a consumer group's handler to topics.
//! Delivery is at least once, so handlers must be idempotent (remember `event_id`s).

use std::sync::Arc;

use async_trait::async_trait;

use crate::envelope::EventEnvelope;

/// Why the bus could not take or deliver a message.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("event bus unavailable: {0}")]
    Unavailable(String),
}

/// Why a handler could not process an event; the bus retries, then dead-letters it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HandlerError(pub String);

impl HandlerError {
    /// A failure described by `message`.
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

impl From<serde_json::Error> for HandlerError {
    fn from(err: serde_json::Error) -> Self {
        Self(format!("malformed event: {err}"))
    }
}

/// Processes one event. Called again for a redelivered event: make it a no-op the second time.
#[async_trait]
pub trait EventHandler: Send + Sync {
    async fn handle(&self, event: &EventEnvelope) -> Result<(), HandlerError>;
}

/// Where services publish events and register their consumers.
#[async_trait]
pub trait EventBus: Send + Sync {
    /// Publishes on the envelope's topic, keyed by its aggregate id.
    async fn publish(&self, event: EventEnvelope) -> Result<(), BusError>;

    /// Publishes `events` in order and answers each one's outcome, in the same order. A bus
    /// that can pipeline (Kafka) sends them all before waiting for the acknowledgements; by
    /// default they are published one after another.
    async fn publish_batch(&self, events: Vec<EventEnvelope>) -> Vec<Result<(), BusError>> {
        let mut outcomes = Vec::with_capacity(events.len());
        for event in events {
            outcomes.push(self.publish(event).await);
        }
        outcomes
    }

    /// Delivers every event of `topics` to `handler`, once per consumer `group`, until the
    /// process ends. A handler error is retried; after the bus's attempt budget the event is
    /// dead-lettered.
    async fn subscribe(
        &self,
        group: &str,
        topics: &[&str],
        handler: Arc<dyn EventHandler>,
    ) -> Result<(), BusError>;

    /// Stops consuming and releases the connections, at process exit. Events being handled
    /// are not acknowledged and are delivered again later (at least once). Nothing to do for a
    /// bus that holds no connections.
    async fn close(&self) {}
}
