//! A circuit breaker per upstream: closed while the upstream answers; open after
//! `failure_threshold` consecutive failures, refusing calls for `cool_down`; then half-open,
//! letting one trial call through whose outcome closes or re-opens it. Pure: time is passed in.

use std::time::{Duration, Instant};

/// Where the breaker stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed {
        consecutive_failures: u32,
    },
    Open {
        until: Instant,
    },
    /// A trial call is under way since `trial_started`. If its outcome never arrives (the
    /// caller went away), another trial is allowed after a further cool-down.
    HalfOpen {
        trial_started: Instant,
    },
}

/// The breaker of one upstream.
#[derive(Debug, Clone)]
pub struct CircuitBreaker {
    failure_threshold: u32,
    cool_down: Duration,
    state: BreakerState,
}

impl CircuitBreaker {
    /// A closed breaker opening after `failure_threshold` (at least 1) consecutive failures.
    #[must_use]
    pub fn new(failure_threshold: u32, cool_down: Duration) -> Self {
        Self {
            failure_threshold: failure_threshold.max(1),
            cool_down,
            state: BreakerState::Closed {
                consecutive_failures: 0,
            },
        }
    }

    #[must_use]
    pub fn state(&self) -> BreakerState {
        self.state
    }

    /// Whether a call may go out at `now`; if not, how long until one may.
    pub fn try_acquire(&mut self, now: Instant) -> Result<(), Duration> {
        match self.state {
            BreakerState::Closed { .. } => Ok(()),
            BreakerState::Open { until } if now < until => Err(until - now),
            BreakerState::Open { .. } => {
                self.state = BreakerState::HalfOpen { trial_started: now };
                Ok(())
            }
            BreakerState::HalfOpen { trial_started } => {
                let next_trial = trial_started + self.cool_down;
                if now < next_trial {
                    Err(next_trial - now)
                } else {
                    self.state = BreakerState::HalfOpen { trial_started: now };
                    Ok(())
                }
            }
        }
    }

    /// A call succeeded: the circuit closes and the failure count restarts.
    pub fn record_success(&mut self) {
        self.state = BreakerState::Closed {
            consecutive_failures: 0,
        };
    }

    /// A call failed at `now`.
    pub fn record_failure(&mut self, now: Instant) {
        self.state = match self.state {
            BreakerState::Closed {
                consecutive_failures,
            } if consecutive_failures + 1 < self.failure_threshold => BreakerState::Closed {
                consecutive_failures: consecutive_failures + 1,
            },
            BreakerState::Closed { .. } | BreakerState::HalfOpen { .. } => BreakerState::Open {
                until: now + self.cool_down,
            },
            // A call admitted before the circuit opened failed late: it stays open as it was.
            open @ BreakerState::Open { .. } => open,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COOL_DOWN: Duration = Duration::from_secs(10);

    fn failed_times(breaker: &mut CircuitBreaker, times: u32, now: Instant) {
        for _ in 0..times {
            breaker.try_acquire(now).unwrap();
            breaker.record_failure(now);
        }
    }

    #[test]
    fn opens_after_the_threshold_of_consecutive_failures() {
        let now = Instant::now();
        let mut breaker = CircuitBreaker::new(3, COOL_DOWN);
        failed_times(&mut breaker, 2, now);
        assert!(
            breaker.try_acquire(now).is_ok(),
            "two failures: still closed"
        );
        breaker.record_failure(now);
        assert_eq!(breaker.try_acquire(now), Err(COOL_DOWN));
        assert_eq!(
            breaker.try_acquire(now + Duration::from_secs(4)),
            Err(Duration::from_secs(6))
        );
    }

    #[test]
    fn a_success_resets_the_count() {
        let now = Instant::now();
        let mut breaker = CircuitBreaker::new(3, COOL_DOWN);
        failed_times(&mut breaker, 2, now);
        breaker.record_success();
        failed_times(&mut breaker, 2, now);
        assert!(breaker.try_acquire(now).is_ok());
    }

    #[test]
    fn after_the_cool_down_one_trial_goes_through_and_its_success_closes() {
        let start = Instant::now();
        let mut breaker = CircuitBreaker::new(1, COOL_DOWN);
        failed_times(&mut breaker, 1, start);
        let later = start + COOL_DOWN;
        assert!(breaker.try_acquire(later).is_ok(), "the trial");
        assert!(
            breaker.try_acquire(later).is_err(),
            "only one trial at a time"
        );
        breaker.record_success();
        assert_eq!(
            breaker.state(),
            BreakerState::Closed {
                consecutive_failures: 0
            }
        );
        assert!(breaker.try_acquire(later).is_ok());
    }

    #[test]
    fn a_failed_trial_opens_the_circuit_for_another_cool_down() {
        let start = Instant::now();
        let mut breaker = CircuitBreaker::new(1, COOL_DOWN);
        failed_times(&mut breaker, 1, start);
        let trial = start + COOL_DOWN;
        breaker.try_acquire(trial).unwrap();
        breaker.record_failure(trial);
        assert_eq!(
            breaker.state(),
            BreakerState::Open {
                until: trial + COOL_DOWN
            }
        );
        assert!(breaker.try_acquire(trial + COOL_DOWN / 2).is_err());
    }

    #[test]
    fn a_trial_that_never_reports_back_is_replaced_after_a_cool_down() {
        let start = Instant::now();
        let mut breaker = CircuitBreaker::new(1, COOL_DOWN);
        failed_times(&mut breaker, 1, start);
        breaker.try_acquire(start + COOL_DOWN).unwrap();
        assert!(breaker.try_acquire(start + COOL_DOWN * 2).is_ok());
    }

    #[test]
    fn a_late_failure_does_not_extend_an_open_circuit() {
        let start = Instant::now();
        let mut breaker = CircuitBreaker::new(1, COOL_DOWN);
        failed_times(&mut breaker, 1, start);
        breaker.record_failure(start + Duration::from_secs(5));
        assert_eq!(
            breaker.state(),
            BreakerState::Open {
                until: start + COOL_DOWN
            }
        );
    }
}
