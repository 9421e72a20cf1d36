//! Rate limits per key by GCRA, the generic cell rate algorithm: a token bucket kept as one
//! timestamp per key, the time at which the key's allowance is spent. In one process the keys
//! live in `governor`'s keyed limiter; when replicas share their limits, in Redis, updated by
//! one Lua script that Redis runs atomically on its own clock, so every replica sees the same
//! allowance whichever replica a request reaches. Keys expire once their bucket is full again.
//!
//! When Redis fails or does not answer within [`REDIS_BUDGET`], the request is judged by this
//! replica's own limiter: neither fail-open (a Redis outage, or an attacker who causes one,
//! would lift the password-guessing limits) nor fail-closed (the limiter's cache would take
//! the whole API down with it). Each replica then allows what one gateway allows, so the
//! fleet allows at most `replicas` times the limits until Redis answers again; the switch
//! both ways is logged once.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use redis::Script;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::config::{RateLimitSettings, Settings, SharedLimits};

/// How long a request waits for Redis's verdict before this replica judges it alone.
pub const REDIS_BUDGET: Duration = Duration::from_millis(250);

/// How long connecting to Redis at start-up may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Which limit a request is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Every request, per signed-in user, else per client address.
    Requests,
    /// Sign-in, sign-up and password-reset requests per client address.
    CredentialsPerAddress,
    /// Sign-in, sign-up and password-reset requests per account.
    CredentialsPerAccount,
}

impl Limit {
    /// Its part of a Redis key and of the log line of a refusal.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Requests => "requests",
            Self::CredentialsPerAddress => "credentials",
            Self::CredentialsPerAccount => "account",
        }
    }
}

/// The governor quota of `limit`: `burst` at once, one more every `interval`.
fn quota(limit: RateLimitSettings) -> Quota {
    let burst = NonZeroU32::new(limit.burst).unwrap_or(NonZeroU32::MIN);
    Quota::with_period(limit.interval())
        .expect("an interval is at least a nanosecond")
        .allow_burst(burst)
}

/// One limit over many keys, in this process. Above `max_keys` keys, those whose bucket is
/// full again (indistinguishable from a new key) are forgotten.
pub struct LocalLimiter<C: Clock = DefaultClock> {
    limiter: RateLimiter<String, DefaultKeyedStateStore<String>, C, NoOpMiddleware<C::Instant>>,
    max_keys: usize,
    checks: AtomicU64,
}

/// How many checks pass between two looks at the number of keys.
const SWEEP_EVERY: u64 = 256;

impl LocalLimiter {
    /// `limit` per key on the monotonic clock.
    #[must_use]
    pub fn new(limit: RateLimitSettings) -> Self {
        Self::with_clock(limit, DefaultClock::default())
    }
}

impl<C: Clock> LocalLimiter<C> {
    /// `limit` per key on `clock` (tests pass a fake one).
    #[must_use]
    pub fn with_clock(limit: RateLimitSettings, clock: C) -> Self {
        Self {
            limiter: RateLimiter::dashmap_with_clock(quota(limit), clock),
            max_keys: 100_000,
            checks: AtomicU64::new(0),
        }
    }

    /// The same limiter forgetting idle keys beyond `max_keys`.
    #[must_use]
    pub fn with_max_keys(mut self, max_keys: usize) -> Self {
        self.max_keys = max_keys;
        self
    }

    /// Counts a request of `key`; if its allowance is spent, how long until it is not.
    pub fn check(&self, key: &str) -> Result<(), Duration> {
        if self
            .checks
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(SWEEP_EVERY)
            && self.limiter.len() > self.max_keys
        {
            self.limiter.retain_recent();
            self.limiter.shrink_to_fit();
        }
        self.limiter
            .check_key(&key.to_owned())
            .map_err(|refused| refused.wait_time_from(self.limiter.clock().now()))
    }

    /// How many keys are tracked.
    #[must_use]
    pub fn tracked(&self) -> usize {
        self.limiter.len()
    }
}

