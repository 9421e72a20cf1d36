//! The envelope: identity, type, time and version around a typed payload.

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use shared_types::EventId;

use crate::trace::{self, TraceContext};

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
    /// The W3C `traceparent` of the trace this event belongs to (see [`crate::trace`]).
    /// Absent in envelopes written before it existed, which then start a new trace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
}

impl EventEnvelope {
    /// Wraps a typed event with a new id, the current time, and a trace context that continues
    /// the trace of the event being handled on this task (or starts a new one).
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
            traceparent: Some(trace::for_new_event().to_string()),
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

    /// The envelope's trace context, if it carries a valid one.
    #[must_use]
    pub fn trace_context(&self) -> Option<TraceContext> {
        self.traceparent.as_deref()?.parse().ok()
    }

    /// The topic this envelope is published on.
    #[must_use]
    pub fn topic(&self) -> &str {
        &self.event_type
    }
}
