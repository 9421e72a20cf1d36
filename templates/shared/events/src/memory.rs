//! An in-process bus: each consumer group gets its own queue per subscription, drained by one
//! task, so events of a group are handled in publish order. Used by tests and the devstack.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{Notify, mpsc};

use crate::bus::{BusError, EventBus, EventHandler};
use crate::envelope::EventEnvelope;
use crate::topics;
use crate::trace::{self, TraceContext};

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
    published: Vec<EventEnvelope>,
    dead_letters: Vec<DeadLetter>,
    in_flight: usize,
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

    /// Every envelope published so far, in order.
    #[must_use]
    pub fn published(&self) -> Vec<EventEnvelope> {
        self.lock().published.clone()
    }

    /// Events that exhausted their attempts.
    #[must_use]
    pub fn dead_letters(&self) -> Vec<DeadLetter> {
        self.lock().dead_letters.clone()
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
}

#[async_trait]
impl EventBus for InMemoryEventBus {
    async fn publish(&self, event: EventEnvelope) -> Result<(), BusError> {
        let mut state = self.lock();
        state.published.push(event.clone());
        let mut delivered = 0;
        for sub in &state.subscriptions {
            if sub.topics.iter().any(|t| t == event.topic())
                && sub.queue.send(event.clone()).is_ok()
            {
                delivered += 1;
            }
        }
        state.in_flight += delivered;
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
        let group = group.to_owned();
        tokio::spawn(async move {
            while let Some(event) = receiver.recv().await {
                let mut attempt = 1;
                loop {
                    let context = event.trace_context().unwrap_or_else(TraceContext::new_root);
                    match trace::scope(context, handler.handle(&event)).await {
                        Ok(()) => break,
                        Err(err) if attempt < bus.max_attempts => {
                            tracing::warn!(%group, event_id = %event.event_id, attempt, error = %err, "handler failed; retrying");
                            attempt += 1;
                            tokio::time::sleep(bus.retry_delay * attempt).await;
                        }
                        Err(err) => {
                            tracing::error!(%group, event_id = %event.event_id, dlq = %topics::dead_letter(event.topic()), error = %err, "handler failed; dead-lettered");
                            bus.lock().dead_letters.push(DeadLetter {
                                group: group.clone(),
                                event: event.clone(),
                                error: err.to_string(),
                            });
                            break;
                        }
                    }
                }
                bus.finish_one();
            }
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

    #[test]
    fn an_envelope_decodes_only_as_its_own_type() {
        let envelope = released();
        assert!(envelope.decode::<InventoryReleased>().is_ok());
        assert!(envelope.decode::<crate::types::OrderCreated>().is_err());
    }
}
