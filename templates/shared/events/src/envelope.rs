//! The envelope: identity, type, time and version around a typed payload.

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use shared_types::EventId;

/// A typed event payload and the topic it travels on.
pub trait Event: Serialize + DeserializeOwned {
    /// The topic, which is also the envelope's `event_type`.
    const TOPIC: &'static str;
    /// Schema version of the payload; bump it on incompatible changes.
    const VERSION: u16 = 1;
    /// The aggregate the event is about: the partition key on a broker, so events about one
    /// order stay in order.
    fn aggregate_id(&self) -> String;
}

/// What goes on the wire: identity, type, time and version around the payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventEnvelope {
    pub event_id: EventId,
    pub event_type: String,
    pub timestamp: DateTime<Utc>,
    pub version: u16,
    pub aggregate_id: String,
    pub data: serde_json::Value,
}

impl EventEnvelope {
    /// Wraps a typed event with a new id and the current time.
    ///
    /// # Panics
    /// Never for the event types of this crate: they serialize to JSON without fail.
    #[must_use]
    pub fn wrap<E: Event>(event: &E) -> Self {
        Self {
            event_id: EventId::new(),
            event_type: E::TOPIC.to_owned(),
            timestamp: Utc::now(),
            version: E::VERSION,
            aggregate_id: event.aggregate_id(),
            data: serde_json::to_value(event).expect("event payloads are plain data"),
        }
    }

    /// The typed payload, if this envelope carries an `E`.
    pub fn decode<E: Event>(&self) -> Result<E, serde_json::Error> {
        if self.event_type != E::TOPIC {
            return Err(serde::de::Error::custom(format!(
                "expected a `{}` event, got `{}`",
                E::TOPIC,
                self.event_type
            )));
        }
        serde_json::from_value(self.data.clone())
    }

    /// The topic this envelope is published on.
    #[must_use]
    pub fn topic(&self) -> &str {
        &self.event_type
    }
}
