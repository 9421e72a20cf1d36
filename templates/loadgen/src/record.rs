//! What the run observed, as it happens: per entry path an HDR histogram of the latencies of
//! successful answers (from the intended start, in microseconds) and the failures by status
//! or kind; how late requests went out; and per second of the run the answers completed and
//! the latencies of the requests due in it. No I/O; [`crate::report`] summarises it.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::api::Failure;

/// The longest latency told apart from longer ones: an hour, in microseconds.
const HIGHEST_US: u64 = 3_600_000_000;

/// A histogram of microseconds from 1 µs to an hour, with `digits` significant digits.
#[must_use]
pub fn histogram(digits: u8) -> Histogram<u64> {
    Histogram::new_with_bounds(1, HIGHEST_US, digits).expect("the bounds are valid")
}

/// Records `value` in `histogram` in microseconds, an hour or more as an hour.
pub fn record(histogram: &mut Histogram<u64>, value: Duration) {
    let micros = u64::try_from(value.as_micros()).unwrap_or(u64::MAX);
    histogram.saturating_record(micros.clamp(1, HIGHEST_US));
}

/// One entry path's answers.
#[derive(Debug, Clone)]
pub struct EntryRecord {
    /// Latencies of the successful answers.
    pub latency: Histogram<u64>,
    /// Failures by [`Failure::label`].
    pub errors: BTreeMap<String, u64>,
}

/// One second of the run.
#[derive(Debug, Clone)]
pub struct SecondRecord {
    /// Latencies of the successful requests due in this second.
    pub latency: Histogram<u64>,
    /// Successful answers completed in this second.
    pub ok: u64,
    /// Failed requests completed (or given up) in this second.
    pub errors: u64,
}

/// Everything observed so far.
#[derive(Debug, Clone)]
pub struct Recorder {
    /// Per entry path, in the order of the mix.
    pub entries: Vec<EntryRecord>,
    /// How late each request went out after its intended start.
    pub lag: Histogram<u64>,
    /// Per second since the start.
    pub seconds: Vec<SecondRecord>,
}

impl Recorder {
    /// Nothing recorded yet, for `entries` entry paths.
    #[must_use]
    pub fn new(entries: usize) -> Self {
        Self {
            entries: (0..entries)
                .map(|_| EntryRecord {
                    latency: histogram(3),
                    errors: BTreeMap::new(),
                })
                .collect(),
            lag: histogram(3),
            seconds: Vec::new(),
        }
    }

    /// A request went out `lag` after its intended start.
    pub fn sent(&mut self, lag: Duration) {
        record(&mut self.lag, lag);
    }

    /// A request of `entry`, due `due` after the start, finished `done` after the start.
    pub fn done(
        &mut self,
        entry: usize,
        due: Duration,
        done: Duration,
        outcome: Result<(), &Failure>,
    ) {
        let latency = done.saturating_sub(due);
        match outcome {
            Ok(()) => {
                record(&mut self.entries[entry].latency, latency);
                record(&mut self.second(due).latency, latency);
                self.second(done).ok += 1;
            }
            Err(failure) => {
                *self.entries[entry]
                    .errors
                    .entry(failure.label())
                    .or_default() += 1;
                self.second(done).errors += 1;
            }
        }
    }

    fn second(&mut self, at: Duration) -> &mut SecondRecord {
        let index = usize::try_from(at.as_secs()).unwrap_or(usize::MAX);
        while self.seconds.len() <= index {
            self.seconds.push(SecondRecord {
                latency: histogram(2),
                ok: 0,
                errors: 0,
            });
        }
        &mut self.seconds[index]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn latency_counts_from_the_intended_start_not_from_the_send() {
        let mut recorder = Recorder::new(1);
        // Due at 1.0 s, answered at 1.25 s: 250 ms, however late it went out.
        recorder.done(0, ms(1_000), ms(1_250), Ok(()));
        let latency = &recorder.entries[0].latency;
        assert_eq!(latency.len(), 1);
        assert_eq!(latency.max() / 1_000, 250);
    }

    #[test]
    fn failures_are_counted_by_label_and_not_in_the_latencies() {
        let mut recorder = Recorder::new(2);
        recorder.done(1, ms(0), ms(5), Err(&Failure::Status(500)));
        recorder.done(1, ms(0), ms(5), Err(&Failure::Status(500)));
        recorder.done(1, ms(0), ms(5), Err(&Failure::Timeout));
        recorder.done(1, ms(0), ms(5), Ok(()));
        let entry = &recorder.entries[1];
        assert_eq!(entry.latency.len(), 1);
        assert_eq!(
            entry.errors,
            BTreeMap::from([("500".to_owned(), 2), ("timeout".to_owned(), 1)])
        );
        assert!(recorder.entries[0].errors.is_empty());
    }

    #[test]
    fn throughput_counts_by_completion_second_and_latency_by_due_second() {
        let mut recorder = Recorder::new(1);
        recorder.done(0, ms(900), ms(2_100), Ok(()));
        recorder.done(0, ms(2_000), ms(2_500), Err(&Failure::Timeout));
        assert_eq!(recorder.seconds.len(), 3);
        assert_eq!(recorder.seconds[0].latency.len(), 1, "due in second 0");
        assert_eq!(recorder.seconds[0].ok, 0);
        assert_eq!(recorder.seconds[2].ok, 1, "completed in second 2");
        assert_eq!(recorder.seconds[2].errors, 1);
    }

    #[test]
    fn extreme_latencies_are_clamped_not_lost() {
        let mut h = histogram(3);
        record(&mut h, Duration::ZERO);
        record(&mut h, Duration::from_secs(10_000));
        assert_eq!(h.len(), 2);
        assert_eq!(h.min(), 1);
        assert!(h.max() >= HIGHEST_US);
    }
}
