//! The Kafka bus against a real broker. Ignored by default; run with
//! `TEST_KAFKA_BROKERS=127.0.0.1:9092 cargo test -p shared-events --test kafka -- --ignored`.
//! Without `TEST_KAFKA_BROKERS`, or with a broker that does not answer, every test fails: a run
//! that was meant to check Kafka must not pass without it.
//!
//! The broker keeps its data for the whole run, so every test works on topics and consumer
//! groups of its own (a random prefix).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use krafka::consumer::{AutoOffsetReset, ConsumerRecord};
use krafka::{Kafka, Record};
use shared_events::kafka::{
    HEADER_DLQ_ATTEMPTS, HEADER_DLQ_ERROR, HEADER_DLQ_GROUP, HEADER_EVENT_ID, HEADER_EVENT_TYPE,
    HEADER_TRACEPARENT,
};
use shared_events::topics::{self, Delivery};
use shared_events::trace::{self, TraceContext};
use shared_events::{
    EventBus, EventEnvelope, EventHandler, HandlerError, KafkaConfig, KafkaEventBus,
};
use shared_types::EventId;
use tokio::sync::mpsc;

const NEEDS_KAFKA: &str = "needs Kafka: set TEST_KAFKA_BROKERS (e.g. 127.0.0.1:9092)";

/// How long a test waits for something the broker should do within a second or two.
const PATIENCE: Duration = Duration::from_secs(45);

/// Retries quickly, so the dead-letter test does not wait for the model's backoff.
const FAST: Delivery = Delivery {
    attempts: 3,
    backoff_ms: 20,
    handler_timeout_ms: 5_000,
    concurrency: 8,
};

fn brokers() -> String {
    match std::env::var("TEST_KAFKA_BROKERS") {
        Ok(brokers) if !brokers.trim().is_empty() => brokers.trim().to_owned(),
        _ => panic!("{NEEDS_KAFKA}: these tests fail rather than pass without a broker"),
    }
}

