//! The open-loop schedule: which entry path each request takes and when it is meant to start,
//! fixed before the first request is sent. Request `i` is due `i / rate` seconds after the
//! start whatever happened to the ones before it, so a slow answer cannot thin out the load
//! (coordinated omission); its latency is counted from that intended start. Pure arithmetic:
//! no clock, no randomness.

use std::time::Duration;

const NANOS_PER_SECOND: u128 = 1_000_000_000;

/// Every request of a run, in order of intended start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    rate: u32,
    picks: Vec<usize>,
}

impl Schedule {
    /// `rate` requests per second for `duration`, each entry path getting its share of
    /// `weights`, the shares spread evenly over the run.
    #[must_use]
    pub fn new(rate: u32, duration: Duration, weights: &[u64]) -> Self {
        let count = u128::from(rate) * duration.as_nanos() / NANOS_PER_SECOND;
        let count = usize::try_from(count).expect("a run's request count fits in memory");
        Self {
            rate,
            picks: interleave(weights, count),
        }
    }

    /// How many requests the run starts.
    #[must_use]
    pub fn len(&self) -> usize {
        self.picks.len()
    }

    /// Whether the run starts no request at all.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.picks.is_empty()
    }

    /// When request `i` is due, after the start: `i / rate` seconds, computed from `i` so that
    /// rounding never accumulates.
    #[must_use]
    pub fn offset(&self, i: usize) -> Duration {
        let nanos = (i as u128) * NANOS_PER_SECOND / u128::from(self.rate.max(1));
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// The entry path (index into the weights) request `i` takes.
    #[must_use]
    pub fn entry(&self, i: usize) -> usize {
        self.picks[i]
    }

    /// How many requests take entry path `entry`.
    #[must_use]
    pub fn count(&self, entry: usize) -> usize {
        self.picks.iter().filter(|&&e| e == entry).count()
    }
}

/// Smooth weighted round-robin (as nginx balances upstreams): `n` picks of the indices of
/// `weights`, each index within one of its exact share `n × weight / total` at every prefix,
/// and consecutive picks of one index as far apart as the weights allow. Zero weights are
/// never picked; with no positive weight there is nothing to pick.
#[must_use]
pub fn interleave(weights: &[u64], n: usize) -> Vec<usize> {
    let total: i128 = weights.iter().map(|&w| i128::from(w)).sum();
    if total == 0 {
        return Vec::new();
    }
    let mut current = vec![0_i128; weights.len()];
    let mut picks = Vec::with_capacity(n);
    for _ in 0..n {
        for (c, &w) in current.iter_mut().zip(weights) {
            *c += i128::from(w);
        }
        let (best, _) = current
            .iter()
            .enumerate()
            .filter(|&(i, _)| weights[i] > 0)
            .max_by(|(i, a), (j, b)| a.cmp(b).then(j.cmp(i)))
            .expect("some weight is positive");
        current[best] -= total;
        picks.push(best);
    }
    picks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_count_is_rate_times_duration() {
        let schedule = Schedule::new(50, Duration::from_secs(10), &[1]);
        assert_eq!(schedule.len(), 500);
        assert_eq!(
            Schedule::new(3, Duration::from_millis(2_500), &[1]).len(),
            7
        );
        assert!(Schedule::new(50, Duration::from_millis(10), &[1]).is_empty());
    }

    #[test]
    fn intended_starts_are_evenly_spaced_and_never_drift() {
        let schedule = Schedule::new(3, Duration::from_secs(1_000), &[1]);
        assert_eq!(schedule.offset(0), Duration::ZERO);
        assert_eq!(schedule.offset(1), Duration::from_nanos(333_333_333));
        assert_eq!(schedule.offset(2), Duration::from_nanos(666_666_666));
        assert_eq!(schedule.offset(3), Duration::from_secs(1));
        // After 1 000 s at 3/s the 3 000th request is due at exactly 1 000 s: no rounding
        // error has piled up.
        assert_eq!(schedule.offset(3_000), Duration::from_secs(1_000));
    }

    #[test]
    fn each_entry_gets_its_share_of_the_weights() {
        // The reference platform's mix at peak: browse 20 000, add to cart 3 000, checkout
        // and login 1 000 each.
        let weights = [1_000, 20_000, 3_000, 1_000];
        let schedule = Schedule::new(50, Duration::from_secs(10), &weights);
        let counts: Vec<usize> = (0..4).map(|e| schedule.count(e)).collect();
        assert_eq!(counts, [20, 400, 60, 20]);
    }

    #[test]
    fn every_prefix_is_within_one_of_its_exact_share() {
        let weights = [7_u64, 3, 1, 0, 5];
        let total: u64 = weights.iter().sum();
        let picks = interleave(&weights, 1_000);
        let mut seen = [0_u64; 5];
        for (k, &pick) in picks.iter().enumerate() {
            seen[pick] += 1;
            let n = u64::try_from(k).unwrap() + 1;
            for (entry, &w) in weights.iter().enumerate() {
                let exact = n * w;
                let got = seen[entry] * total;
                assert!(
                    got.abs_diff(exact) <= total,
                    "after {n} picks entry {entry} has {} of an exact {exact}/{total}",
                    seen[entry],
                );
            }
        }
        assert_eq!(seen[3], 0, "a zero weight is never picked");
    }

    #[test]
    fn a_rare_entry_is_spread_out_not_bunched() {
        let picks = interleave(&[1, 9], 100);
        let rare: Vec<usize> = (0..100).filter(|&i| picks[i] == 0).collect();
        assert_eq!(rare.len(), 10);
        for pair in rare.windows(2) {
            assert_eq!(pair[1] - pair[0], 10, "{rare:?}");
        }
    }

    #[test]
    fn no_positive_weight_picks_nothing() {
        assert!(interleave(&[0, 0], 10).is_empty());
        assert!(interleave(&[], 10).is_empty());
    }
}
