//! A retry budget, as Finagle's `RetryBudget` and Envoy's retry budgets keep one: retries may
//! add at most a share of the first attempts made in the last [`WINDOW`], plus a small floor a
//! second, so that a failing dependency sees its load grow by that share instead of multiplying
//! by the attempts. Each client keeps its own: an HTTP client per upstream and replica, a
//! consumer per subscription and replica. The architecture verification counts load with
//! exactly this bound ([`topics::RETRY_BUDGET`](crate::topics::RETRY_BUDGET)).

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How long first attempts and retries count against the budget.
pub const WINDOW: Duration = Duration::from_secs(SLOTS as u64);

/// One-second slots in the window.
const SLOTS: usize = 10;

/// The size of a budget: the model's `retry_budget`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries allowed per hundred first attempts.
    pub percent: u32,
    /// Retries allowed a second whatever the traffic, so a quiet client can still retry.
    pub min_per_second: u32,
}

/// Counts first attempts and retries over the last [`WINDOW`] and says whether one more retry
/// fits. Cheap enough for every request: one uncontended lock around ten counters.
#[derive(Debug)]
pub struct RetryBudget {
    policy: RetryPolicy,
    start: Instant,
    slots: Mutex<[Slot; SLOTS]>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Slot {
    /// Seconds since the budget was made; the slot counts for that second only.
    second: u64,
    requests: u64,
    retries: u64,
}

impl RetryBudget {
    /// An empty budget of `policy`.
    #[must_use]
    pub fn new(policy: RetryPolicy) -> Self {
        Self {
            policy,
            start: Instant::now(),
            slots: Mutex::new([Slot::default(); SLOTS]),
        }
    }

    /// Counts a first attempt: it earns `percent` / 100 of a retry.
    pub fn request(&self) {
        self.request_at(Instant::now());
    }

    /// Whether one more retry fits the budget now; if it does, it is counted.
    pub fn try_retry(&self) -> bool {
        self.try_retry_at(Instant::now())
    }

    fn second(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.start).as_secs()
    }

    fn request_at(&self, now: Instant) {
        let second = self.second(now);
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        current(&mut slots, second).requests += 1;
    }

    fn try_retry_at(&self, now: Instant) -> bool {
        let second = self.second(now);
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        let (requests, retries) = slots
            .iter()
            .filter(|s| s.second <= second && s.second + SLOTS as u64 > second)
            .fold((0, 0), |(q, r), s| (q + s.requests, r + s.retries));
        let allowed = requests * u64::from(self.policy.percent) / 100
            + u64::from(self.policy.min_per_second) * SLOTS as u64;
        if retries >= allowed {
            return false;
        }
        current(&mut slots, second).retries += 1;
        true
    }
}

/// The slot of `second`, emptied first if it still holds an older second.
fn current(slots: &mut [Slot; SLOTS], second: u64) -> &mut Slot {
    #[allow(
        clippy::cast_possible_truncation,
        reason = "the remainder is below SLOTS"
    )]
    let slot = &mut slots[(second % SLOTS as u64) as usize];
    if slot.second != second {
        *slot = Slot {
            second,
            ..Slot::default()
        };
    }
    slot
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: RetryPolicy = RetryPolicy {
        percent: 20,
        min_per_second: 1,
    };

    fn retries_allowed(budget: &RetryBudget, at: Instant) -> usize {
        (0..10_000).take_while(|_| budget.try_retry_at(at)).count()
    }

    #[test]
    fn a_quiet_client_may_retry_only_its_floor() {
        let budget = RetryBudget::new(POLICY);
        let now = budget.start;
        assert_eq!(retries_allowed(&budget, now), 10, "1 a second over 10 s");
    }

    #[test]
    fn retries_are_bounded_by_a_share_of_the_first_attempts() {
        let budget = RetryBudget::new(POLICY);
        let now = budget.start + Duration::from_millis(500);
        for _ in 0..1_000 {
            budget.request_at(now);
        }
        assert_eq!(retries_allowed(&budget, now), 200 + 10);
        assert!(!budget.try_retry_at(now), "spent");
    }

    #[test]
    fn the_window_forgets_what_is_older_than_ten_seconds() {
        let budget = RetryBudget::new(POLICY);
        let start = budget.start;
        for _ in 0..1_000 {
            budget.request_at(start);
        }
        assert_eq!(retries_allowed(&budget, start), 210);
        // Nine seconds on, the first second still counts: nothing more is allowed.
        let nine = start + Duration::from_secs(9);
        assert!(!budget.try_retry_at(nine));
        // Ten seconds on, its requests and retries are gone: only the floor is left.
        let ten = start + Duration::from_secs(10);
        assert_eq!(retries_allowed(&budget, ten), 10);
    }
}
