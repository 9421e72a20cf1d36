//! The transactional outbox: a state change and the events it causes are written in ONE
//! database transaction ([`enqueue`]), and a [`Relay`] publishes the pending rows on the event
//! bus afterwards. An event is never lost (it is committed with the change) and never
//! published for a change that rolled back; it may be published more than once (a crash
//! between publishing and marking), which consumers absorb with the inbox.
//!
//! Each service's first migration creates the table:
//!
//! ```sql
//! CREATE TABLE outbox (id BIGSERIAL PRIMARY KEY, event_id UUID NOT NULL UNIQUE,
//!     topic TEXT NOT NULL, aggregate_id TEXT NOT NULL, envelope JSONB NOT NULL,
//!     created_at TIMESTAMPTZ NOT NULL DEFAULT now(), attempts INT NOT NULL DEFAULT 0,
//!     next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(), published_at TIMESTAMPTZ);
//! CREATE INDEX outbox_pending ON outbox (next_attempt_at) WHERE published_at IS NULL;
//! ```

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use shared_events::{EventBus, EventEnvelope};
use sqlx::PgPool;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How often a relay looks for pending rows: the model's `outbox_poll_ms`.
pub const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// The most rows one relay pass locks and publishes.
pub const BATCH_SIZE: i64 = 100;

/// Writes `event` to the outbox. Call it on the transaction that makes the state change the
/// event reports, so both commit or neither does.
pub async fn enqueue(tx: &mut sqlx::PgConnection, event: &EventEnvelope) -> sqlx::Result<()> {
    let envelope = serde_json::to_value(event).map_err(|err| sqlx::Error::Encode(Box::new(err)))?;
    sqlx::query(
        "INSERT INTO outbox (event_id, topic, aggregate_id, envelope) VALUES ($1, $2, $3, $4)",
    )
    .bind(event.event_id.0)
    .bind(event.topic())
    .bind(&event.aggregate_id)
    .bind(envelope)
    .execute(tx)
    .await?;
    Ok(())
}

/// How long a row waits after its `attempts`-th failed publish: 500 ms, doubling, at most a
/// minute.
#[must_use]
pub fn backoff(attempts: i32) -> Duration {
    let doublings = u32::try_from(attempts.saturating_sub(1))
        .unwrap_or(0)
        .min(7);
    Duration::from_millis(500 * (1 << doublings)).min(Duration::from_secs(60))
}

/// One relay pass: in one transaction, locks up to [`BATCH_SIZE`] due rows in id order
/// (`FOR UPDATE SKIP LOCKED`, so concurrent relays share the work without publishing a row
/// twice), publishes them in that order, marks the published ones, and on the first failure
/// schedules that row's retry with [`backoff`] and stops the pass. A row whose aggregate has
/// an earlier row waiting for a retry stays pending, so one aggregate's events keep their
/// order. Answers how many were published.
pub async fn relay_once(pool: &PgPool, bus: &dyn EventBus) -> anyhow::Result<usize> {
    let mut tx = pool.begin().await.context("outbox: cannot begin")?;
    let rows: Vec<(i64, i32, serde_json::Value)> = sqlx::query_as(
        "SELECT o.id, o.attempts, o.envelope FROM outbox o \
         WHERE o.published_at IS NULL AND o.next_attempt_at <= now() \
           AND NOT EXISTS (SELECT 1 FROM outbox earlier \
                           WHERE earlier.aggregate_id = o.aggregate_id \
                             AND earlier.published_at IS NULL \
                             AND earlier.next_attempt_at > now() \
                             AND earlier.id < o.id) \
         ORDER BY o.id LIMIT $1 FOR UPDATE OF o SKIP LOCKED",
    )
    .bind(BATCH_SIZE)
    .fetch_all(&mut *tx)
    .await
    .context("outbox: cannot read pending rows")?;
    let mut published = Vec::with_capacity(rows.len());
    for (id, attempts, envelope) in rows {
        let outcome = match serde_json::from_value::<EventEnvelope>(envelope) {
            Ok(event) => bus.publish(event).await.map_err(|err| err.to_string()),
            Err(err) => Err(format!("stored envelope is malformed: {err}")),
        };
        if let Err(error) = outcome {
            let attempts = attempts.saturating_add(1);
            let wait = backoff(attempts);
            tracing::warn!(outbox_id = id, attempts, retry_in = ?wait, %error, "outbox: publish failed");
            sqlx::query(
                "UPDATE outbox SET attempts = $2, \
                 next_attempt_at = now() + ($3::float8 * interval '1 millisecond') WHERE id = $1",
            )
            .bind(id)
            .bind(attempts)
            .bind(wait.as_secs_f64() * 1000.0)
            .execute(&mut *tx)
            .await
            .context("outbox: cannot schedule a retry")?;
            break;
        }
        published.push(id);
    }
    if !published.is_empty() {
        sqlx::query("UPDATE outbox SET published_at = now() WHERE id = ANY($1)")
            .bind(&published)
            .execute(&mut *tx)
            .await
            .context("outbox: cannot mark rows published")?;
    }
    tx.commit().await.context("outbox: cannot commit")?;
    if !published.is_empty() {
        tracing::debug!(count = published.len(), "outbox: published");
    }
    Ok(published.len())
}

