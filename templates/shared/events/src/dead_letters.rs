//! Dead letters on Kafka, for operators: what a consumer group gave up on, and publishing it
//! again on its original topic once the cause is fixed (`<unit> dead-letters` and
//! `<unit> replay-dead-letters`).
//!
//! Stateless on purpose: a listing shows every dead letter of the group still on the broker
//! (the dead-letter topics' retention bounds them), newest last, and replaying an event again is
//! harmless — every consumer de-duplicates by event id, so a group that handled it skips it. A
//! replayed record keeps its key (so it lands on its aggregate's partition, behind that
//! aggregate's later events), its value and its headers (event id, type, trace context); only
//! the dead-letter headers are dropped. Every group consuming the original topic sees it again,
//! and the ones that handled it the first time find it in their inbox.

use std::time::Duration;

use krafka::Record;
use krafka::consumer::{AutoOffsetReset, ConsumerRecord};

use crate::bus::BusError;
use crate::kafka::{
    HEADER_DLQ_ATTEMPTS, HEADER_DLQ_ERROR, HEADER_DLQ_GROUP, HEADER_EVENT_ID, HEADER_EVENT_TYPE,
    KafkaEventBus,
};
use crate::topics;

/// How long reading a dead-letter topic may go without a record before the reader concludes
/// the broker has nothing more below the end offset it reported.
const READ_PATIENCE: Duration = Duration::from_secs(10);

/// One event a consumer group parked on a dead-letter topic.
#[derive(Debug, Clone)]
pub struct ParkedEvent {
    /// Where it is parked: the dead-letter topic, partition and offset.
    pub dlq_topic: String,
    pub partition: i32,
    pub offset: i64,
    /// When it was parked, in milliseconds since the epoch.
    pub parked_at_ms: i64,
    /// The topic it was consumed from (on the broker).
    pub topic: String,
    pub event_id: Option<String>,
    pub event_type: Option<String>,
    /// The group that gave up, its last error and how often its handler ran.
    pub group: String,
    pub error: String,
    pub attempts: Option<u32>,
    /// What publishing it again sends; `None` for a record without a value (a malformed one:
    /// there is nothing to deliver again).
    replay: Option<Record>,
}

impl ParkedEvent {
    /// The dead letter in `record`; `None` for a record that is not one of ours.
    #[must_use]
    pub fn from_record(record: &ConsumerRecord) -> Option<Self> {
        let text = |key: &str| record.header_str(key).map(str::to_owned);
        let group = text(HEADER_DLQ_GROUP)?;
        let topic = text(krafka::dlq::HEADER_ORIGINAL_TOPIC)?;
        let ours = |key: &str| {
            key == HEADER_DLQ_GROUP
                || key == HEADER_DLQ_ERROR
                || key == HEADER_DLQ_ATTEMPTS
                || key.starts_with("__krafka.dlq.")
        };
        Some(Self {
            dlq_topic: record.topic.to_string(),
            partition: record.partition,
            offset: record.offset,
            parked_at_ms: record.timestamp,
            replay: record.value.clone().map(|value| {
                let mut replay = Record::new(topic.clone(), value);
                replay.key.clone_from(&record.key);
                replay.headers = record
                    .headers
                    .iter()
                    .filter(|(key, _)| !ours(key))
                    .cloned()
                    .collect();
                replay
            }),
            topic,
            event_id: text(HEADER_EVENT_ID),
            event_type: text(HEADER_EVENT_TYPE),
            group,
            error: text(HEADER_DLQ_ERROR).unwrap_or_default(),
            attempts: text(HEADER_DLQ_ATTEMPTS).and_then(|n| n.parse().ok()),
        })
    }

    /// The record that delivers it again — its original topic, key, value and event headers —
    /// or `None` when it has no value to deliver.
    #[must_use]
    pub fn replay_record(&self) -> Option<&Record> {
        self.replay.as_ref()
    }
}