/// A name no other test (or earlier run) uses.
fn unique(name: &str) -> String {
    format!(
        "t{}-{name}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

async fn connect(client_id: &str) -> KafkaEventBus {
    let brokers = brokers();
    let mut config = KafkaConfig::new(&brokers, client_id);
    config.delivery = Some(FAST);
    KafkaEventBus::connect(config)
        .await
        .unwrap_or_else(|err| panic!("{NEEDS_KAFKA}: cannot reach {brokers}: {err}"))
}

/// A bus with `topics` (and their DLQs) created on the broker.
async fn bus_with_topics(topics: &[&str]) -> KafkaEventBus {
    let bus = connect("shared-events-test").await;
    let created = bus.create_topics(topics).await.expect("CreateTopics");
    assert_eq!(created.len(), topics.len() * 2, "{created:?}");
    // Creating them again is fine and creates nothing.
    assert!(bus.create_topics(topics).await.unwrap().is_empty());
    bus
}

fn envelope(topic: &str, aggregate: &str, data: serde_json::Value) -> EventEnvelope {
    EventEnvelope {
        event_id: EventId::new(),
        event_type: topic.to_owned(),
        timestamp: Utc::now(),
        version: 1,
        aggregate_id: aggregate.to_owned(),
        data,
        traceparent: Some(TraceContext::new_root().to_string()),
    }
}

/// What a handler saw: each event with the trace context it ran in and the one an event it
/// published would get.
#[derive(Default)]
struct Seen {
    events: Mutex<Vec<(EventEnvelope, Option<TraceContext>, TraceContext)>>,
}

impl Seen {
    fn events(&self) -> Vec<EventEnvelope> {
        self.lock()
            .iter()
            .map(|(event, _, _)| event.clone())
            .collect()
    }

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, Vec<(EventEnvelope, Option<TraceContext>, TraceContext)>> {
        self.events.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn len(&self) -> usize {
        self.lock().len()
    }
}

#[async_trait]
impl EventHandler for Seen {
    async fn handle(&self, event: &EventEnvelope) -> Result<(), HandlerError> {
        let next = trace::for_new_event();
        self.lock().push((event.clone(), trace::current(), next));
        Ok(())
    }
}

/// Fails every time, counting the calls.
#[derive(Default)]
struct Broken {
    calls: Mutex<Vec<EventId>>,
}

#[async_trait]
impl EventHandler for Broken {
    async fn handle(&self, event: &EventEnvelope) -> Result<(), HandlerError> {
        self.calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(event.event_id);
        Err(HandlerError::new("the warehouse is on fire"))
    }
}

/// Announces each event it starts and never finishes it: a consumer that hangs, then dies.
struct Hangs(mpsc::UnboundedSender<EventId>);

#[async_trait]
impl EventHandler for Hangs {
    async fn handle(&self, event: &EventEnvelope) -> Result<(), HandlerError> {
        let _ = self.0.send(event.event_id);
        std::future::pending().await
    }
}

/// Waits until `done` holds, failing the test with `what` after [`PATIENCE`].
async fn eventually(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !done().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {PATIENCE:?} waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every record of `topic` from the beginning until `count` arrived, read by a fresh group.
async fn read_raw(topic: &str, count: usize) -> Vec<ConsumerRecord> {
    let kafka = Kafka::builder(brokers())
        .client_id("shared-events-test-reader")
        .connect()
        .await
        .expect("connect the reader");
    let consumer = kafka
        .consumer(unique("reader"))
        .auto_offset_reset(AutoOffsetReset::Earliest)
        .enable_auto_commit(false)
        .build()
        .await
        .expect("build the reader");
    consumer
        .subscribe([topic])
        .await
        .expect("subscribe the reader");
    let mut records = Vec::new();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while records.len() < count {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out reading {count} records of {topic}; got {}",
            records.len()
        );
        records.extend(
            consumer
                .poll(Duration::from_millis(500))
                .await
                .expect("poll the reader"),
        );
    }
    let _ = consumer.close().await;
    records
}

#[tokio::test]
#[ignore = "needs Kafka: set TEST_KAFKA_BROKERS (e.g. 127.0.0.1:9092)"]
async fn a_running_broker_answers_a_ping() {
    let bus = connect("shared-events-ping").await;
    bus.ping(Duration::from_secs(2)).await.unwrap();
    bus.close().await;
}

#[tokio::test]
#[ignore = "needs Kafka: set TEST_KAFKA_BROKERS (e.g. 127.0.0.1:9092)"]
async fn an_event_arrives_keyed_with_its_headers_and_its_trace_continues() {
    let topic = unique("round-trip");
    let bus = bus_with_topics(&[&topic]).await;
    let seen = Arc::new(Seen::default());
    bus.subscribe(&unique("group"), &[&topic], seen.clone())
        .await
        .unwrap();
    let event = envelope(&topic, "order-1", serde_json::json!({"total": 42}));
    bus.publish(event.clone()).await.unwrap();

    eventually("the event is handled", async || seen.len() == 1).await;
    let (handled, context, next) = seen.lock()[0].clone();
    assert_eq!(handled, event);
    let published = event.trace_context().unwrap();
    assert_eq!(
        context,
        Some(published),
        "the handler runs in the event's trace"
    );
    assert_eq!(
        next.trace_id, published.trace_id,
        "what it publishes continues it"
    );
    assert_ne!(next.span_id, published.span_id);

    let raw = read_raw(&topic, 1).await;
    assert_eq!(raw[0].key_str(), Some("order-1"));
    assert_eq!(raw[0].header_str(HEADER_EVENT_TYPE), Some(topic.as_str()));
    let event_id = event.event_id.0.to_string();
    assert_eq!(raw[0].header_str(HEADER_EVENT_ID), Some(event_id.as_str()));
    assert_eq!(
        raw[0].header_str(HEADER_TRACEPARENT),
        event.traceparent.as_deref()
    );
    bus.close().await;
}

#[tokio::test]
#[ignore = "needs Kafka: set TEST_KAFKA_BROKERS (e.g. 127.0.0.1:9092)"]
async fn each_group_gets_every_event_and_members_of_a_group_share_them() {
    let topic = unique("groups");
    let setup = bus_with_topics(&[&topic]).await;
    let (shared_group, other_group) = (unique("shared"), unique("other"));
    let (first, second, other) = (
        connect("member-1").await,
        connect("member-2").await,
        connect("other").await,
    );
    let (seen_first, seen_second, seen_other) = (
        Arc::new(Seen::default()),
        Arc::new(Seen::default()),
        Arc::new(Seen::default()),
    );
    first
        .subscribe(&shared_group, &[&topic], seen_first.clone())
        .await
        .unwrap();
    second
        .subscribe(&shared_group, &[&topic], seen_second.clone())
        .await
        .unwrap();
    other
        .subscribe(&other_group, &[&topic], seen_other.clone())
        .await
        .unwrap();
    let partitions = usize::try_from(shared_events::kafka::TOPIC_PARTITIONS).unwrap();
    eventually("both members hold partitions", async || {
        let (a, b) = (
            first.assigned_partitions().await,
            second.assigned_partitions().await,
        );
        a > 0 && b > 0 && a + b == partitions
    })
    .await;

    let events: Vec<EventEnvelope> = (0..30)
        .map(|n| envelope(&topic, &format!("order-{n}"), serde_json::json!({"n": n})))
        .collect();
    for event in &events {
        setup.publish(event.clone()).await.unwrap();
    }
    let all: HashSet<EventId> = events.iter().map(|event| event.event_id).collect();
    eventually("the other group has every event", async || {
        seen_other.len() >= all.len()
    })
    .await;
    eventually("the shared group has every event", async || {
        seen_first.len() + seen_second.len() >= all.len()
    })
    .await;
    // Give a double delivery the time to show up.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let other_ids: Vec<EventId> = seen_other.events().iter().map(|e| e.event_id).collect();
    assert_eq!(other_ids.len(), all.len(), "each event once");
    assert_eq!(other_ids.into_iter().collect::<HashSet<_>>(), all);
    let shared_ids: Vec<EventId> = seen_first
        .events()
        .iter()
        .chain(seen_second.events().iter())
        .map(|e| e.event_id)
        .collect();
    assert_eq!(
        shared_ids.len(),
        all.len(),
        "no event handled by both members"
    );
    assert_eq!(shared_ids.into_iter().collect::<HashSet<_>>(), all);
    assert!(
        seen_first.len() > 0 && seen_second.len() > 0,
        "both members worked"
    );
    for bus in [first, second, other, setup] {
        bus.close().await;
    }
}

#[tokio::test]
#[ignore = "needs Kafka: set TEST_KAFKA_BROKERS (e.g. 127.0.0.1:9092)"]
async fn events_of_one_aggregate_are_handled_in_publish_order() {
    let topic = unique("order");
    let bus = bus_with_topics(&[&topic]).await;
    let seen = Arc::new(Seen::default());
    bus.subscribe(&unique("group"), &[&topic], seen.clone())
        .await
        .unwrap();
    let aggregates = ["order-a", "order-b", "order-c", "order-d"];
    for n in 0..40 {
        let aggregate = aggregates[n % aggregates.len()];
        bus.publish(envelope(&topic, aggregate, serde_json::json!({"n": n})))
            .await
            .unwrap();
    }
    eventually("every event is handled", async || seen.len() >= 40).await;
    let mut per_aggregate: HashMap<String, Vec<u64>> = HashMap::new();
    for event in seen.events() {
        per_aggregate
            .entry(event.aggregate_id.clone())
            .or_default()
            .push(event.data["n"].as_u64().unwrap());
    }
    assert_eq!(per_aggregate.len(), aggregates.len());
    for (aggregate, sequence) in per_aggregate {
        let mut sorted = sequence.clone();
        sorted.sort_unstable();
        assert_eq!(sequence, sorted, "events of {aggregate} out of order");
        assert_eq!(sequence.len(), 10, "{aggregate}");
    }
    bus.close().await;
}

/// Holds each event until `needed` events are being handled at once (or a few seconds pass),
/// recording the most it saw together: whether different aggregates run side by side.
struct Gathers {
    running: AtomicUsize,
    most: AtomicUsize,
    needed: usize,
    seen: Seen,
}

#[async_trait]
impl EventHandler for Gathers {
    async fn handle(&self, event: &EventEnvelope) -> Result<(), HandlerError> {
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while self.most.load(Ordering::SeqCst) < self.needed
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        self.seen.handle(event).await?;
        self.running.fetch_sub(1, Ordering::SeqCst);
        Ok(())
    }
}

#[tokio::test]
#[ignore = "needs Kafka: set TEST_KAFKA_BROKERS (e.g. 127.0.0.1:9092)"]
async fn a_batch_is_published_in_order_and_different_aggregates_are_handled_side_by_side() {
    let topic = unique("batch");
    let bus = bus_with_topics(&[&topic]).await;
    let handler = Arc::new(Gathers {
        running: AtomicUsize::new(0),
        most: AtomicUsize::new(0),
        needed: 4,
        seen: Seen::default(),
    });
    bus.subscribe(&unique("group"), &[&topic], handler.clone())
        .await
        .unwrap();
    // Two events for each of 32 orders, in one batch: the second of an order must not
    // overtake the first, on the broker or in the consumer.
    let batch: Vec<EventEnvelope> = (0..64)
        .map(|n| {
            envelope(
                &topic,
                &format!("order-{}", n % 32),
                serde_json::json!({"n": n}),
            )
        })
        .collect();
    let outcomes = bus.publish_batch(batch.clone()).await;
    assert_eq!(outcomes.len(), 64);
    assert!(outcomes.iter().all(Result::is_ok), "{outcomes:?}");
    eventually("every event is handled", async || handler.seen.len() >= 64).await;
    let seen = handler.seen.events();
    for order in 0..32 {
        let of = |events: &[EventEnvelope]| -> Vec<EventId> {
            events
                .iter()
                .filter(|event| event.aggregate_id == format!("order-{order}"))
                .map(|event| event.event_id)
                .collect()
        };
        assert_eq!(of(&seen), of(&batch), "order-{order} kept its order");
    }
    assert!(
        handler.most.load(Ordering::SeqCst) >= 4,
        "at most {} events were handled at once",
        handler.most.load(Ordering::SeqCst)
    );
    bus.close().await;
}

#[tokio::test]
#[ignore = "needs Kafka: set TEST_KAFKA_BROKERS (e.g. 127.0.0.1:9092)"]
async fn every_event_of_many_batches_over_several_topics_is_handled() {
    // One member catching up on twelve partitions written in batches: the shape of a saga
    // consumer behind a burst, in which tansu's fetches were seen to skip whole batches.
    let names: Vec<String> = (0..4).map(|n| unique(&format!("many{n}"))).collect();
    let topics: Vec<&str> = names.iter().map(String::as_str).collect();
    let bus = bus_with_topics(&topics).await;
    let mut published = HashSet::new();
    for round in 0..30 {
        let batch: Vec<EventEnvelope> = (0..60)
            .map(|n| {
                let topic = topics[(n + round) % 2 + 2 * (n % 2)];
                envelope(
                    topic,
                    &format!("order-{}", n * 7 + round),
                    serde_json::json!({"n": n}),
                )
            })
            .collect();
        published.extend(batch.iter().map(|event| event.event_id));
        let outcomes = bus.publish_batch(batch).await;
        assert!(outcomes.iter().all(Result::is_ok), "{outcomes:?}");
    }
    let seen = Arc::new(Seen::default());
    bus.subscribe(&unique("group"), &topics, seen.clone())
        .await
        .unwrap();
    let handled = async || {
        seen.events()
            .iter()
            .map(|event| event.event_id)
            .collect::<HashSet<_>>()
    };
    eventually("every published event is handled", async || {
        handled().await.is_superset(&published)
    })
    .await;
    bus.close().await;
}

#[tokio::test]
#[ignore = "needs Kafka: set TEST_KAFKA_BROKERS (e.g. 127.0.0.1:9092)"]
async fn a_failing_event_is_dead_lettered_after_its_attempts_and_not_redelivered() {
    let topic = unique("failing");
    let group = unique("group");
    let setup = bus_with_topics(&[&topic]).await;
    let member = connect("failing-member").await;
    let broken = Arc::new(Broken::default());
    member
        .subscribe(&group, &[&topic], broken.clone())
        .await
        .unwrap();
    let poison = envelope(&topic, "order-1", serde_json::json!({"n": 1}));
    setup.publish(poison.clone()).await.unwrap();

    let dead = read_raw(&topics::dead_letter(&topic), 1).await;
    assert_eq!(dead[0].header_str(HEADER_DLQ_GROUP), Some(group.as_str()));
    assert_eq!(
        dead[0].header_str(HEADER_DLQ_ERROR),
        Some("the warehouse is on fire")
    );
    assert_eq!(dead[0].header_str(HEADER_DLQ_ATTEMPTS), Some("3"));
    assert_eq!(dead[0].key_str(), Some("order-1"));
    assert_eq!(
        dead[0].header_str(HEADER_TRACEPARENT),
        poison.traceparent.as_deref()
    );
    let parked: EventEnvelope = serde_json::from_slice(dead[0].value.as_ref().unwrap()).unwrap();
    assert_eq!(parked, poison);
    let calls = broken.calls.lock().unwrap().clone();
    assert_eq!(
        calls,
        vec![poison.event_id; 3],
        "three attempts, then the DLQ"
    );
    member.close().await;

    // A restarted member of the group continues after the dead-lettered event.
    let restarted = connect("failing-member").await;
    let seen = Arc::new(Seen::default());
    restarted
        .subscribe(&group, &[&topic], seen.clone())
        .await
        .unwrap();
    let marker = envelope(&topic, "order-1", serde_json::json!({"n": 2}));
    setup.publish(marker.clone()).await.unwrap();
    eventually("the next event is handled", async || seen.len() >= 1).await;
    assert_eq!(
        seen.events(),
        vec![marker],
        "the dead-lettered event is not redelivered"
    );
    assert_eq!(broken.calls.lock().unwrap().len(), 3);
    restarted.close().await;
    setup.close().await;
}

#[tokio::test]
#[ignore = "needs Kafka: set TEST_KAFKA_BROKERS (e.g. 127.0.0.1:9092)"]
async fn a_storm_of_failing_events_is_retried_within_the_budget_and_every_one_is_dead_lettered() {
    let topic = unique("storm");
    let group = unique("group");
    let setup = bus_with_topics(&[&topic]).await;
    let member = connect("storm-member").await;
    let broken = Arc::new(Broken::default());
    member
        .subscribe(&group, &[&topic], broken.clone())
        .await
        .unwrap();
    let events = 150;
    let started = tokio::time::Instant::now();
    let published = setup
        .publish_batch(
            (0..events)
                .map(|i| envelope(&topic, &format!("order-{i}"), serde_json::json!({ "n": i })))
                .collect(),
        )
        .await;
    assert!(published.iter().all(Result::is_ok), "{published:?}");
    let calls = || broken.calls.lock().unwrap().len();
    eventually("every event had its first attempt", async || {
        calls() >= events
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    // Unbounded, 3 attempts each: 450 calls at once. Within one 10 s window the budget allows
    // 20% of the 150 first attempts and a floor of 10 a second: 30 + 100 retries.
    if started.elapsed() < Duration::from_secs(9) {
        let budget = topics::RETRY_BUDGET;
        let most = events
            + events * usize::try_from(budget.percent).unwrap() / 100
            + usize::try_from(budget.min_per_second).unwrap() * 10;
        assert!(calls() <= most, "{} calls, at most {most}", calls());
    }
    // Retries past the budget wait rather than being dropped: every event still gets its
    // attempts and reaches the dead-letter topic.
    let dead = read_raw(&topics::dead_letter(&topic), events).await;
    assert_eq!(dead.len(), events);
    assert_eq!(calls(), events * 3);
    member.close().await;
    setup.close().await;
}

#[tokio::test]
#[ignore = "needs Kafka: set TEST_KAFKA_BROKERS (e.g. 127.0.0.1:9092)"]
async fn a_dead_letter_is_listed_for_its_group_and_replayed_to_the_fixed_consumer() {
    let topic = unique("replayed");
    let (group, other_group) = (unique("group"), unique("other"));
    let setup = bus_with_topics(&[&topic]).await;
    let member = connect("replay-member").await;
    let broken = Arc::new(Broken::default());
    member
        .subscribe(&group, &[&topic], broken.clone())
        .await
        .unwrap();
    let other = Arc::new(Seen::default());
    setup
        .subscribe(&other_group, &[&topic], other.clone())
        .await
        .unwrap();
    let poison = envelope(&topic, "order-7", serde_json::json!({"n": 7}));
    setup.publish(poison.clone()).await.unwrap();
    read_raw(&topics::dead_letter(&topic), 1).await;
    member.close().await;

    let parked = setup.dead_letters(&group, &[&topic]).await.unwrap();
    assert_eq!(parked.len(), 1, "{parked:?}");
    let event_id = poison.event_id.0.to_string();
    assert_eq!(parked[0].event_id.as_deref(), Some(event_id.as_str()));
    assert_eq!(parked[0].event_type.as_deref(), Some(topic.as_str()));
    assert_eq!(parked[0].topic, topic);
    assert_eq!(parked[0].error, "the warehouse is on fire");
    assert_eq!(parked[0].attempts, Some(3));
    assert!(
        setup
            .dead_letters(&other_group, &[&topic])
            .await
            .unwrap()
            .is_empty(),
        "the other group handled it: nothing of its own is parked"
    );

    // The cause is fixed; the group's member runs again and the event is delivered again.
    let fixed = connect("replay-member").await;
    let seen = Arc::new(Seen::default());
    fixed
        .subscribe(&group, &[&topic], seen.clone())
        .await
        .unwrap();
    setup.replay(&parked).await.unwrap();
    eventually("the replayed event is handled", async || seen.len() >= 1).await;
    let handled = seen.lock()[0].clone();
    assert_eq!(handled.0, poison, "the same event: id, aggregate, data");
    assert_eq!(
        handled.1.map(|context| context.trace_id_hex()),
        poison.trace_context().map(|context| context.trace_id_hex()),
        "in the trace it started in"
    );
    eventually("the other group sees it again", async || other.len() >= 2).await;
    assert!(
        other
            .events()
            .iter()
            .all(|event| event.event_id == poison.event_id),
        "a replay reaches every group of the topic; consumers de-duplicate by event id"
    );
    assert_eq!(
        setup.dead_letters(&group, &[&topic]).await.unwrap().len(),
        1,
        "listing is stateless: the dead letter stays until the topic's retention drops it"
    );
    assert_eq!(
        broken.calls.lock().unwrap().len(),
        3,
        "the broken member is gone"
    );
    fixed.close().await;
    setup.close().await;
}

#[tokio::test]
#[ignore = "needs Kafka: set TEST_KAFKA_BROKERS (e.g. 127.0.0.1:9092)"]
async fn a_malformed_record_goes_straight_to_the_dead_letter_topic() {
    let topic = unique("malformed");
    let group = unique("group");
    let bus = bus_with_topics(&[&topic]).await;
    let broken = Arc::new(Broken::default());
    bus.subscribe(&group, &[&topic], broken.clone())
        .await
        .unwrap();
    let kafka = Kafka::builder(brokers()).connect().await.unwrap();
    let producer = kafka.producer().build().await.unwrap();
    let sent = producer
        .send(Record::new(topic.as_str(), "{not an envelope").key("k"))
        .await
        .unwrap();
    assert!(sent.is_persisted());
    let _ = producer.close().await;

    let dead = read_raw(&topics::dead_letter(&topic), 1).await;
    assert_eq!(dead[0].value_str(), Some("{not an envelope"));
    assert_eq!(dead[0].header_str(HEADER_DLQ_ATTEMPTS), Some("0"));
    assert!(
        dead[0]
            .header_str(HEADER_DLQ_ERROR)
            .is_some_and(|error| error.starts_with("malformed event")),
        "{:?}",
        dead[0].header_str(HEADER_DLQ_ERROR)
    );
    assert!(broken.calls.lock().unwrap().is_empty(), "no handler call");
    bus.close().await;
}

#[tokio::test]
#[ignore = "needs Kafka: set TEST_KAFKA_BROKERS (e.g. 127.0.0.1:9092)"]
async fn an_event_whose_consumer_dies_before_committing_is_delivered_again() {
    let topic = unique("redelivery");
    let group = unique("group");
    let setup = bus_with_topics(&[&topic]).await;
    let dying = connect("dying-member").await;
    let (started, mut starts) = mpsc::unbounded_channel();
    dying
        .subscribe(&group, &[&topic], Arc::new(Hangs(started)))
        .await
        .unwrap();
    let event = envelope(&topic, "order-1", serde_json::json!({"n": 1}));
    setup.publish(event.clone()).await.unwrap();
    let first = tokio::time::timeout(PATIENCE, starts.recv())
        .await
        .expect("the first member starts handling")
        .unwrap();
    assert_eq!(first, event.event_id);
    // Stops mid-handler: the offset is not committed.
    dying.close().await;

    let successor = connect("successor").await;
    let seen = Arc::new(Seen::default());
    successor
        .subscribe(&group, &[&topic], seen.clone())
        .await
        .unwrap();
    eventually("the event is delivered again", async || seen.len() >= 1).await;
    assert_eq!(seen.events(), vec![event]);
    successor.close().await;
    setup.close().await;
}
