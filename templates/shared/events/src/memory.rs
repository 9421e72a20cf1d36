//! An in-process bus: each consumer group gets its own queue per subscription, handled on
//! keyed lanes ([`Lanes`]): events of one aggregate in publish order, events of different
//! aggregates side by side, as many at once as the model's `concurrency` for the group. Used
//! by tests and the devstack.
//!
//! It remembers the last [`HISTORY`] published events and dead letters (for tests and the
//! devstack's settling), not all of them: a long-running devstack stays small.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{Notify, mpsc};

use crate::bus::{BusError, EventBus, EventHandler};
use crate::envelope::EventEnvelope;
use crate::lanes::Lanes;
use crate::topics;
use crate::trace::{self, TraceContext};

/// How many published events and dead letters the bus remembers (the newest).
pub const HISTORY: usize = 1_000;

/// Events queued per lane before the subscription's queue waits for the handlers.
const LANE_DEPTH: usize = 64;

/// An event a group gave up on, with the last error.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    pub group: String,
    pub event: EventEnvelope,
    pub error: String,
}

struct Subscription {
    topics: Vec<String>,
    queue: mpsc::UnboundedSender<EventEnvelope>,
}

#[derive(Default)]
struct State {
    subscriptions: Vec<Subscription>,
    published: VecDeque<EventEnvelope>,
    published_count: u64,
    dead_letters: VecDeque<DeadLetter>,
    in_flight: usize,
}

/// Appends `item` to `history`, forgetting the oldest beyond [`HISTORY`].
fn remember<T>(history: &mut VecDeque<T>, item: T) {
    if history.len() == HISTORY {
        history.pop_front();
    }
    history.push_back(item);
}

/// The in-memory bus. Cloning shares it.
#[derive(Clone)]
pub struct InMemoryEventBus {
    state: Arc<Mutex<State>>,
    idle: Arc<Notify>,
    max_attempts: u32,
    retry_delay: Duration,
}

impl Default for InMemoryEventBus {
    fn default() -> Self {
        Self::new(5, Duration::from_millis(20))
    }
}