/// Publishes a unit's outbox in the background: [`relay_once`] every `interval` (normally
/// [`POLL_INTERVAL`]), straight again
/// while passes come back full. Several relays (replicas) over one table are safe.
pub struct Relay {
    pool: PgPool,
    bus: Arc<dyn EventBus>,
    interval: Duration,
}

impl Relay {
    /// Starts a relay over `pool`'s outbox on the current tokio runtime. Dropping the handle
    /// leaves it running until the runtime ends; [`RelayHandle::stop`] ends it.
    pub fn spawn(pool: PgPool, bus: Arc<dyn EventBus>, interval: Duration) -> RelayHandle {
        let relay = Self {
            pool,
            bus,
            interval,
        };
        let (stop, stop_requested) = oneshot::channel();
        let task = tokio::spawn(relay.run(stop_requested));
        RelayHandle { stop, task }
    }

    async fn run(self, stop_requested: oneshot::Receiver<()>) {
        // `None` once the handle was dropped without stopping: then the relay runs on.
        let mut stop_requested = Some(stop_requested);
        loop {
            let wait = match relay_once(&self.pool, self.bus.as_ref()).await {
                Ok(count) if i64::try_from(count).is_ok_and(|count| count >= BATCH_SIZE) => {
                    Duration::ZERO
                }
                Ok(_) => self.interval,
                Err(err) => {
                    tracing::warn!(error = format!("{err:#}"), "outbox: relay pass failed");
                    self.interval
                }
            };
            let pause = tokio::time::sleep(wait);
            tokio::pin!(pause);
            match stop_requested.as_mut() {
                Some(stop) => tokio::select! {
                    requested = stop => {
                        if requested.is_ok() {
                            return;
                        }
                        stop_requested = None;
                        (&mut pause).await;
                    }
                    () = &mut pause => {}
                },
                None => pause.await,
            }
        }
    }
}

/// A running [`Relay`].
pub struct RelayHandle {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl RelayHandle {
    /// Stops the relay after its current pass and waits for it.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, Ordering};

    use async_trait::async_trait;
    use shared_events::{BusError, EventHandler, InMemoryEventBus, OrderCancelled};
    use shared_types::{EventId, OrderId, UserId};

    use super::*;
    use crate::db::test_support::fresh_database;

    /// A bus that refuses every publish while `failing` is set, and records what it took.
    #[derive(Default)]
    struct FlakyBus {
        failing: AtomicBool,
        refused: Mutex<u32>,
        taken: Mutex<Vec<EventEnvelope>>,
    }

    #[async_trait]
    impl EventBus for FlakyBus {
        async fn publish(&self, event: EventEnvelope) -> Result<(), BusError> {
            if self.failing.load(Ordering::SeqCst) {
                *self.refused.lock().unwrap() += 1;
                return Err(BusError::Unavailable("broker down".to_owned()));
            }
            self.taken.lock().unwrap().push(event);
            Ok(())
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

    fn confirmed(order: OrderId) -> EventEnvelope {
        EventEnvelope::wrap(&OrderCancelled {
            order_id: order,
            user_id: UserId::new(),
            reason: "test".to_owned(),
        })
    }

    async fn enqueue_committed(pool: &PgPool, events: &[EventEnvelope]) {
        let mut tx = pool.begin().await.unwrap();
        for event in events {
            enqueue(&mut tx, event).await.unwrap();
        }
        tx.commit().await.unwrap();
    }

    async fn pending(pool: &PgPool) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL")
            .fetch_one(pool)
            .await
            .unwrap()
    }

    fn ids(events: &[EventEnvelope]) -> Vec<EventId> {
        events.iter().map(|event| event.event_id).collect()
    }

