//! Token-bucket rate limiting per client key: each key holds up to `burst` tokens, refilled
//! at `per_second`; a request takes one. Pure: time is passed in.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// One client's bucket.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// Buckets for every client seen recently.
#[derive(Debug)]
pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    /// Above this many keys, full buckets (indistinguishable from new ones) are dropped.
    max_keys: usize,
    buckets: HashMap<String, Bucket>,
}

impl RateLimiter {
    /// `per_second` sustained (positive), bursts of `burst` (at least 1).
    #[must_use]
    pub fn new(per_second: f64, burst: u32) -> Self {
        Self {
            per_second: per_second.max(f64::MIN_POSITIVE),
            burst: f64::from(burst.max(1)),
            max_keys: 100_000,
            buckets: HashMap::new(),
        }
    }

    /// The same limiter forgetting idle clients beyond `max_keys` keys.
    #[must_use]
    pub fn with_max_keys(mut self, max_keys: usize) -> Self {
        self.max_keys = max_keys;
        self
    }

    /// Takes a token for `key` at `now`; if none is left, how long until one is.
    pub fn check(&mut self, key: &str, now: Instant) -> Result<(), Duration> {
        if self.buckets.len() >= self.max_keys && !self.buckets.contains_key(key) {
            self.forget_idle(now);
        }
        let (per_second, burst) = (self.per_second, self.burst);
        let bucket = self.buckets.entry(key.to_owned()).or_insert(Bucket {
            tokens: burst,
            updated: now,
        });
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * per_second).min(burst);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / per_second))
        }
    }

    /// How many clients are tracked.
    #[must_use]
    pub fn tracked(&self) -> usize {
        self.buckets.len()
    }

    fn forget_idle(&mut self, now: Instant) {
        let (per_second, burst) = (self.per_second, self.burst);
        self.buckets.retain(|_, bucket| {
            let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
            bucket.tokens + elapsed * per_second < burst
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_allowed_then_requests_wait_for_refill() {
        let now = Instant::now();
        let mut limiter = RateLimiter::new(2.0, 3);
        for _ in 0..3 {
            assert!(limiter.check("ada", now).is_ok());
        }
        assert_eq!(limiter.check("ada", now), Err(Duration::from_millis(500)));
        assert!(
            limiter
                .check("ada", now + Duration::from_millis(500))
                .is_ok()
        );
        assert!(
            limiter
                .check("ada", now + Duration::from_millis(500))
                .is_err()
        );
    }

    #[test]
    fn clients_have_separate_buckets() {
        let now = Instant::now();
        let mut limiter = RateLimiter::new(1.0, 1);
        assert!(limiter.check("ada", now).is_ok());
        assert!(limiter.check("ada", now).is_err());
        assert!(limiter.check("bob", now).is_ok());
    }

    #[test]
    fn refill_never_exceeds_the_burst() {
        let now = Instant::now();
        let mut limiter = RateLimiter::new(100.0, 2);
        limiter.check("ada", now).unwrap();
        let much_later = now + Duration::from_secs(3600);
        assert!(limiter.check("ada", much_later).is_ok());
        assert!(limiter.check("ada", much_later).is_ok());
        assert!(limiter.check("ada", much_later).is_err());
    }

    #[test]
    fn idle_clients_are_forgotten_when_too_many_are_tracked() {
        let now = Instant::now();
        let mut limiter = RateLimiter::new(1.0, 5).with_max_keys(2);
        limiter.check("ada", now).unwrap();
        limiter.check("bob", now).unwrap();
        // Ten seconds later both buckets are full again: forgetting them loses nothing.
        limiter.check("cid", now + Duration::from_secs(10)).unwrap();
        assert_eq!(limiter.tracked(), 1);
        // A busy client is kept.
        let mut limiter = RateLimiter::new(1.0, 5).with_max_keys(2);
        limiter.check("ada", now).unwrap();
        limiter.check("bob", now).unwrap();
        limiter.check("cid", now).unwrap();
        assert_eq!(limiter.tracked(), 3);
    }
}
