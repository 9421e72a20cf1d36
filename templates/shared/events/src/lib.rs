//! Events: the envelope every message travels in, the typed payloads of each topic, and the
//! `EventBus` the services publish to and consume from. The in-memory bus serves tests and the
//! devstack; [`KafkaEventBus`] carries events between processes through a Kafka broker.

mod bus;
pub mod dead_letters;
mod envelope;
pub mod kafka;
pub mod lanes;
mod memory;
mod progress;
pub mod retry;
pub mod topics;
pub mod trace;
mod types;

pub use bus::{BusError, EventBus, EventHandler, HandlerError};
pub use envelope::{Event, EventEnvelope};
pub use kafka::{KafkaConfig, KafkaEventBus};
pub use memory::{DeadLetter, HISTORY, InMemoryEventBus};
pub use retry::{RetryBudget, RetryPolicy};
pub use types::*;