    #[test]
    fn backoff_doubles_from_half_a_second_up_to_a_minute() {
        assert_eq!(backoff(1), Duration::from_millis(500));
        assert_eq!(backoff(2), Duration::from_secs(1));
        assert_eq!(backoff(4), Duration::from_secs(4));
        assert_eq!(backoff(8), Duration::from_secs(60));
        assert_eq!(backoff(i32::MAX), Duration::from_secs(60));
        assert_eq!(backoff(0), Duration::from_millis(500));
    }

    #[tokio::test]
    #[ignore = "needs PostgreSQL: set TEST_DATABASE_URL or run one on 127.0.0.1:5432, then cargo test -- --ignored"]
    async fn relay_publishes_pending_rows_in_order_and_marks_them() {
        let (pool, _) = fresh_database().await;
        let bus = InMemoryEventBus::default();
        let events: Vec<_> = (0..5).map(|_| confirmed(OrderId::new())).collect();
        enqueue_committed(&pool, &events).await;

        assert_eq!(relay_once(&pool, &bus).await.unwrap(), 5);
        assert_eq!(ids(&bus.published()), ids(&events));
        assert_eq!(bus.published(), events);
        assert_eq!(pending(&pool).await, 0);
        assert_eq!(
            relay_once(&pool, &bus).await.unwrap(),
            0,
            "nothing is published twice"
        );
        assert_eq!(bus.published().len(), 5);
    }

    #[tokio::test]
    #[ignore = "needs PostgreSQL: set TEST_DATABASE_URL or run one on 127.0.0.1:5432, then cargo test -- --ignored"]
    async fn a_rolled_back_transaction_leaves_nothing_to_publish() {
        let (pool, _) = fresh_database().await;
        let mut tx = pool.begin().await.unwrap();
        enqueue(&mut tx, &confirmed(OrderId::new())).await.unwrap();
        tx.rollback().await.unwrap();
        let bus = InMemoryEventBus::default();
        assert_eq!(relay_once(&pool, &bus).await.unwrap(), 0);
        assert!(bus.published().is_empty());
    }

    #[tokio::test]
    #[ignore = "needs PostgreSQL: set TEST_DATABASE_URL or run one on 127.0.0.1:5432, then cargo test -- --ignored"]
    async fn a_failed_publish_is_retried_later_with_backoff_keeping_the_aggregate_order() {
        let (pool, _) = fresh_database().await;
        let bus = FlakyBus::default();
        let order = OrderId::new();
        let first = confirmed(order);
        let second = confirmed(order);
        enqueue_committed(&pool, &[first.clone(), second.clone()]).await;

        bus.failing.store(true, Ordering::SeqCst);
        assert_eq!(relay_once(&pool, &bus).await.unwrap(), 0);
        assert_eq!(
            *bus.refused.lock().unwrap(),
            1,
            "the pass stops at the first failure"
        );
        let (attempts, wait_ms): (i32, f64) = sqlx::query_as(
            "SELECT attempts, EXTRACT(EPOCH FROM next_attempt_at - now())::float8 * 1000 \
             FROM outbox WHERE event_id = $1",
        )
        .bind(first.event_id.0)
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(attempts, 1);
        assert!(
            wait_ms > 300.0 && wait_ms <= 500.0,
            "retry in ~500 ms, got {wait_ms}"
        );

        // Before the retry is due, nothing is tried: not the failed row, and not the later
        // event of the same order either (it must not overtake the first).
        bus.failing.store(false, Ordering::SeqCst);
        assert_eq!(relay_once(&pool, &bus).await.unwrap(), 0);
        assert!(bus.taken.lock().unwrap().is_empty());

        tokio::time::sleep(backoff(1) + Duration::from_millis(100)).await;
        assert_eq!(relay_once(&pool, &bus).await.unwrap(), 2);
        assert_eq!(ids(&bus.taken.lock().unwrap()), ids(&[first, second]));
        assert_eq!(pending(&pool).await, 0);
    }

