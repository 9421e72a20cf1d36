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

/// How long one publish may take before it counts as failed (retried with [`backoff`]).
pub const PUBLISH_TIMEOUT: Duration = Duration::from_secs(5);

/// After this many failed publishes a row is parked: the relay no longer selects it (rows with
/// `attempts >= MAX_ATTEMPTS`), and, since only the oldest unpublished row of an aggregate is
/// eligible, the later rows of its aggregate wait with it. An error is logged once, when the
/// row reaches it. No schema change: an operator un-parks a row with
/// `UPDATE outbox SET attempts = 0, next_attempt_at = now() WHERE id = …`, or gives up on it
/// with `UPDATE outbox SET published_at = now() WHERE id = …`.
pub const MAX_ATTEMPTS: i32 = 20;

/// The longest a relay waits between passes while its database is unreachable.
pub const MAX_ERROR_BACKOFF: Duration = Duration::from_secs(5);

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

/// How long a relay waits after its `failures`-th consecutive failed pass (the database is
/// unreachable): the poll `interval`, doubling per failure, at most [`MAX_ERROR_BACKOFF`].
#[must_use]
pub fn error_backoff(interval: Duration, failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    interval
        .saturating_mul(1 << doublings)
        .min(MAX_ERROR_BACKOFF.max(interval))
}

/// One relay pass: in one transaction, locks up to [`BATCH_SIZE`] due rows in id order
/// (`FOR UPDATE SKIP LOCKED`, so concurrent relays share the work without publishing a row
/// twice), publishes them as one batch ([`EventBus::publish_batch`]: every record is sent
/// before any acknowledgement is awaited, so the rows stay locked for one broker round trip,
/// not one per row), marks the published ones, and schedules each failed row's retry with
/// [`backoff`]. Answers how many were published.
///
/// Per-aggregate order, also across relays: only the OLDEST unpublished row of an aggregate
/// is eligible, whatever its state, so one round holds at most one row per aggregate and a
/// failure cannot let a later event of the same aggregate overtake it. A row that another
/// relay has locked (and skipped here), or that waits for a retry, or that is parked
/// ([`MAX_ATTEMPTS`]), holds every later row of its aggregate back. After marking a round
/// published the pass selects again in the same transaction (its own marks are visible to it,
/// other relays still see the rows pending and locked), so a pass can publish several events
/// of one aggregate, in order.
pub async fn relay_once(pool: &PgPool, bus: &dyn EventBus) -> anyhow::Result<usize> {
    let mut tx = pool.begin().await.context("outbox: cannot begin")?;
    let mut total = 0_usize;
    loop {
        let room = BATCH_SIZE - i64::try_from(total).unwrap_or(BATCH_SIZE);
        if room <= 0 {
            break;
        }
        let rows: Vec<(i64, i32, serde_json::Value)> = sqlx::query_as(
            "SELECT o.id, o.attempts, o.envelope FROM outbox o \
             WHERE o.published_at IS NULL AND o.next_attempt_at <= now() AND o.attempts < $2 \
               AND NOT EXISTS (SELECT 1 FROM outbox earlier \
                               WHERE earlier.aggregate_id = o.aggregate_id \
                                 AND earlier.published_at IS NULL \
                                 AND earlier.id < o.id) \
             ORDER BY o.id LIMIT $1 FOR UPDATE OF o SKIP LOCKED",
        )
        .bind(room)
        .bind(MAX_ATTEMPTS)
        .fetch_all(&mut *tx)
        .await
        .context("outbox: cannot read pending rows")?;
        if rows.is_empty() {
            break;
        }
        let (claimed, envelopes): (Vec<(i64, i32)>, Vec<serde_json::Value>) = rows
            .into_iter()
            .map(|(id, attempts, envelope)| ((id, attempts), envelope))
            .unzip();
        let outcomes = publish_stored(bus, envelopes).await;
        let mut published = Vec::with_capacity(claimed.len());
        let mut failed = false;
        for ((id, attempts), outcome) in claimed.into_iter().zip(outcomes) {
            match outcome {
                Ok(()) => published.push(id),
                Err(error) => {
                    schedule_retry(&mut tx, id, attempts, &error).await?;
                    failed = true;
                }
            }
        }
        if !published.is_empty() {
            sqlx::query("UPDATE outbox SET published_at = now() WHERE id = ANY($1)")
                .bind(&published)
                .execute(&mut *tx)
                .await
                .context("outbox: cannot mark rows published")?;
            total += published.len();
        }
        if failed {
            break;
        }
    }
    tx.commit().await.context("outbox: cannot commit")?;
    if total > 0 {
        tracing::debug!(count = total, "outbox: published");
    }
    Ok(total)
}