/// GCRA over one key. `KEYS[1]` holds the key's theoretical arrival time (TAT) in
/// microseconds of Redis's clock; `ARGV[1]` is the interval between requests at the sustained
/// rate (µs, at least 1), `ARGV[2]` the burst. A request conforms when, counted, the key's
/// backlog (TAT − now) stays within `burst` intervals: then it is recorded, with a TTL that
/// ends when the backlog does, and the script answers 0; otherwise nothing is written and it
/// answers the µs until the request would conform. `TIME` is Redis's clock, so replicas'
/// clocks never matter; `%d` keeps the 16-digit timestamps exact.
const GCRA: &str = r"
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local next_tat = tat + interval
local wait = next_tat - now - burst * interval
if wait > 0 then return wait end
local ttl_ms = math.ceil((next_tat - now) / 1000)
redis.call('SET', KEYS[1], string.format('%d', next_tat), 'PX', string.format('%d', ttl_ms))
return 0
";

/// The limits every replica shares, in Redis.
#[derive(Clone)]
pub struct RedisLimiter {
    redis: ConnectionManager,
    key_prefix: String,
    script: Script,
}

impl RedisLimiter {
    /// Connects to the Redis of `shared` (reconnecting on its own after a connection loss).
    /// Fails when it is unreachable, so that a wrong URL stops the deployment instead of
    /// leaving every replica limiting alone.
    pub async fn connect(shared: &SharedLimits) -> anyhow::Result<Self> {
        let client = redis::Client::open(shared.redis_url.as_str())
            .map_err(|err| anyhow::anyhow!("invalid API_GATEWAY_REDIS_URL: {err}"))?;
        // A few quick retries: the default backoff would stall start-up for minutes on an
        // unreachable Redis, and a request waits at most REDIS_BUDGET anyway.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(CONNECT_TIMEOUT)
            .set_response_timeout(REDIS_BUDGET)
            .set_number_of_retries(2)
            .set_max_delay(500);
        let redis = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(|err| anyhow::anyhow!("cannot connect to the rate-limit Redis: {err}"))?;
        Ok(Self {
            redis,
            key_prefix: shared.key_prefix.clone(),
            script: Script::new(GCRA),
        })
    }

    /// Counts a request of `key` against `limit` with `settings`; `Err(wait)` when refused.
    pub async fn check(
        &self,
        limit: Limit,
        settings: RateLimitSettings,
        key: &str,
    ) -> redis::RedisResult<Result<(), Duration>> {
        let interval_us = u64::try_from(settings.interval().as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        let wait_us: u64 = self
            .script
            .key(format!("{}{}:{key}", self.key_prefix, limit.name()))
            .arg(interval_us)
            .arg(settings.burst.max(1))
            .invoke_async(&mut self.redis.clone())
            .await?;
        Ok(match wait_us {
            0 => Ok(()),
            wait => Err(Duration::from_micros(wait)),
        })
    }
}

/// The gateway's three limits: in this process, or shared through Redis with this process's
/// limiters standing in while Redis fails.
pub struct Limiters {
    requests: (RateLimitSettings, LocalLimiter),
    credentials: (RateLimitSettings, LocalLimiter),
    accounts: (RateLimitSettings, LocalLimiter),
    shared: Option<RedisLimiter>,
    /// Whether the last shared check failed (to log the switch once, both ways).
    degraded: AtomicBool,
}

impl Limiters {
    /// The limits of `settings`, connected to their Redis when they are shared.
    pub async fn new(settings: &Settings) -> anyhow::Result<Self> {
        let shared = match &settings.shared_limits {
            Some(shared) => Some(RedisLimiter::connect(shared).await?),
            None => None,
        };
        Ok(Self::with_shared(settings, shared))
    }

    /// The limits of `settings`, shared through `shared` when there is one.
    #[must_use]
    pub fn with_shared(settings: &Settings, shared: Option<RedisLimiter>) -> Self {
        let local = |limit: RateLimitSettings| (limit, LocalLimiter::new(limit));
        Self {
            requests: local(settings.rate_limit),
            credentials: local(settings.credential_rate_limit),
            accounts: local(settings.account_rate_limit),
            shared,
            degraded: AtomicBool::new(false),
        }
    }