    #[tokio::test]
    #[ignore = "needs PostgreSQL: set TEST_DATABASE_URL or run one on 127.0.0.1:5432, then cargo test -- --ignored"]
    async fn a_failure_reschedules_with_growing_backoff() {
        let (pool, _) = fresh_database().await;
        let bus = FlakyBus::default();
        bus.failing.store(true, Ordering::SeqCst);
        let event = confirmed(OrderId::new());
        enqueue_committed(&pool, std::slice::from_ref(&event)).await;
        for expected_attempts in 1..=3 {
            // Make the row due now, as if its wait had passed.
            sqlx::query("UPDATE outbox SET next_attempt_at = now()")
                .execute(&pool)
                .await
                .unwrap();
            assert_eq!(relay_once(&pool, &bus).await.unwrap(), 0);
            let (attempts, wait_ms): (i32, f64) = sqlx::query_as(
                "SELECT attempts, EXTRACT(EPOCH FROM next_attempt_at - now())::float8 * 1000 \
                 FROM outbox",
            )
            .fetch_one(&pool)
            .await
            .unwrap();
            assert_eq!(attempts, expected_attempts);
            let expected = backoff(expected_attempts).as_secs_f64() * 1000.0;
            assert!(
                wait_ms > expected - 250.0 && wait_ms <= expected,
                "{wait_ms} vs {expected}"
            );
        }
        assert_eq!(*bus.refused.lock().unwrap(), 3);
    }

    #[tokio::test]
    #[ignore = "needs PostgreSQL: set TEST_DATABASE_URL or run one on 127.0.0.1:5432, then cargo test -- --ignored"]
    async fn a_relay_whose_handle_is_dropped_keeps_publishing_and_a_stopped_one_does_not() {
        let (pool, _) = fresh_database().await;
        let bus = InMemoryEventBus::default();
        drop(Relay::spawn(
            pool.clone(),
            Arc::new(bus.clone()),
            Duration::from_millis(10),
        ));
        let event = confirmed(OrderId::new());
        enqueue_committed(&pool, std::slice::from_ref(&event)).await;
        tokio::time::timeout(Duration::from_secs(5), async {
            while bus.published().is_empty() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .expect("the detached relay publishes");
        assert_eq!(ids(&bus.published()), ids(&[event]));

        let (pool, _) = fresh_database().await;
        let other_bus = InMemoryEventBus::default();
        Relay::spawn(
            pool.clone(),
            Arc::new(other_bus.clone()),
            Duration::from_millis(10),
        )
        .stop()
        .await;
        enqueue_committed(&pool, &[confirmed(OrderId::new())]).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(other_bus.published().is_empty());
        assert_eq!(pending(&pool).await, 1);
    }

    /// Records every publish with the tag of the relay that made it, slowly enough that
    /// concurrent relay passes overlap.
    struct Recording {
        relay: &'static str,
        log: Arc<Mutex<Vec<(&'static str, EventId)>>>,
    }

    #[async_trait]
    impl EventBus for Recording {
        async fn publish(&self, event: EventEnvelope) -> Result<(), BusError> {
            tokio::time::sleep(Duration::from_millis(1)).await;
            self.log.lock().unwrap().push((self.relay, event.event_id));
            Ok(())
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

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    #[ignore = "needs PostgreSQL: set TEST_DATABASE_URL or run one on 127.0.0.1:5432, then cargo test -- --ignored"]
    async fn after_a_crash_new_relays_lose_nothing_and_publish_each_event_exactly_once() {
        let (pool, url) = fresh_database().await;
        // The crashed process committed its changes with their events; its relay never ran.
        let events: Vec<_> = (0..350).map(|_| confirmed(OrderId::new())).collect();
        for chunk in events.chunks(50) {
            enqueue_committed(&pool, chunk).await;
        }
        pool.close().await;

        // The restarted replicas: two relays, each with its own pool, over the same table.
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut relays = Vec::new();
        for relay in ["a", "b"] {
            let pool = crate::db::Database::new(url.clone())
                .connect()
                .await
                .unwrap();
            let bus = Arc::new(Recording {
                relay,
                log: Arc::clone(&log),
            });
            relays.push(Relay::spawn(pool, bus, Duration::from_millis(10)));
        }
        let observer = crate::db::Database::new(url).connect().await.unwrap();
        tokio::time::timeout(Duration::from_secs(20), async {
            while pending(&observer).await > 0 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("the relays drain the outbox");
        for relay in relays {
            relay.stop().await;
        }

        let log = log.lock().unwrap().clone();
        let mut counts: HashMap<EventId, usize> = HashMap::new();
        for (_, event_id) in &log {
            *counts.entry(*event_id).or_insert(0) += 1;
        }
        assert_eq!(log.len(), events.len(), "each event published exactly once");
        assert!(
            events
                .iter()
                .all(|event| counts.get(&event.event_id) == Some(&1))
        );
        assert!(
            ["a", "b"]
                .iter()
                .all(|relay| log.iter().any(|(tag, _)| tag == relay)),
            "both relays took a share (SKIP LOCKED, not one waiting for the other)"
        );
    }
}