impl KafkaEventBus {
    /// Every dead letter consumer group `group` left on the dead-letter topics of `topics`, in
    /// the order they were parked per partition.
    pub async fn dead_letters(
        &self,
        group: &str,
        topics: &[&str],
    ) -> Result<Vec<ParkedEvent>, BusError> {
        let group = self.config().on_broker(group);
        let mut letters = Vec::new();
        for topic in topics {
            let dlq = topics::dead_letter(&self.config().on_broker(topic));
            for record in self.read_to_end(&dlq).await? {
                if let Some(parked) = ParkedEvent::from_record(&record)
                    && parked.group == group
                {
                    letters.push(parked);
                }
            }
        }
        Ok(letters)
    }

    /// Publishes each of `parked` again on its original topic, acknowledged by the broker before
    /// this returns; fails at the first that is not, or that has no value to publish.
    pub async fn replay(&self, parked: &[ParkedEvent]) -> Result<(), BusError> {
        for event in parked {
            let Some(record) = event.replay_record() else {
                return Err(BusError::Unavailable(format!(
                    "{} offset {} of partition {} has no value: there is nothing to deliver again",
                    event.dlq_topic, event.offset, event.partition
                )));
            };
            self.send_record(record.clone()).await?;
        }
        Ok(())
    }

    /// Every record of `topic` from the start of its log to the end offsets it has now.
    async fn read_to_end(&self, topic: &str) -> Result<Vec<ConsumerRecord>, BusError> {
        let unavailable = |err: krafka::KrafkaError| {
            BusError::Unavailable(format!("reading dead-letter topic `{topic}`: {err}"))
        };
        let consumer = self
            .fresh_client()
            .await?
            .consumer_without_group()
            .auto_offset_reset(AutoOffsetReset::Earliest)
            .enable_auto_commit(false)
            .build()
            .await
            .map_err(unavailable)?;
        // Close the reader whatever happens, so the broker is not left waiting for it.
        let read = read_partitions(&consumer, topic).await;
        let _closed = consumer.close().await;
        let mut records = read?;
        records.sort_by_key(|record| (record.partition, record.offset));
        Ok(records)
    }
}

/// Every record `consumer` (assign-only) finds in `topic` below the end offsets it has now.
async fn read_partitions(
    consumer: &krafka::consumer::Consumer,
    topic: &str,
) -> Result<Vec<ConsumerRecord>, BusError> {
    let unavailable = |err: krafka::KrafkaError| {
        BusError::Unavailable(format!("reading dead-letter topic `{topic}`: {err}"))
    };
    let metadata = consumer
        .fetch_metadata(Some(topic))
        .await
        .map_err(unavailable)?;
    let Some(info) = metadata.topics.into_iter().find(|info| info.name == topic) else {
        // No dead-letter topic: nothing was ever parked there.
        return Ok(Vec::new());
    };
    let partitions: Vec<i32> = info.partitions.keys().copied().collect();
    let mut ends = std::collections::HashMap::new();
    for &partition in &partitions {
        let (low, high) = consumer
            .fetch_watermarks(topic, partition)
            .await
            .map_err(unavailable)?;
        if high > low {
            ends.insert(partition, high);
        }
    }
    let mut records = Vec::new();
    if !ends.is_empty() {
        consumer
            .assign(topic, ends.keys().copied().collect())
            .await
            .map_err(unavailable)?;
        let mut last_progress = tokio::time::Instant::now();
        while !ends.is_empty() {
            if last_progress.elapsed() > READ_PATIENCE {
                return Err(BusError::Unavailable(format!(
                    "reading dead-letter topic `{topic}`: no record for {READ_PATIENCE:?} below the end offsets {ends:?}"
                )));
            }
            let batch = consumer
                .poll(Duration::from_millis(200))
                .await
                .map_err(unavailable)?;
            for record in batch {
                last_progress = tokio::time::Instant::now();
                if ends
                    .get(&record.partition)
                    .is_some_and(|end| record.offset < *end)
                {
                    records.push(record);
                }
            }
            // Done with a partition once its position reaches the end seen at the start
            // (offsets may skip: a position past a gap counts, a record need not).
            let mut done = Vec::new();
            for (&partition, &end) in &ends {
                if consumer
                    .position(topic, partition)
                    .await
                    .is_some_and(|position| position >= end)
                {
                    done.push(partition);
                }
            }
            for partition in done {
                ends.remove(&partition);
            }
        }
    }
    Ok(records)
}