    /// Whether the limits are shared by every replica.
    #[must_use]
    pub fn is_shared(&self) -> bool {
        self.shared.is_some()
    }

    /// Counts a request of `key` against `limit`; `Err(wait)` when the key's allowance is
    /// spent. Shared limits are asked of Redis, and of this replica's limiter when Redis
    /// fails or takes longer than [`REDIS_BUDGET`].
    pub async fn check(&self, limit: Limit, key: &str) -> Result<(), Duration> {
        let (settings, local) = match limit {
            Limit::Requests => &self.requests,
            Limit::CredentialsPerAddress => &self.credentials,
            Limit::CredentialsPerAccount => &self.accounts,
        };
        let Some(shared) = &self.shared else {
            return local.check(key);
        };
        let verdict = tokio::time::timeout(REDIS_BUDGET, shared.check(limit, *settings, key))
            .await
            .map_err(|_| format!("no answer within {} ms", REDIS_BUDGET.as_millis()))
            .and_then(|answer| answer.map_err(|err| err.to_string()));
        match verdict {
            Ok(verdict) => {
                if self.degraded.swap(false, Ordering::Relaxed) {
                    tracing::info!("the rate-limit Redis answers again: limits are shared");
                }
                verdict
            }
            Err(error) => {
                if !self.degraded.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        %error,
                        "the rate-limit Redis failed: each replica limits on its own until it answers"
                    );
                }
                local.check(key)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use governor::clock::FakeRelativeClock;

    use super::*;

    fn limiter(
        per_second: f64,
        burst: u32,
    ) -> (LocalLimiter<FakeRelativeClock>, FakeRelativeClock) {
        let clock = FakeRelativeClock::default();
        let limit = RateLimitSettings { per_second, burst };
        (LocalLimiter::with_clock(limit, clock.clone()), clock)
    }

    #[test]
    fn a_burst_is_allowed_then_requests_wait_for_the_sustained_rate() {
        let (limiter, clock) = limiter(2.0, 3);
        for _ in 0..3 {
            assert!(limiter.check("ada").is_ok());
        }
        assert_eq!(limiter.check("ada"), Err(Duration::from_millis(500)));
        clock.advance(Duration::from_millis(500));
        assert!(limiter.check("ada").is_ok());
        assert!(limiter.check("ada").is_err());
    }

    #[test]
    fn keys_have_separate_allowances() {
        let (limiter, _) = limiter(1.0, 1);
        assert!(limiter.check("ada").is_ok());
        assert!(limiter.check("ada").is_err());
        assert!(limiter.check("bob").is_ok());
    }

    #[test]
    fn an_idle_key_never_saves_up_more_than_the_burst() {
        let (limiter, clock) = limiter(100.0, 2);
        limiter.check("ada").unwrap();
        clock.advance(Duration::from_secs(3600));
        assert!(limiter.check("ada").is_ok());
        assert!(limiter.check("ada").is_ok());
        assert!(limiter.check("ada").is_err());
    }

    #[test]
    fn idle_keys_are_forgotten_when_too_many_are_tracked() {
        let (limiter, clock) = limiter(1.0, 5);
        let limiter = limiter.with_max_keys(10);
        for client in 0..100 {
            limiter.check(&format!("client-{client}")).unwrap();
        }
        assert_eq!(limiter.tracked(), 100, "busy keys are kept");
        // Ten seconds later every bucket is full again: forgetting them loses nothing.
        clock.advance(Duration::from_secs(10));
        for _ in 0..SWEEP_EVERY {
            let _ = limiter.check("busy");
        }
        assert_eq!(limiter.tracked(), 1);
    }

    #[test]
    fn a_slow_limit_has_a_long_wait() {
        let (limiter, _) = limiter(1.0 / 60.0, 1);
        limiter.check("ada").unwrap();
        assert_eq!(limiter.check("ada"), Err(Duration::from_secs(60)));
    }
}