/// Publishes stored envelopes as one batch, giving up on the whole batch after
/// [`PUBLISH_TIMEOUT`]; answers each one's outcome in order. A malformed envelope fails alone.
async fn publish_stored(
    bus: &dyn EventBus,
    envelopes: Vec<serde_json::Value>,
) -> Vec<Result<(), String>> {
    let mut outcomes: Vec<Result<(), String>> = Vec::with_capacity(envelopes.len());
    let mut events = Vec::with_capacity(envelopes.len());
    for envelope in envelopes {
        match serde_json::from_value::<EventEnvelope>(envelope) {
            Ok(event) => {
                events.push(event);
                outcomes.push(Ok(()));
            }
            Err(err) => outcomes.push(Err(format!("stored envelope is malformed: {err}"))),
        }
    }
    let count = events.len();
    let sent: Vec<Result<(), String>> =
        match tokio::time::timeout(PUBLISH_TIMEOUT, bus.publish_batch(events)).await {
            Ok(sent) => sent
                .into_iter()
                .map(|outcome| outcome.map_err(|err| err.to_string()))
                .collect(),
            Err(_) => vec![Err(format!("publish timed out after {PUBLISH_TIMEOUT:?}")); count],
        };
    let mut sent = sent.into_iter();
    for outcome in outcomes.iter_mut().filter(|outcome| outcome.is_ok()) {
        *outcome = sent
            .next()
            .unwrap_or_else(|| Err("the bus answered fewer outcomes than events".to_owned()));
    }
    outcomes
}

