//! The Kafka bus, on the pure-Rust client `krafka`.
//!
//! Publishing: one record per envelope on the envelope's topic, keyed by its aggregate id (so
//! the events of one order share a partition and keep their order), the envelope's JSON as
//! value, and headers naming the event type, the event id and the W3C `traceparent`. `publish`
//! returns only once the broker acknowledged the record (acks = all, idempotent producer): the
//! outbox relay marks a row published after that. [`EventBus::publish_batch`] queues a whole
//! batch before waiting for any acknowledgement, so a relay pass costs one round trip, not one
//! per row; records leave in the order they were queued.
//!
//! Consuming: each `subscribe` is one member of Kafka consumer group `group`, run as a parallel
//! consumer: records are handed to keyed lanes ([`Lanes`]) so records of one key (aggregate)
//! are handled one after another in offset order while different keys run side by side, up to
//! the model's `concurrency` for the group, with a bounded number in flight. Each record runs
//! in its trace context; a failure is retried with the model's backoff (`topics::delivery`),
//! and after the last attempt the record is written to `<topic>.dlq` with headers naming the
//! group, the error and the attempts. Malformed records go straight there. Offsets are
//! committed after each poll for the contiguous prefix of finished records per partition
//! ([`Progress`]) — handled or dead-lettered — so a member that dies leaves every unfinished
//! record to be delivered again (at least once; the consumers' inboxes make that harmless).
//!
//! The producer and every member have a client (connections) of their own: a broker reads one
//! request per connection at a time, and a shared connection made every publish wait behind
//! the members' long-polling fetches. The client's settings are chosen, not inherited;
//! ARCHITECTURE.md says why for each:
//! [`LINGER`], [`FETCH_MAX_WAIT`], [`MAX_POLL_RECORDS`], [`POLL_TIMEOUT`], [`LANE_DEPTH`].

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use krafka::admin::{CreateTopicsOptions, ListTopicsOptions, NewTopic};
use krafka::consumer::{
    AutoOffsetReset, Consumer, ConsumerRecord, OffsetAndMetadata, TopicPartition,
};
use krafka::error::ErrorCode;
use krafka::producer::{DeliveryHandle, Producer};
use krafka::{Kafka, KrafkaError, Record};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::bus::{BusError, EventBus, EventHandler};
use crate::envelope::EventEnvelope;
use crate::lanes::Lanes;
use crate::progress::{Partition, Progress};
use crate::retry::RetryBudget;
use crate::topics::{self, Delivery};
use crate::trace::{self, TraceContext};

/// Header carrying the envelope's `event_type` (also the topic), for routing without parsing.
pub const HEADER_EVENT_TYPE: &str = "event-type";
/// Header carrying the envelope's `event_id`.
pub const HEADER_EVENT_ID: &str = "event-id";
/// Header carrying the W3C trace context.
pub const HEADER_TRACEPARENT: &str = "traceparent";
/// On a dead-lettered record: the consumer group that gave up.
pub const HEADER_DLQ_GROUP: &str = "dlq-group";
/// On a dead-lettered record: the last error.
pub const HEADER_DLQ_ERROR: &str = "dlq-error";
/// On a dead-lettered record: how many times the handler ran (0 for a malformed record).
pub const HEADER_DLQ_ATTEMPTS: &str = "dlq-attempts";

/// Partitions of every topic [`KafkaEventBus::create_topics`] creates: room for three members
/// per consumer group.
pub const TOPIC_PARTITIONS: i32 = 3;

/// How long one `poll` waits for records when none are there. Offsets of finished records are
/// committed after every poll, so this also bounds how long a finished record stays uncommitted
/// on a quiet topic (and is redelivered if the member dies meanwhile).
pub const POLL_TIMEOUT: Duration = Duration::from_millis(100);

/// The longest the broker may hold a fetch open waiting for records (krafka's default: 500 ms).
/// A broker that follows the protocol answers as soon as a record arrives, so this costs
/// nothing there and only sets how often an idle member asks again; a broker that sleeps
/// through the wait instead (tansu, used in tests) adds it to every hop of the saga.
pub const FETCH_MAX_WAIT: Duration = Duration::from_millis(50);

/// Records one poll hands out at most (krafka's default is 500). Enough to keep every lane busy
/// at the model's concurrency; the lanes' queues bound what waits beyond that.
pub const MAX_POLL_RECORDS: i32 = 256;

/// Records queued per lane before the member stops polling: with `concurrency` lanes at most
/// `concurrency × (LANE_DEPTH + 1)` records are in flight, so a slow handler slows the member's
/// reading instead of filling its memory.
pub const LANE_DEPTH: usize = 8;

