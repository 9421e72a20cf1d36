//! The operator's commands for dead letters: `<unit> dead-letters` lists the events the unit's
//! consumers gave up on (parked on Kafka's `<topic>.dlq` topics), and
//! `<unit> replay-dead-letters --all` or `<unit> replay-dead-letters EVENT_ID...` publishes them
//! again on their topics once the cause is fixed. Replaying is safe to repeat: every consumer
//! de-duplicates by event id. With the in-memory bus there is nothing to list: dead letters
//! live in the unit's process and its log.

use std::fmt::Write as _;

use shared_events::dead_letters::ParkedEvent;
use shared_events::topics;

use crate::topology::Unit;

/// Which dead letters `replay-dead-letters` delivers again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// `--all`: every one the unit's consumers parked.
    All,
    /// The events with these ids.
    Ids(Vec<String>),
}

impl Selection {
    /// `--all`, or one or more event ids (UUIDs).
    pub fn parse(args: &[String]) -> anyhow::Result<Self> {
        match args {
            [] => anyhow::bail!(
                "`replay-dead-letters` needs `--all` or the event ids to deliver again (`dead-letters` lists them)"
            ),
            [all] if all == "--all" => Ok(Self::All),
            ids => {
                for id in ids {
                    anyhow::ensure!(
                        uuid::Uuid::parse_str(id).is_ok(),
                        "`{id}` is not an event id: give `--all` or event ids as `dead-letters` lists them"
                    );
                }
                Ok(Self::Ids(ids.to_vec()))
            }
        }
    }

    /// The events of `parked` it names; an error naming every id that is not there, so that a
    /// mistyped id replays nothing.
    pub fn pick(&self, parked: Vec<ParkedEvent>, unit: &str) -> anyhow::Result<Vec<ParkedEvent>> {
        let Self::Ids(ids) = self else {
            return Ok(parked);
        };
        let missing: Vec<&str> = ids
            .iter()
            .filter(|id| {
                !parked
                    .iter()
                    .any(|event| event.event_id.as_ref() == Some(*id))
            })
            .map(String::as_str)
            .collect();
        anyhow::ensure!(
            missing.is_empty(),
            "{unit} parked no event with id {}: `{unit} dead-letters` lists the ones it did",
            missing.join(", ")
        );
        Ok(parked
            .into_iter()
            .filter(|event| event.event_id.as_ref().is_some_and(|id| ids.contains(id)))
            .collect())
    }
}

/// The table `dead-letters` prints: one line per parked event, oldest first per topic.
#[must_use]
pub fn table(parked: &[ParkedEvent]) -> String {
    let mut out = String::from(
        "PARKED AT (UTC)          TOPIC                     EVENT ID                              ATTEMPTS  ERROR\n",
    );
    for event in parked {
        let at = chrono::DateTime::from_timestamp_millis(event.parked_at_ms).map_or_else(
            || "?".to_owned(),
            |at| at.format("%Y-%m-%d %H:%M:%S").to_string(),
        );
        let _ = writeln!(
            out,
            "{at:<24} {:<25} {:<37} {:<9} {}",
            event.topic,
            event.event_id.as_deref().unwrap_or("-"),
            event
                .attempts
                .map_or_else(|| "-".to_owned(), |n| n.to_string()),
            event.error.replace('\n', " ")
        );
    }
    out
}

/// Connects to `KAFKA_BROKERS` and reads what `unit`'s consumer group parked.
async fn parked(unit: Unit) -> anyhow::Result<(shared_events::KafkaEventBus, Vec<ParkedEvent>)> {
    let consumed = topics::consumed_by(unit.name);
    anyhow::ensure!(
        !consumed.is_empty(),
        "{} consumes no events, so it has no dead letters",
        unit.name
    );
    let bus = crate::bus::kafka_from_env(unit).await.map_err(|err| {
        err.context("dead letters are kept on Kafka (with the in-memory bus they are only in the unit's log)")
    })?;
    match bus.dead_letters(unit.name, &consumed).await {
        Ok(parked) => Ok((bus, parked)),
        Err(err) => {
            shared_events::EventBus::close(&bus).await;
            Err(err.into())
        }
    }
}

/// `dead-letters`: prints the table (or that there are none) on stdout.
pub async fn list(unit: Unit) -> anyhow::Result<()> {
    let (bus, parked) = parked(unit).await?;
    shared_events::EventBus::close(&bus).await;
    if parked.is_empty() {
        println!("{} has no dead letters", unit.name);
    } else {
        print!("{}", table(&parked));
    }
    Ok(())
}

/// `replay-dead-letters`: delivers the selected events again and says which.
pub async fn replay(unit: Unit, selection: &Selection) -> anyhow::Result<()> {
    let (bus, parked) = parked(unit).await?;
    let chosen = selection.pick(parked, unit.name);
    let replayed = match &chosen {
        Ok(chosen) => bus.replay(chosen).await.map_err(anyhow::Error::from),
        Err(_) => Ok(()),
    };
    shared_events::EventBus::close(&bus).await;
    let chosen = chosen?;
    replayed?;
    for event in &chosen {
        tracing::info!(service = unit.name, topic = %event.topic, event_id = event.event_id.as_deref().unwrap_or("-"), "dead letter delivered again");
    }
    println!(
        "{} delivered {} dead letter(s) again",
        unit.name,
        chosen.len()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(items: &[&str]) -> Vec<String> {
        items.iter().map(|item| (*item).to_owned()).collect()
    }

    #[test]
    fn a_selection_is_all_or_event_ids() {
        assert_eq!(Selection::parse(&args(&["--all"])).unwrap(), Selection::All);
        let id = uuid::Uuid::new_v4().to_string();
        assert_eq!(
            Selection::parse(&args(&[&id])).unwrap(),
            Selection::Ids(vec![id.clone()])
        );
        let err = Selection::parse(&[]).unwrap_err().to_string();
        assert!(err.contains("--all"), "{err}");
        let err = Selection::parse(&args(&[&id, "all"]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("`all` is not an event id"), "{err}");
    }
}
