//! Which event bus a unit uses: Kafka when `KAFKA_BROKERS` is set, otherwise the in-memory
//! bus, and the start-up log says which (with the in-memory bus, events stay inside this
//! process). [`InMemoryStore`] is what an in-memory repository keeps: its state and the bus its
//! changes are announced on.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use anyhow::Context as _;
use shared_events::{
    BusError, EventBus, EventEnvelope, InMemoryEventBus, KafkaConfig, KafkaEventBus,
};

use crate::health::{Check, Readiness};
use crate::topology::{PROBE_TIMEOUT, Unit};

/// The variable naming the Kafka bootstrap servers (`host:port`, comma-separated).
pub const KAFKA_BROKERS: &str = "KAFKA_BROKERS";

/// The event bus for `unit`, chosen from the environment: Kafka at `KAFKA_BROKERS` (connected
/// now, so an unreachable broker stops the start-up, and reported by `/ready` from then on:
/// [`readiness_check`]), in memory when it is unset or empty (always there: no check).
pub async fn from_env(unit: Unit, readiness: &Readiness) -> anyhow::Result<Arc<dyn EventBus>> {
    let Some(config) = kafka_config_from_env(unit.name) else {
        tracing::info!(
            service = unit.name,
            "event bus: in-memory (events stay inside this process; set KAFKA_BROKERS for Kafka, or run the devstack to see the whole saga)"
        );
        return Ok(Arc::new(InMemoryEventBus::default()));
    };
    let brokers = config.brokers.clone();
    let bus = connect(config).await?;
    tracing::info!(service = unit.name, %brokers, "event bus: Kafka");
    readiness.add_check(readiness_check(&bus));
    Ok(Arc::new(bus))
}

/// `/ready`'s `broker` check: one metadata round trip to the Kafka brokers. It is *reported*,
/// not required: with a database, every event waits in the outbox until the broker answers
/// again, and consumers pull from Kafka whatever the unit's readiness, so taking replicas out
/// of the Service would only add an HTTP outage to a broker outage. Each unit still shows the
/// broker's state in `/ready`'s body and logs when it stops answering.
#[must_use]
pub fn readiness_check(bus: &KafkaEventBus) -> Check {
    let bus = bus.clone();
    Check::reported("broker", move || {
        let bus = bus.clone();
        // The round cancels it after `CHECK_TIMEOUT` and reports `timeout`; this longer bound
        // only keeps the call finite on its own.
        async move { bus.ping(PROBE_TIMEOUT).await }
    })
}

/// The Kafka settings of `KAFKA_BROKERS` for a client named `client_id`; `None` when it is
/// unset or blank.
#[must_use]
pub fn kafka_config_from_env(client_id: &str) -> Option<KafkaConfig> {
    brokers(std::env::var(KAFKA_BROKERS).ok()).map(|brokers| KafkaConfig::new(brokers, client_id))
}

/// Connects to the Kafka brokers of `KAFKA_BROKERS`; fails when it is unset or unreachable.
pub async fn kafka_from_env(unit: Unit) -> anyhow::Result<KafkaEventBus> {
    let Some(config) = kafka_config_from_env(unit.name) else {
        anyhow::bail!("{KAFKA_BROKERS} is unset: it names the Kafka brokers, e.g. 127.0.0.1:9092");
    };
    connect(config).await
}

/// Connects to the brokers of `config`, naming `KAFKA_BROKERS` when they cannot be reached.
pub async fn connect(config: KafkaConfig) -> anyhow::Result<KafkaEventBus> {
    let brokers = config.brokers.clone();
    KafkaEventBus::connect(config)
        .await
        .with_context(|| format!("{KAFKA_BROKERS}={brokers}: cannot reach the Kafka brokers"))
}

/// The brokers named by a `KAFKA_BROKERS` value; `None` when it is unset or blank.
fn brokers(value: Option<String>) -> Option<String> {
    value
        .map(|value| value.trim().to_owned())
        .filter(|value| !value.is_empty())
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

    #[test]
    fn blank_kafka_brokers_mean_in_memory() {
        assert_eq!(brokers(None), None);
        assert_eq!(brokers(Some(" ".to_owned())), None);
        assert_eq!(
            brokers(Some(" 127.0.0.1:9092 ".to_owned())).as_deref(),
            Some("127.0.0.1:9092")
        );
    }

    #[tokio::test]
    async fn an_unreachable_broker_is_an_error_naming_the_variable() {
        // Port 1 on loopback refuses at once: no broker needed to see the start-up error.
        let mut config = KafkaConfig::new("127.0.0.1:1", "test");
        config.connect_timeout = std::time::Duration::from_secs(2);
        let Err(err) = connect(config).await else {
            panic!("nothing listens on 127.0.0.1:1");
        };
        let message = format!("{err:#}");
        assert!(
            message.starts_with("KAFKA_BROKERS=127.0.0.1:1: cannot reach the Kafka brokers"),
            "{message}"
        );
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
