//! Which offsets a Kafka consumer may commit when records finish out of order: per partition,
//! the offsets handed to handlers and whether each is done. The committable position is one
//! past the longest done prefix, so a commit never covers a record still being handled (a
//! crash redelivers it), however far ahead later records of the partition have got.

use std::collections::{BTreeMap, HashMap};

/// A topic (as the broker names it) and a partition.
pub type Partition = (String, i32);

/// The offsets in flight per partition, and what was committed last.
#[derive(Debug, Default)]
pub struct Progress {
    partitions: HashMap<Partition, Track>,
}

#[derive(Debug, Default)]
struct Track {
    /// Handed out and not yet below the committed position: offset → done.
    open: BTreeMap<i64, bool>,
    /// The next offset to commit once everything before it is done.
    position: Option<i64>,
    /// The position last committed (or handed to a commit).
    committed: Option<i64>,
}

impl Progress {
    /// Records that `offset` of `partition` was handed to a handler.
    pub fn started(&mut self, partition: &Partition, offset: i64) {
        let track = self.partitions.entry(partition.clone()).or_default();
        track.open.entry(offset).or_insert(false);
    }

    /// Records that the handler finished `offset` of `partition` (handled or dead-lettered).
    pub fn finished(&mut self, partition: &Partition, offset: i64) {
        let Some(track) = self.partitions.get_mut(partition) else {
            return;
        };
        if let Some(done) = track.open.get_mut(&offset) {
            *done = true;
        }
        while let Some(entry) = track.open.first_entry() {
            if !*entry.get() {
                break;
            }
            let (offset, _) = entry.remove_entry();
            track.position = Some(offset + 1);
        }
    }

    /// The positions that moved since the last call: `(partition, next offset)` to commit.
    pub fn advanced(&mut self) -> Vec<(Partition, i64)> {
        let mut moved: Vec<(Partition, i64)> = self
            .partitions
            .iter_mut()
            .filter_map(|(partition, track)| {
                let position = track.position?;
                if track
                    .committed
                    .is_some_and(|committed| committed >= position)
                {
                    return None;
                }
                track.committed = Some(position);
                Some((partition.clone(), position))
            })
            .collect();
        moved.sort();
        moved
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(n: i32) -> Partition {
        ("orders".to_owned(), n)
    }

    #[test]
    fn commits_only_the_done_prefix_of_each_partition() {
        let mut progress = Progress::default();
        for offset in 10..15 {
            progress.started(&p(0), offset);
        }
        progress.started(&p(1), 3);
        progress.finished(&p(0), 12);
        progress.finished(&p(0), 13);
        assert!(progress.advanced().is_empty(), "10 is still running");
        progress.finished(&p(0), 10);
        assert_eq!(progress.advanced(), vec![(p(0), 11)]);
        progress.finished(&p(0), 11);
        progress.finished(&p(1), 3);
        assert_eq!(
            progress.advanced(),
            vec![(p(0), 14), (p(1), 4)],
            "offset 14 runs on"
        );
        assert!(progress.advanced().is_empty(), "nothing moved since");
    }

    #[test]
    fn a_record_read_again_after_a_rebalance_holds_the_position_until_it_is_done() {
        let mut progress = Progress::default();
        progress.started(&p(0), 5);
        progress.finished(&p(0), 5);
        assert_eq!(progress.advanced(), vec![(p(0), 6)]);
        // The partition came back from the last committed position, 4 was never committed by us.
        progress.started(&p(0), 4);
        progress.started(&p(0), 5);
        progress.finished(&p(0), 5);
        assert!(progress.advanced().is_empty());
        progress.finished(&p(0), 4);
        assert!(
            progress.advanced().is_empty(),
            "6 was committed already; nothing goes backwards"
        );
    }

    #[test]
    fn finishing_an_unknown_offset_changes_nothing() {
        let mut progress = Progress::default();
        progress.finished(&p(0), 1);
        progress.started(&p(0), 2);
        progress.finished(&p(0), 1);
        assert!(progress.advanced().is_empty());
        progress.finished(&p(0), 2);
        assert_eq!(progress.advanced(), vec![(p(0), 3)]);
    }
}
