//! Events: the envelope every message travels in, the typed payloads of each topic, and the
//! `EventBus` the services publish to and consume from. The in-memory bus serves tests and the
//! devstack; a broker-backed bus implements the same trait.

mod bus;
mod envelope;
mod memory;
pub mod topics;
mod types;

pub use bus::{BusError, EventBus, EventHandler, HandlerError};
pub use envelope::{Event, EventEnvelope};
pub use memory::{DeadLetter, InMemoryEventBus};
pub use types::*;