/// How long the producer holds a record for others to join its batch. krafka's default is 5 ms
/// (KIP-1030); the relay hands over whole batches at once, so waiting buys little and every
/// single publish would pay it.
pub const LINGER: Duration = Duration::from_millis(1);

/// The wait after a failed poll, commit-less dead-lettering or similar broker trouble.
const BROKER_RETRY: Duration = Duration::from_secs(1);

/// Where and as whom a [`KafkaEventBus`] connects.
#[derive(Debug, Clone)]
pub struct KafkaConfig {
    /// Comma-separated `host:port` bootstrap servers.
    pub brokers: String,
    /// The client id the broker sees: the unit's name.
    pub client_id: String,
    /// How long connecting (and each broker request) may take.
    pub connect_timeout: Duration,
    /// How long a member may be silent before the group gives its partitions to the others.
    pub session_timeout: Duration,
    /// The retry budget of every subscription, instead of the model's per-subscription one
    /// (tests). `None`: `topics::delivery(topic, group)`.
    pub delivery: Option<Delivery>,
    /// Put before every topic and group name on the broker (empty: none), so that several
    /// stacks (tests on one broker) do not see each other's events.
    pub namespace: String,
}

impl KafkaConfig {
    /// Defaults for `brokers` as `client_id`.
    #[must_use]
    pub fn new(brokers: impl Into<String>, client_id: impl Into<String>) -> Self {
        Self {
            brokers: brokers.into(),
            client_id: client_id.into(),
            connect_timeout: Duration::from_secs(10),
            session_timeout: Duration::from_secs(10),
            delivery: None,
            namespace: String::new(),
        }
    }

    /// The brokers cannot be reached or used, because of `err`.
    fn unavailable(&self, err: &dyn std::fmt::Display) -> BusError {
        BusError::Unavailable(format!("Kafka at {}: {err}", self.brokers))
    }

    /// The name of `topic` (or group) on the broker.
    #[must_use]
    pub fn on_broker(&self, name: &str) -> String {
        format!("{}{name}", self.namespace)
    }
}

/// The Kafka bus. Cloning shares its connections and consumers.
#[derive(Clone)]
pub struct KafkaEventBus {
    inner: Arc<Inner>,
}

struct Inner {
    kafka: Kafka,
    producer: Arc<Producer>,
    config: KafkaConfig,
    stop: watch::Sender<bool>,
    members: Mutex<Vec<Member>>,
}

/// One subscription: its consumer (for the assignment) and the task running it.
struct Member {
    consumer: Arc<Consumer>,
    task: JoinHandle<()>,
}

impl KafkaEventBus {
    /// Connects to `config.brokers`; fails when no broker answers within the connect timeout.
    pub async fn connect(config: KafkaConfig) -> Result<Self, BusError> {
        let kafka = client(&config).await?;
        let producer = kafka
            .producer()
            .linger(LINGER)
            .build()
            .await
            .map_err(|err| config.unavailable(&err))?;
        let (stop, _) = watch::channel(false);
        Ok(Self {
            inner: Arc::new(Inner {
                kafka,
                producer: Arc::new(producer),
                config,
                stop,
                members: Mutex::default(),
            }),
        })
    }