/// Counts a failed publish of row `id`: schedules its retry after [`backoff`], or parks it
/// (logging an error, once) when this was its [`MAX_ATTEMPTS`]-th attempt.
async fn schedule_retry(
    tx: &mut sqlx::PgConnection,
    id: i64,
    attempts: i32,
    error: &str,
) -> anyhow::Result<()> {
    let attempts = attempts.saturating_add(1);
    let wait = backoff(attempts);
    if attempts >= MAX_ATTEMPTS {
        tracing::error!(
            outbox_id = id,
            attempts,
            %error,
            "outbox: publish failed {MAX_ATTEMPTS} times; row parked (it and the later events \
             of its aggregate stay unpublished until an operator resets its attempts)"
        );
    } else {
        tracing::warn!(outbox_id = id, attempts, retry_in = ?wait, %error, "outbox: publish failed");
    }
    sqlx::query(
        "UPDATE outbox SET attempts = $2, \
         next_attempt_at = clock_timestamp() + ($3::float8 * interval '1 millisecond') WHERE id = $1",
    )
    .bind(id)
    .bind(attempts)
    .bind(wait.as_secs_f64() * 1000.0)
    .execute(&mut *tx)
    .await
    .context("outbox: cannot schedule a retry")?;
    Ok(())
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
        // Consecutive failed passes (database unreachable): the wait grows with them.
        let mut failures = 0_u32;
        loop {
            let wait = match relay_once(&self.pool, self.bus.as_ref()).await {
                Ok(count) => {
                    if failures > 0 {
                        tracing::info!(failures, "outbox: relay passes succeed again");
                    }
                    failures = 0;
                    if i64::try_from(count).is_ok_and(|count| count >= BATCH_SIZE) {
                        Duration::ZERO
                    } else {
                        self.interval
                    }
                }
                Err(err) => {
                    failures = failures.saturating_add(1);
                    let wait = error_backoff(self.interval, failures);
                    // Warn on the first failure and then about once per maximal wait.
                    if failures == 1 || wait >= MAX_ERROR_BACKOFF {
                        tracing::warn!(
                            error = format!("{err:#}"),
                            failures,
                            retry_in = ?wait,
                            "outbox: relay pass failed"
                        );
                    } else {
                        tracing::debug!(
                            error = format!("{err:#}"),
                            failures,
                            "outbox: relay pass failed"
                        );
                    }
                    wait
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

    #[test]
    fn a_failing_relay_backs_off_from_the_poll_interval_doubling_up_to_five_seconds() {
        let poll = Duration::from_millis(100);
        assert_eq!(error_backoff(poll, 0), poll);
        assert_eq!(error_backoff(poll, 1), poll);
        assert_eq!(error_backoff(poll, 2), Duration::from_millis(200));
        assert_eq!(error_backoff(poll, 3), Duration::from_millis(400));
        assert_eq!(error_backoff(poll, 6), Duration::from_millis(3200));
        assert_eq!(error_backoff(poll, 7), MAX_ERROR_BACKOFF);
        assert_eq!(error_backoff(poll, u32::MAX), MAX_ERROR_BACKOFF);
        // A poll interval above the cap is not shortened.
        assert_eq!(
            error_backoff(Duration::from_secs(10), 3),
            Duration::from_secs(10)
        );
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
        let ended = chrono::Utc::now();
        assert_eq!(
            *bus.refused.lock().unwrap(),
            1,
            "the pass stops at the first failure"
        );
        let (attempts, wait_ms): (i32, f64) = sqlx::query_as(
            "SELECT attempts, EXTRACT(EPOCH FROM next_attempt_at - $2)::float8 * 1000 \
             FROM outbox WHERE event_id = $1",
        )
        .bind(first.event_id.0)
        .bind(ended)
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
            let ended = chrono::Utc::now();
            let (attempts, wait_ms): (i32, f64) = sqlx::query_as(
                "SELECT attempts, EXTRACT(EPOCH FROM next_attempt_at - $1)::float8 * 1000 \
                 FROM outbox",
            )
            .bind(ended)
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

    #[tokio::test]
    #[ignore = "needs PostgreSQL: set TEST_DATABASE_URL or run one on 127.0.0.1:5432, then cargo test -- --ignored"]
    async fn a_row_that_fails_max_attempts_times_is_parked_and_holds_back_its_aggregate_only() {
        let (pool, _) = fresh_database().await;
        let bus = FlakyBus::default();
        let poisoned = OrderId::new();
        let first = confirmed(poisoned);
        let second = confirmed(poisoned);
        let other = confirmed(OrderId::new());
        enqueue_committed(&pool, &[first.clone(), second.clone(), other.clone()]).await;
        // It has already failed all but once.
        sqlx::query("UPDATE outbox SET attempts = $2 WHERE event_id = $1")
            .bind(first.event_id.0)
            .bind(MAX_ATTEMPTS - 1)
            .execute(&pool)
            .await
            .unwrap();
        bus.failing.store(true, Ordering::SeqCst);
        assert_eq!(relay_once(&pool, &bus).await.unwrap(), 0);
        let attempts: i32 = sqlx::query_scalar("SELECT attempts FROM outbox WHERE event_id = $1")
            .bind(first.event_id.0)
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(attempts, MAX_ATTEMPTS);

        // The broker is back and the retry would be due: the parked row is not tried again,
        // its aggregate's later event waits with it, other aggregates flow.
        bus.failing.store(false, Ordering::SeqCst);
        sqlx::query("UPDATE outbox SET next_attempt_at = now() - interval '1 second'")
            .execute(&pool)
            .await
            .unwrap();
        assert_eq!(relay_once(&pool, &bus).await.unwrap(), 1);
        assert_eq!(relay_once(&pool, &bus).await.unwrap(), 0);
        assert_eq!(ids(&bus.taken.lock().unwrap()), ids(&[other]));
        assert_eq!(
            *bus.refused.lock().unwrap(),
            2,
            "the failing pass sent its whole batch: the first event and the other order's"
        );
        assert_eq!(pending(&pool).await, 2);

        // An operator un-parks it: both events of the aggregate go out, in order.
        sqlx::query("UPDATE outbox SET attempts = 0 WHERE event_id = $1")
            .bind(first.event_id.0)
            .execute(&pool)
            .await
            .unwrap();
        assert_eq!(relay_once(&pool, &bus).await.unwrap(), 2);
        assert_eq!(ids(&bus.taken.lock().unwrap()[1..]), ids(&[first, second]));
    }

    /// A bus whose publish never completes (a broker that accepts the connection and hangs).
    struct HangingBus;

    #[async_trait]
    impl EventBus for HangingBus {
        async fn publish(&self, _event: EventEnvelope) -> Result<(), BusError> {
            std::future::pending().await
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
    #[ignore = "needs PostgreSQL: set TEST_DATABASE_URL or run one on 127.0.0.1:5432, then cargo test -- --ignored"]
    async fn a_publish_that_hangs_times_out_and_counts_as_a_failed_attempt() {
        let (pool, _) = fresh_database().await;
        let event = confirmed(OrderId::new());
        enqueue_committed(&pool, std::slice::from_ref(&event)).await;
        let started = std::time::Instant::now();
        let published = tokio::time::timeout(
            PUBLISH_TIMEOUT + Duration::from_secs(5),
            relay_once(&pool, &HangingBus),
        )
        .await
        .expect("the pass ends after the publish timeout")
        .unwrap();
        // Measured from the end of the pass, so a slow machine between the pass and the query
        // below does not shorten the wait it sees.
        let ended = chrono::Utc::now();
        assert_eq!(published, 0);
        assert!(started.elapsed() >= PUBLISH_TIMEOUT);
        let (attempts, wait_ms): (i32, f64) = sqlx::query_as(
            "SELECT attempts, EXTRACT(EPOCH FROM next_attempt_at - $1)::float8 * 1000 \
             FROM outbox WHERE published_at IS NULL",
        )
        .bind(ended)
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(attempts, 1);
        assert!(
            wait_ms > 300.0 && wait_ms <= 500.0,
            "retry in ~500 ms, got {wait_ms}"
        );
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
    async fn after_a_crash_two_relays_publish_each_event_exactly_once_and_each_aggregate_in_order()
    {
        const AGGREGATES: usize = 20;
        const PER_AGGREGATE: usize = 20;
        let (pool, url) = fresh_database().await;
        // The crashed process committed its changes with their events; its relay never ran.
        // The aggregates' events are interleaved, so both relays meet every aggregate.
        let orders: Vec<OrderId> = (0..AGGREGATES).map(|_| OrderId::new()).collect();
        let mut events = Vec::new();
        for _ in 0..PER_AGGREGATE {
            events.extend(orders.iter().map(|order| confirmed(*order)));
        }
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
            relays.push(Relay::spawn(pool, bus, Duration::from_millis(1)));
        }
        let observer = crate::db::Database::new(url).connect().await.unwrap();
        tokio::time::timeout(Duration::from_secs(30), async {
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
        // Per aggregate, the publish order is the enqueue (id) order.
        let aggregate_of: HashMap<EventId, &str> = events
            .iter()
            .map(|event| (event.event_id, event.aggregate_id.as_str()))
            .collect();
        for order in &orders {
            let key = order.to_string();
            let expected: Vec<EventId> = events
                .iter()
                .filter(|event| event.aggregate_id == key)
                .map(|event| event.event_id)
                .collect();
            let published: Vec<EventId> = log
                .iter()
                .map(|(_, event_id)| *event_id)
                .filter(|event_id| aggregate_of[event_id] == key)
                .collect();
            assert_eq!(
                published, expected,
                "aggregate {order} published out of order"
            );
        }
    }
}
