//! Which event bus a unit uses. With nothing configured it is the in-memory bus, and the
//! start-up log says that events then stay inside this process.

use std::sync::Arc;

use shared_events::{EventBus, InMemoryEventBus};

use crate::topology::Unit;

/// The event bus for `unit`, chosen from the environment.
#[must_use]
pub fn from_env(unit: Unit) -> Arc<dyn EventBus> {
    tracing::info!(
        service = unit.name,
        "event bus: in-memory (events stay inside this process; run the devstack to see the whole saga)"
    );
    Arc::new(InMemoryEventBus::default())
}