    fn members(&self) -> std::sync::MutexGuard<'_, Vec<Member>> {
        self.inner
            .members
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Creates each of `topics` and its dead-letter topic ([`TOPIC_PARTITIONS`] partitions,
    /// the broker's replication factor, the model's retention [`topics::RETENTION_MS`]). A topic that exists already is fine. Answers the
    /// topics it created.
    pub async fn create_topics(&self, topics: &[&str]) -> Result<Vec<String>, BusError> {
        let names: Vec<String> = topics
            .iter()
            .map(|topic| self.inner.config.on_broker(topic))
            .flat_map(|topic| [topics::dead_letter(&topic), topic])
            .collect();
        let new_topics = names
            .iter()
            .map(|name| {
                NewTopic::new(name.clone(), TOPIC_PARTITIONS, -1).map(|mut topic| {
                    topic
                        .configs
                        .insert("retention.ms".to_owned(), topics::RETENTION_MS.to_string());
                    topic
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|err| BusError::Unavailable(format!("invalid topic: {err}")))?;
        let admin = self.inner.kafka.admin();
        let outcome = admin
            .create_topics(new_topics, CreateTopicsOptions::default())
            .await;
        let _closed = admin.close().await;
        let mut created = Vec::new();
        let mut failures = Vec::new();
        for (name, result) in
            outcome.map_err(|err| BusError::Unavailable(format!("CreateTopics: {err}")))?
        {
            match result {
                Ok(()) => created.push(name),
                Err(err) if already_exists(&err) => {}
                Err(err) => failures.push(format!("{name}: {err}")),
            }
        }
        if !failures.is_empty() {
            failures.sort();
            return Err(BusError::Unavailable(format!(
                "CreateTopics failed for {}",
                failures.join("; ")
            )));
        }
        created.sort();
        Ok(created)
    }

    /// Whether a broker answers now, within `timeout`: one metadata request on the bus's own
    /// connections (what a readiness check asks; it opens no connection of its own while the
    /// broker is up, and its answer lists this system's few topics).
    pub async fn ping(&self, timeout: Duration) -> Result<(), BusError> {
        let admin = self.inner.kafka.admin();
        let asked = tokio::time::timeout(
            timeout,
            admin.list_topics(ListTopicsOptions::default().timeout(timeout)),
        )
        .await;
        let _closed = admin.close().await;
        match asked {
            Ok(Ok(_topics)) => Ok(()),
            Ok(Err(err)) => Err(self.inner.config.unavailable(&err)),
            Err(_) => Err(self
                .inner
                .config
                .unavailable(&format!("no answer within {timeout:?}"))),
        }
    }

    /// Where and as whom this bus connects.
    #[must_use]
    pub(crate) fn config(&self) -> &KafkaConfig {
        &self.inner.config
    }

    /// A client with connections of its own (see [`client`]).
    pub(crate) async fn fresh_client(&self) -> Result<Kafka, BusError> {
        client(&self.inner.config).await
    }

    /// Sends `record` through the bus's producer and waits until the broker has it.
    pub(crate) async fn send_record(&self, record: Record) -> Result<(), BusError> {
        send(&self.inner.producer, record).await
    }

    /// How many partitions this bus's members hold right now (tests wait for a rebalance).
    pub async fn assigned_partitions(&self) -> usize {
        let consumers: Vec<Arc<Consumer>> = self
            .members()
            .iter()
            .map(|member| member.consumer.clone())
            .collect();
        let mut total = 0;
        for consumer in consumers {
            total += consumer
                .assignment()
                .await
                .values()
                .map(Vec::len)
                .sum::<usize>();
        }
        total
    }
}

/// A client of its own (its own connections) for the brokers of `config`. A broker reads one
/// request per connection at a time, so the producer and each consumer get a client each: a
/// publish never queues behind another member's long-polling fetch, nor one member's fetch
/// behind another's.
async fn client(config: &KafkaConfig) -> Result<Kafka, BusError> {
    let connecting = Kafka::builder(config.brokers.clone())
        .client_id(config.client_id.clone())
        .connect_timeout(config.connect_timeout)
        .request_timeout(config.connect_timeout.max(Duration::from_secs(30)))
        .connect();
    tokio::time::timeout(config.connect_timeout, connecting)
        .await
        .map_err(|_| config.unavailable(&format!("no answer within {:?}", config.connect_timeout)))?
        .map_err(|err| config.unavailable(&err))
}

fn already_exists(err: &KrafkaError) -> bool {
    matches!(
        err,
        KrafkaError::Broker {
            code: ErrorCode::TopicAlreadyExists,
            ..
        }
    )
}

/// The record `event` is published as, on `topic` (its topic, namespaced).
pub fn event_record(topic: &str, event: &EventEnvelope) -> Result<Record, BusError> {
    let value = serde_json::to_vec(event)
        .map_err(|err| BusError::Unavailable(format!("cannot encode event: {err}")))?;
    // An envelope from before trace contexts (an old outbox row) starts a trace here.
    let traceparent = event
        .trace_context()
        .unwrap_or_else(TraceContext::new_root)
        .to_string();
    Ok(Record::new(topic, value)
        .key(event.aggregate_id.clone())
        .header(HEADER_EVENT_TYPE, event.event_type.clone())
        .header(HEADER_EVENT_ID, event.event_id.0.to_string())
        .header(HEADER_TRACEPARENT, traceparent))
}

/// The envelope in `record`, read from `topic` (the record's topic without the namespace), or
/// why it is malformed.
pub fn decode(record: &ConsumerRecord, topic: &str) -> Result<EventEnvelope, String> {
    let Some(value) = record.value.as_ref() else {
        return Err("malformed event: the record has no value".to_owned());
    };
    let envelope: EventEnvelope =
        serde_json::from_slice(value).map_err(|err| format!("malformed event: {err}"))?;
    if envelope.topic() != topic {
        return Err(format!(
            "malformed event: a `{}` event on topic `{}`",
            envelope.event_type, record.topic
        ));
    }
    Ok(envelope)
}

/// The trace context to handle `record` in: its `traceparent` header, else the envelope's,
/// else a new trace.
#[must_use]
pub fn record_trace(record: &ConsumerRecord, envelope: &EventEnvelope) -> TraceContext {
    record
        .header_str(HEADER_TRACEPARENT)
        .and_then(|value| value.parse().ok())
        .or_else(|| envelope.trace_context())
        .unwrap_or_else(TraceContext::new_root)
}

/// The record that parks `record` on its topic's DLQ: the original key, value and headers,
/// krafka's provenance headers (original topic, partition, offset), and ours naming the
/// `group` that gave up, the `error` and the `attempts`.
pub fn dead_letter_record(
    record: &ConsumerRecord,
    group: &str,
    error: &str,
    attempts: u32,
) -> Record {
    krafka::dlq::record_for(&topics::dead_letter(&record.topic), record, &error)
        .header(HEADER_DLQ_GROUP, group.to_owned())
        .header(HEADER_DLQ_ERROR, error.to_owned())
        .header(HEADER_DLQ_ATTEMPTS, attempts.to_string())
}

/// The wait after the `attempt`-th failed attempt: `backoff_ms`, doubling per attempt, at most
/// a minute.
#[must_use]
pub fn retry_backoff(delivery: Delivery, attempt: u32) -> Duration {
    let doublings = attempt.saturating_sub(1).min(16);
    Duration::from_millis(delivery.backoff_ms.saturating_mul(1 << doublings))
        .min(Duration::from_secs(60))
}

/// Queues `record` for sending; the handle resolves once the broker has it.
async fn enqueue(producer: &Producer, record: Record) -> Result<DeliveryHandle, BusError> {
    let topic = record.topic.clone();
    producer
        .enqueue(record)
        .await
        .map_err(|err| BusError::Unavailable(format!("publishing on `{topic}`: {err}")))
}

/// Waits for the broker's answer to a queued record on `topic`.
async fn acknowledged(topic: &str, handle: DeliveryHandle) -> Result<(), BusError> {
    let metadata = handle
        .await
        .map_err(|err| BusError::Unavailable(format!("publishing on `{topic}`: {err}")))?;
    if metadata.is_persisted() {
        Ok(())
    } else {
        Err(BusError::Unavailable(format!(
            "publishing on `{topic}`: the broker did not confirm the write"
        )))
    }
}

/// Sends `record` and waits until the broker has it.
async fn send(producer: &Producer, record: Record) -> Result<(), BusError> {
    let topic = record.topic.clone();
    acknowledged(&topic, enqueue(producer, record).await?).await
}

#[async_trait]
impl EventBus for KafkaEventBus {
    async fn publish(&self, event: EventEnvelope) -> Result<(), BusError> {
        let topic = self.inner.config.on_broker(event.topic());
        send(&self.inner.producer, event_record(&topic, &event)?).await
    }

    async fn publish_batch(&self, events: Vec<EventEnvelope>) -> Vec<Result<(), BusError>> {
        // Queue everything first (in order: produce order is enqueue order), then collect the
        // acknowledgements, which by then are all on their way.
        let mut queued = Vec::with_capacity(events.len());
        for event in &events {
            let topic = self.inner.config.on_broker(event.topic());
            let handle = match event_record(&topic, event) {
                Ok(record) => enqueue(&self.inner.producer, record).await,
                Err(err) => Err(err),
            };
            queued.push((topic, handle));
        }
        let mut outcomes = Vec::with_capacity(queued.len());
        for (topic, handle) in queued {
            outcomes.push(match handle {
                Ok(handle) => acknowledged(&topic, handle).await,
                Err(err) => Err(err),
            });
        }
        outcomes
    }

    async fn subscribe(
        &self,
        group: &str,
        topics: &[&str],
        handler: Arc<dyn EventHandler>,
    ) -> Result<(), BusError> {
        let config = &self.inner.config;
        let logical_group = group;
        let group = config.on_broker(group);
        let unavailable =
            |err: KrafkaError| BusError::Unavailable(format!("subscribing group `{group}`: {err}"));
        let consumer = client(config)
            .await?
            .consumer(group.clone())
            .auto_offset_reset(AutoOffsetReset::Earliest)
            .enable_auto_commit(false)
            .max_poll_records(MAX_POLL_RECORDS)
            .fetch_max_wait(FETCH_MAX_WAIT)
            .session_timeout(config.session_timeout)
            .heartbeat_interval(config.session_timeout / 5)
            .build()
            .await
            .map_err(unavailable)?;
        let on_broker: Vec<String> = topics.iter().map(|topic| config.on_broker(topic)).collect();
        consumer.subscribe(&on_broker).await.map_err(unavailable)?;
        let consumer = Arc::new(consumer);
        let concurrency = config.delivery.map_or_else(
            || topics::concurrency(topics, logical_group),
            |d| d.concurrency,
        );
        let worker = Worker {
            consumer: consumer.clone(),
            producer: self.inner.producer.clone(),
            group: group.clone(),
            logical_group: logical_group.to_owned(),
            namespace: config.namespace.clone(),
            handler,
            delivery: config.delivery,
            budget: RetryBudget::new(topics::RETRY_BUDGET),
        };
        let task = tokio::spawn(worker.run(concurrency, self.inner.stop.subscribe()));
        self.members().push(Member { consumer, task });
        tracing::info!(%group, topics = ?on_broker, concurrency, "kafka: consumer subscribed");
        Ok(())
    }

    async fn close(&self) {
        self.inner.stop.send_replace(true);
        let members: Vec<Member> = self.members().drain(..).collect();
        for member in members {
            if let Err(err) = member.task.await {
                tracing::warn!(error = %err, "kafka: a consumer task ended abnormally");
            }
        }
        if let Err(err) = self.inner.producer.close().await {
            tracing::warn!(error = %err, "kafka: closing the producer failed");
        }
    }
}

/// The bus is closing: the record is left uncommitted, to be delivered again.
#[derive(Debug)]
struct Stopped;

/// A record a lane finished (handled or dead-lettered): its partition and offset.
type Finished = (Partition, i64);

/// Per partition: the offset the next record must have, and how often the member has sought
/// back to it.
type Gaps = HashMap<Partition, (i64, u32)>;

/// How many times a member reads a gap again before it gives up on the missing records.
pub const GAP_REREADS: u32 = 5;

/// How far before a gap the first re-read starts; each further one starts twice as far back.
pub const GAP_BACKSTEP: i64 = 8;

/// Where a record stands in its partition's sequence.
enum Order {
    /// The next one (or the first seen): handle it.
    Next,
    /// Read again while going back for a gap, and handled before: skip it.
    AlreadyHave,
    /// After a gap: the member has sought back; skip the partition's rest of this poll.
    Reread,
}

/// One group member.
struct Worker {
    consumer: Arc<Consumer>,
    producer: Arc<Producer>,
    /// The group on the broker (namespaced), as logs and dead letters name it.
    group: String,
    /// The group as the model names it, for its delivery budget.
    logical_group: String,
    namespace: String,
    handler: Arc<dyn EventHandler>,
    delivery: Option<Delivery>,
    /// Retries this member may add to its first attempts; a retry beyond it waits.
    budget: RetryBudget,
}

impl Worker {
    /// Polls, hands each record to the lane of its key, and after each poll commits what the
    /// lanes finished; on stop, lets the lanes wind down, commits once more and leaves.
    async fn run(self, concurrency: usize, mut stop: watch::Receiver<bool>) {
        let (finished_tx, mut finished) = mpsc::unbounded_channel::<Finished>();
        let worker = Arc::new(self);
        let lanes = {
            let (worker, stop) = (worker.clone(), stop.clone());
            Lanes::spawn(concurrency, LANE_DEPTH, move |record: ConsumerRecord| {
                let (worker, mut stop, done) = (worker.clone(), stop.clone(), finished_tx.clone());
                async move {
                    if worker.process(&record, &mut stop).await.is_ok() {
                        let _ = done
                            .send(((record.topic.to_string(), record.partition), record.offset));
                    }
                }
            })
        };
        let mut progress = Progress::default();
        let mut gaps = Gaps::default();
        'polling: while !*stop.borrow() {
            let polled = tokio::select! {
                _ = stop.changed() => break,
                polled = worker.consumer.poll(POLL_TIMEOUT) => polled,
            };
            match polled {
                Ok(records) => {
                    let mut reread = HashSet::new();
                    for record in records {
                        let partition = (record.topic.to_string(), record.partition);
                        if reread.contains(&partition) {
                            continue;
                        }
                        match worker
                            .check_contiguous(&partition, &record, &mut gaps)
                            .await
                        {
                            Order::Next => {}
                            Order::AlreadyHave => continue,
                            Order::Reread => {
                                reread.insert(partition);
                                continue;
                            }
                        }
                        progress.started(&partition, record.offset);
                        let key = record
                            .key
                            .clone()
                            .unwrap_or_else(|| record.partition.to_be_bytes().to_vec().into());
                        if lanes.dispatch(&key, record).await.is_err() {
                            tracing::error!(group = %worker.group, "kafka: a consumer lane stopped; the member leaves");
                            break 'polling;
                        }
                    }
                }
                Err(err) if worker.consumer.is_closed() => {
                    tracing::debug!(group = %worker.group, error = %err, "kafka: consumer closed");
                    break;
                }
                Err(err) => {
                    tracing::warn!(group = %worker.group, error = %err, "kafka: poll failed; retrying");
                    pause(&mut stop).await;
                }
            }
            worker.commit(&mut progress, &mut finished).await;
        }
        lanes.close().await;
        worker.commit(&mut progress, &mut finished).await;
        if let Err(err) = worker.consumer.close().await {
            tracing::warn!(group = %worker.group, error = %err, "kafka: closing the consumer failed");
        }
    }

    /// What to do with `record` so that no record of its partition is skipped. Our topics are
    /// neither compacted nor transactional, so offsets within a partition are contiguous, and
    /// a gap means the fetch skipped records: seen with tansu when a member catches up on many
    /// partitions written in batches — whole batches missing, and a fetch from the first
    /// missing offset skipping them again, while a fetch from further back returns them. On a
    /// gap the member seeks back before it, further each time ([`GAP_BACKSTEP`] doubling), and
    /// drops the records it already has until the missing ones arrive. After [`GAP_REREADS`]
    /// vain attempts at one gap it logs an error and moves on.
    async fn check_contiguous(
        &self,
        partition: &Partition,
        record: &ConsumerRecord,
        gaps: &mut Gaps,
    ) -> Order {
        let (next, rereads) = gaps.get(partition).copied().unwrap_or((record.offset, 0));
        if record.offset < next && rereads > 0 {
            return Order::AlreadyHave;
        }
        if record.offset > next {
            if rereads < GAP_REREADS {
                let back = next.saturating_sub(GAP_BACKSTEP << rereads).max(0);
                tracing::warn!(group = %self.group, topic = %record.topic, partition = record.partition, from = next, to = record.offset, seek = back, "kafka: the fetch skipped records; reading them again");
                match self
                    .consumer
                    .seek(&record.topic, record.partition, back)
                    .await
                {
                    Ok(()) => {
                        gaps.insert(partition.clone(), (next, rereads + 1));
                        return Order::Reread;
                    }
                    Err(err) => {
                        tracing::error!(group = %self.group, topic = %record.topic, partition = record.partition, error = %err, "kafka: cannot seek back to skipped records; they are lost to this member");
                    }
                }
            } else {
                tracing::error!(group = %self.group, topic = %record.topic, partition = record.partition, from = next, to = record.offset, "kafka: records stay missing after reading again; moving on");
            }
        }
        gaps.insert(partition.clone(), (record.offset + 1, 0));
        Order::Next
    }

    /// Handles `record` within its attempts, or dead-letters it.
    async fn process(
        &self,
        record: &ConsumerRecord,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<(), Stopped> {
        let topic = record
            .topic
            .strip_prefix(self.namespace.as_str())
            .unwrap_or(&record.topic);
        let envelope = match decode(record, topic) {
            Ok(envelope) => envelope,
            Err(error) => return self.dead_letter(record, &error, 0, stop).await,
        };
        let delivery = self
            .delivery
            .unwrap_or_else(|| topics::delivery(topic, &self.logical_group));
        let attempts = delivery.attempts.max(1);
        let context = record_trace(record, &envelope);
        let mut error = String::new();
        self.budget.request();
        for attempt in 1..=attempts {
            let outcome = tokio::select! {
                _ = stop.changed() => return Err(Stopped),
                outcome = self.attempt(&envelope, context, delivery) => outcome,
            };
            match outcome {
                Ok(()) => return Ok(()),
                Err(err) => error = err,
            }
            if attempt < attempts {
                let wait = retry_backoff(delivery, attempt);
                tracing::warn!(group = %self.group, event_id = %envelope.event_id, trace_id = %context.trace_id_hex(), attempt, retry_in = ?wait, %error, "handler failed; retrying");
                tokio::select! {
                    _ = stop.changed() => return Err(Stopped),
                    () = tokio::time::sleep(wait) => {}
                }
                // Past the retry budget a retry waits rather than adds load: its lane holds
                // the record, and the bounded lanes stop the member polling for more.
                let mut told = false;
                while !self.budget.try_retry() {
                    if !told {
                        tracing::warn!(group = %self.group, event_id = %envelope.event_id, "retry budget spent; the retry waits");
                        told = true;
                    }
                    tokio::select! {
                        _ = stop.changed() => return Err(Stopped),
                        () = tokio::time::sleep(wait) => {}
                    }
                }
            }
        }
        tracing::error!(group = %self.group, event_id = %envelope.event_id, trace_id = %context.trace_id_hex(), dlq = %topics::dead_letter(&record.topic), attempts, %error, "handler failed; dead-lettered");
        self.dead_letter(record, &error, attempts, stop).await
    }

    /// One handler call in the event's trace context, bounded by the handler timeout.
    async fn attempt(
        &self,
        envelope: &EventEnvelope,
        context: TraceContext,
        delivery: Delivery,
    ) -> Result<(), String> {
        let limit = Duration::from_millis(delivery.handler_timeout_ms.max(1));
        match tokio::time::timeout(limit, trace::scope(context, self.handler.handle(envelope)))
            .await
        {
            Ok(outcome) => outcome.map_err(|err| err.to_string()),
            Err(_) => Err(format!("handler timed out after {limit:?}")),
        }
    }

    /// Parks `record` on its dead-letter topic, trying again after a pause while the broker
    /// does not take it (the record's lane waits meanwhile, keeping its key's order).
    async fn dead_letter(
        &self,
        record: &ConsumerRecord,
        error: &str,
        attempts: u32,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<(), Stopped> {
        if attempts == 0 {
            tracing::error!(group = %self.group, topic = %record.topic, offset = record.offset, %error, "malformed record; dead-lettered");
        }
        loop {
            let parked = send(
                &self.producer,
                dead_letter_record(record, &self.group, error, attempts),
            )
            .await;
            match parked {
                Ok(()) => return Ok(()),
                Err(err) => {
                    tracing::warn!(group = %self.group, topic = %record.topic, partition = record.partition, offset = record.offset, error = %err, "kafka: cannot dead-letter; trying again");
                }
            }
            if *stop.borrow() {
                return Err(Stopped);
            }
            pause(stop).await;
        }
    }

    /// Commits the positions that moved with the records the lanes finished since last time.
    /// A failed commit (a rebalance took the partition) only means those records may be
    /// delivered again.
    async fn commit(
        &self,
        progress: &mut Progress,
        finished: &mut mpsc::UnboundedReceiver<Finished>,
    ) {
        while let Ok((partition, offset)) = finished.try_recv() {
            progress.finished(&partition, offset);
        }
        let moved = progress.advanced();
        if moved.is_empty() {
            return;
        }
        let offsets: Vec<(TopicPartition, OffsetAndMetadata)> = moved
            .iter()
            .map(|((topic, partition), next)| {
                (
                    TopicPartition::new(topic.as_str(), *partition),
                    OffsetAndMetadata::new(*next),
                )
            })
            .collect();
        if let Err(err) = self.consumer.commit_offsets(offsets).await {
            tracing::warn!(group = %self.group, positions = ?moved, error = %err, "kafka: offset commit failed; those records may be delivered again");
        }
    }
}

/// Waits [`BROKER_RETRY`], or less when the bus closes meanwhile.
async fn pause(stop: &mut watch::Receiver<bool>) {
    tokio::select! {
        _ = stop.changed() => {}
        () = tokio::time::sleep(BROKER_RETRY) => {}
    }
}

#[cfg(test)]
mod tests {
    use krafka::dlq;
    use shared_types::OrderId;

    use super::*;
    use crate::types::InventoryReleased;

    fn released() -> EventEnvelope {
        EventEnvelope::wrap(&InventoryReleased {
            order_id: OrderId::new(),
        })
    }

    /// What a consumer reads back of `record`, at `offset` of partition 2.
    fn consumed(record: &Record, offset: i64) -> ConsumerRecord {
        let mut consumed = ConsumerRecord::new(
            record.topic.as_str(),
            2,
            offset,
            record.key.clone(),
            record.value.clone(),
        );
        consumed.headers = record.headers.clone();
        consumed
    }

    fn header<'r>(record: &'r Record, key: &str) -> Option<&'r str> {
        record
            .headers
            .iter()
            .find(|(name, _)| name == key)
            .and_then(|(_, value)| std::str::from_utf8(value.as_ref()?).ok())
    }

    #[test]
    fn a_record_is_keyed_by_aggregate_and_names_type_id_and_trace() {
        let event = released();
        let record = event_record(event.topic(), &event).unwrap();
        assert_eq!(record.topic, topics::INVENTORY_RELEASED);
        assert_eq!(record.key_str(), Some(event.aggregate_id.as_str()));
        assert_eq!(
            header(&record, HEADER_EVENT_TYPE),
            Some(topics::INVENTORY_RELEASED)
        );
        assert_eq!(
            header(&record, HEADER_EVENT_ID),
            Some(event.event_id.0.to_string().as_str())
        );
        assert_eq!(
            header(&record, HEADER_TRACEPARENT),
            event.traceparent.as_deref()
        );
        let back: EventEnvelope = serde_json::from_slice(record.value.as_ref().unwrap()).unwrap();
        assert_eq!(back, event);
    }

    #[test]
    fn an_envelope_without_trace_context_gets_a_new_trace() {
        let mut event = released();
        event.traceparent = None;
        let record = event_record(event.topic(), &event).unwrap();
        let traceparent = header(&record, HEADER_TRACEPARENT).unwrap();
        assert!(traceparent.parse::<TraceContext>().is_ok(), "{traceparent}");
    }

    #[test]
    fn a_consumed_record_decodes_and_keeps_its_trace() {
        let event = released();
        let record = consumed(&event_record(event.topic(), &event).unwrap(), 7);
        let envelope = decode(&record, topics::INVENTORY_RELEASED).unwrap();
        assert_eq!(envelope, event);
        assert_eq!(
            Some(record_trace(&record, &envelope)),
            event.trace_context()
        );
    }

    #[test]
    fn malformed_records_are_refused_with_a_reason() {
        let empty = ConsumerRecord::new(topics::ORDER_CREATED, 0, 0, None, None);
        assert!(
            decode(&empty, topics::ORDER_CREATED)
                .unwrap_err()
                .contains("no value")
        );
        let garbage =
            ConsumerRecord::new(topics::ORDER_CREATED, 0, 0, None, Some("{not json".into()));
        assert!(
            decode(&garbage, topics::ORDER_CREATED)
                .unwrap_err()
                .starts_with("malformed event")
        );
        let mut elsewhere = consumed(
            &event_record(topics::INVENTORY_RELEASED, &released()).unwrap(),
            0,
        );
        elsewhere.topic = topics::ORDER_CREATED.into();
        assert!(
            decode(&elsewhere, topics::ORDER_CREATED)
                .unwrap_err()
                .contains("on topic")
        );
    }

    #[test]
    fn a_dead_letter_keeps_the_record_and_names_group_error_attempts_and_origin() {
        let event = released();
        let original = consumed(&event_record(event.topic(), &event).unwrap(), 41);
        let dead = dead_letter_record(&original, "inventory-service", "stock table locked", 3);
        assert_eq!(dead.topic, "inventory.released.dlq");
        assert_eq!(dead.key, original.key);
        assert_eq!(dead.value, original.value);
        assert_eq!(header(&dead, HEADER_DLQ_GROUP), Some("inventory-service"));
        assert_eq!(header(&dead, HEADER_DLQ_ERROR), Some("stock table locked"));
        assert_eq!(header(&dead, HEADER_DLQ_ATTEMPTS), Some("3"));
        assert_eq!(
            header(&dead, HEADER_TRACEPARENT),
            event.traceparent.as_deref()
        );
        assert_eq!(
            header(&dead, dlq::HEADER_ORIGINAL_TOPIC),
            Some(topics::INVENTORY_RELEASED)
        );
        assert_eq!(header(&dead, dlq::HEADER_ORIGINAL_PARTITION), Some("2"));
        assert_eq!(header(&dead, dlq::HEADER_ORIGINAL_OFFSET), Some("41"));
    }

    #[test]
    fn retries_back_off_exponentially_up_to_a_minute() {
        let delivery = Delivery {
            attempts: 3,
            backoff_ms: 500,
            handler_timeout_ms: 1000,
            concurrency: 1,
        };
        assert_eq!(retry_backoff(delivery, 1), Duration::from_millis(500));
        assert_eq!(retry_backoff(delivery, 2), Duration::from_secs(1));
        assert_eq!(retry_backoff(delivery, 3), Duration::from_secs(2));
        assert_eq!(retry_backoff(delivery, 30), Duration::from_secs(60));
    }

    #[test]
    fn the_model_sets_each_subscriptions_budget() {
        let payment = topics::delivery(topics::INVENTORY_RESERVED, "payment-service");
        assert_eq!(payment.attempts, 3);
        assert_eq!(payment.handler_timeout_ms, 3000);
        assert_eq!(
            topics::delivery(topics::INVENTORY_RESERVED, "someone-else"),
            Delivery::DEFAULT
        );
    }

    #[tokio::test]
    async fn ping_answers_while_a_broker_does_and_fails_within_its_bound_once_it_is_gone() {
        let broker = krafka::testing::FakeBroker::start().await.unwrap();
        let mut config = KafkaConfig::new(broker.bootstrap_servers(), "ping-test");
        config.connect_timeout = Duration::from_secs(2);
        let bus = KafkaEventBus::connect(config).await.unwrap();
        bus.ping(Duration::from_secs(2)).await.unwrap();

        drop(broker);
        let bound = Duration::from_millis(300);
        let started = std::time::Instant::now();
        let err = bus.ping(bound).await.unwrap_err();
        assert!(
            started.elapsed() < bound + Duration::from_millis(200),
            "took {:?}",
            started.elapsed()
        );
        assert!(err.to_string().contains("Kafka at 127.0.0.1:"), "{err}");
    }
}
