//! Which event bus a unit uses. With nothing configured it is the in-memory bus, and the
//! start-up log says that events then stay inside this process. [`InMemoryStore`] is what an
//! in-memory repository keeps: its state and the bus its changes are announced on.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use shared_events::{BusError, EventBus, EventEnvelope, InMemoryEventBus};

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

/// A repository's state `S` in process memory and the bus its changes are announced on: a change
/// is made under [`lock`](Self::lock) and, once stored (the guard dropped), its events are
/// [`publish`](Self::publish)ed — what a database's outbox relay does after the commit.
pub struct InMemoryStore<S> {
    state: Mutex<S>,
    bus: Arc<dyn EventBus>,
}

impl<S: Default> InMemoryStore<S> {
    /// Empty state, announcing on `bus`.
    #[must_use]
    pub fn new(bus: Arc<dyn EventBus>) -> Self {
        Self {
            state: Mutex::default(),
            bus,
        }
    }
}

impl<S> InMemoryStore<S> {
    /// The state, for one atomic change (a panic in an earlier holder leaves it usable).
    pub fn lock(&self) -> MutexGuard<'_, S> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Publishes what a stored change caused, in order, stopping at the first bus failure (the
    /// change stays stored; the caller reports the failure).
    pub async fn publish(
        &self,
        events: impl IntoIterator<Item = EventEnvelope>,
    ) -> Result<(), BusError> {
        for event in events {
            self.bus.publish(event).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use async_trait::async_trait;
    use shared_events::{EventHandler, OrderCancelled};
    use shared_types::{OrderId, UserId};

    use super::*;

    fn cancelled(reason: &str) -> EventEnvelope {
        EventEnvelope::wrap(&OrderCancelled {
            order_id: OrderId::new(),
            user_id: UserId::new(),
            reason: reason.to_owned(),
        })
    }

    struct DownBus;

    #[async_trait]
    impl EventBus for DownBus {
        async fn publish(&self, _event: EventEnvelope) -> Result<(), BusError> {
            Err(BusError::Unavailable("broker down".to_owned()))
        }

        async fn subscribe(
            &self,
            _group: &str,
            _topics: &[&str],
            _handler: Arc<dyn EventHandler>,
        ) -> Result<(), BusError> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_store_keeps_its_state_and_publishes_a_changes_events_in_order() {
        let bus = InMemoryEventBus::default();
        let store: InMemoryStore<Vec<u32>> = InMemoryStore::new(Arc::new(bus.clone()));
        store.lock().push(7);
        let events = vec![cancelled("first"), cancelled("second")];
        store.publish(events.clone()).await.unwrap();
        assert_eq!(*store.lock(), vec![7]);
        assert_eq!(bus.published(), events);
    }

    #[tokio::test]
    async fn a_bus_failure_is_reported_and_the_state_stays_changed() {
        let store: InMemoryStore<Vec<u32>> = InMemoryStore::new(Arc::new(DownBus));
        store.lock().push(1);
        let err = store.publish([cancelled("lost")]).await.unwrap_err();
        assert!(err.to_string().contains("broker down"), "{err}");
        assert_eq!(*store.lock(), vec![1]);
    }
}