impl InMemoryEventBus {
    /// A bus that tries each delivery `max_attempts` times, `retry_delay` apart.
    #[must_use]
    pub fn new(max_attempts: u32, retry_delay: Duration) -> Self {
        Self {
            state: Arc::default(),
            idle: Arc::new(Notify::new()),
            max_attempts: max_attempts.max(1),
            retry_delay,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panicking handler must not wedge the bus for everyone else.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The envelopes published so far, in order: the last [`HISTORY`] of them.
    #[must_use]
    pub fn published(&self) -> Vec<EventEnvelope> {
        self.lock().published.iter().cloned().collect()
    }

    /// How many envelopes were published so far, all of them counted.
    #[must_use]
    pub fn published_count(&self) -> u64 {
        self.lock().published_count
    }

    /// Events that exhausted their attempts: the last [`HISTORY`] of them.
    #[must_use]
    pub fn dead_letters(&self) -> Vec<DeadLetter> {
        self.lock().dead_letters.iter().cloned().collect()
    }

    /// Waits until every published event has been handled (or dead-lettered) by every group,
    /// including events published by handlers along the way.
    pub async fn settled(&self) {
        loop {
            let notified = self.idle.notified();
            if self.lock().in_flight == 0 {
                return;
            }
            notified.await;
        }
    }

    fn finish_one(&self) {
        let mut state = self.lock();
        state.in_flight -= 1;
        if state.in_flight == 0 {
            self.idle.notify_waiters();
        }
    }

    /// Runs `handler` on `event` within the bus's attempts; dead-letters it after the last.
    async fn deliver(&self, group: &str, handler: &dyn EventHandler, event: &EventEnvelope) {
        let mut attempt = 1;
        loop {
            let context = event.trace_context().unwrap_or_else(TraceContext::new_root);
            match trace::scope(context, handler.handle(event)).await {
                Ok(()) => return,
                Err(err) if attempt < self.max_attempts => {
                    tracing::warn!(%group, event_id = %event.event_id, attempt, error = %err, "handler failed; retrying");
                    attempt += 1;
                    tokio::time::sleep(self.retry_delay * attempt).await;
                }
                Err(err) => {
                    tracing::error!(%group, event_id = %event.event_id, dlq = %topics::dead_letter(event.topic()), error = %err, "handler failed; dead-lettered");
                    let dead = DeadLetter {
                        group: group.to_owned(),
                        event: event.clone(),
                        error: err.to_string(),
                    };
                    remember(&mut self.lock().dead_letters, dead);
                    return;
                }
            }
        }
    }
}

#[async_trait]
impl EventBus for InMemoryEventBus {
    async fn publish(&self, event: EventEnvelope) -> Result<(), BusError> {
        let mut state = self.lock();
        let mut delivered = 0;
        for sub in &state.subscriptions {
            if sub.topics.iter().any(|t| t == event.topic())
                && sub.queue.send(event.clone()).is_ok()
            {
                delivered += 1;
            }
        }
        state.in_flight += delivered;
        state.published_count += 1;
        remember(&mut state.published, event);
        Ok(())
    }

    async fn subscribe(
        &self,
        group: &str,
        topics: &[&str],
        handler: Arc<dyn EventHandler>,
    ) -> Result<(), BusError> {
        let (queue, mut receiver) = mpsc::unbounded_channel::<EventEnvelope>();
        self.lock().subscriptions.push(Subscription {
            topics: topics.iter().map(|t| (*t).to_owned()).collect(),
            queue,
        });
        let bus = self.clone();
        let group: Arc<str> = group.into();
        let lanes = Lanes::spawn(
            topics::concurrency(topics, &group),
            LANE_DEPTH,
            move |event: EventEnvelope| {
                let (bus, group, handler) = (bus.clone(), group.clone(), handler.clone());
                async move {
                    bus.deliver(&group, handler.as_ref(), &event).await;
                    bus.finish_one();
                }
            },
        );
        let bus = self.clone();
        tokio::spawn(async move {
            while let Some(event) = receiver.recv().await {
                let key = event.aggregate_id.clone();
                if lanes.dispatch(key.as_bytes(), event).await.is_err() {
                    // The lane's handler panicked: the event is lost to this group.
                    bus.finish_one();
                }
            }
            lanes.close().await;
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;
    use crate::bus::HandlerError;
    use crate::types::InventoryReleased;
    use shared_types::OrderId;

    struct Counting(AtomicU32, u32);

    #[async_trait]
    impl EventHandler for Counting {
        async fn handle(&self, _: &EventEnvelope) -> Result<(), HandlerError> {
            let seen = self.0.fetch_add(1, Ordering::SeqCst) + 1;
            if seen <= self.1 {
                Err(HandlerError::new("not yet"))
            } else {
                Ok(())
            }
        }
    }

    fn released() -> EventEnvelope {
        EventEnvelope::wrap(&InventoryReleased {
            order_id: OrderId::new(),
        })
    }

    #[tokio::test]
    async fn each_group_gets_each_event_once() {
        let bus = InMemoryEventBus::default();
        let a = Arc::new(Counting(AtomicU32::new(0), 0));
        let b = Arc::new(Counting(AtomicU32::new(0), 0));
        bus.subscribe("a", &[topics::INVENTORY_RELEASED], a.clone())
            .await
            .unwrap();
        bus.subscribe(
            "b",
            &[topics::INVENTORY_RELEASED, topics::ORDER_CREATED],
            b.clone(),
        )
        .await
        .unwrap();
        bus.publish(released()).await.unwrap();
        bus.publish(released()).await.unwrap();
        bus.settled().await;
        assert_eq!(a.0.load(Ordering::SeqCst), 2);
        assert_eq!(b.0.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_failing_handler_is_retried_then_dead_lettered() {
        let bus = InMemoryEventBus::new(3, Duration::from_millis(1));
        let flaky = Arc::new(Counting(AtomicU32::new(0), 2));
        let broken = Arc::new(Counting(AtomicU32::new(0), u32::MAX));
        bus.subscribe("flaky", &[topics::INVENTORY_RELEASED], flaky.clone())
            .await
            .unwrap();
        bus.subscribe("broken", &[topics::INVENTORY_RELEASED], broken.clone())
            .await
            .unwrap();
        bus.publish(released()).await.unwrap();
        bus.settled().await;
        assert_eq!(
            flaky.0.load(Ordering::SeqCst),
            3,
            "succeeds on the third attempt"
        );
        assert_eq!(broken.0.load(Ordering::SeqCst), 3, "gives up after three");
        let dead = bus.dead_letters();
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0].group, "broken");
    }

    /// Records the order events arrive per aggregate and the most handled at once.
    #[derive(Default)]
    struct Overlap {
        running: AtomicU32,
        most: AtomicU32,
        seen: std::sync::Mutex<Vec<EventEnvelope>>,
    }

    #[async_trait]
    impl EventHandler for Overlap {
        async fn handle(&self, event: &EventEnvelope) -> Result<(), HandlerError> {
            let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.most.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(5)).await;
            self.seen.lock().unwrap().push(event.clone());
            self.running.fetch_sub(1, Ordering::SeqCst);
            Ok(())
        }
    }

    #[tokio::test]
    async fn aggregates_are_handled_side_by_side_and_each_in_publish_order() {
        let bus = InMemoryEventBus::default();
        let handler = Arc::new(Overlap::default());
        bus.subscribe("g", &[topics::ORDER_CANCELLED], handler.clone())
            .await
            .unwrap();
        let orders: Vec<OrderId> = (0..20).map(|_| OrderId::new()).collect();
        let mut published = Vec::new();
        for round in 0..3 {
            for order in &orders {
                let event = EventEnvelope::wrap(&crate::types::OrderCancelled {
                    order_id: *order,
                    user_id: shared_types::UserId::new(),
                    reason: format!("round {round}"),
                });
                bus.publish(event.clone()).await.unwrap();
                published.push(event);
            }
        }
        bus.settled().await;
        let seen = handler.seen.lock().unwrap().clone();
        assert_eq!(seen.len(), published.len());
        for order in &orders {
            let of = |events: &[EventEnvelope]| -> Vec<_> {
                events
                    .iter()
                    .filter(|e| e.aggregate_id == order.to_string())
                    .map(|e| e.event_id)
                    .collect()
            };
            assert_eq!(of(&seen), of(&published), "order {order} kept its order");
        }
        assert!(
            handler.most.load(Ordering::SeqCst) > 1,
            "different orders were handled at once"
        );
    }

    #[tokio::test]
    async fn the_bus_remembers_the_newest_events_and_counts_them_all() {
        let bus = InMemoryEventBus::default();
        let events: Vec<_> = (0..HISTORY + 5).map(|_| released()).collect();
        for event in &events {
            bus.publish(event.clone()).await.unwrap();
        }
        assert_eq!(bus.published_count(), u64::try_from(HISTORY + 5).unwrap());
        assert_eq!(bus.published(), events[5..].to_vec());
    }

    #[test]
    fn an_envelope_decodes_only_as_its_own_type() {
        let envelope = released();
        assert!(envelope.decode::<InventoryReleased>().is_ok());
        assert!(envelope.decode::<crate::types::OrderCreated>().is_err());
    }
}
