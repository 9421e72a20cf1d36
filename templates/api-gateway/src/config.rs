//! Gateway settings, read from `API_GATEWAY_*` environment variables (upstream URLs from each
//! unit's `<PREFIX>_URL`). How each upstream is called (timeouts, attempts, backoff) is not
//! configuration: it is the architecture model's (`platform::topology::CALLS`).

use std::time::Duration;

use platform::client::CallPolicy;
use platform::config::{ConfigError, env_or};
use platform::topology::{self, API_GATEWAY, Unit};

/// One service behind the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    /// The unit's name, used in errors and logs.
    pub name: String,
    /// Where it listens, e.g. `http://127.0.0.1:8001` (no trailing slash needed).
    pub base_url: String,
    /// The `/api/v1/...` path prefixes it owns.
    pub routes: Vec<String>,
    /// How reads (`GET`, `HEAD`) are sent: per-attempt timeout, attempts and backoff of the
    /// model's `api-gateway → unit GET` call.
    pub read: CallPolicy,
    /// Timeout of a write (every other method), from the model's `api-gateway → unit POST`
    /// call. Writes are sent once, never retried.
    pub write_timeout: Duration,
}

impl Upstream {
    /// `unit` at `base_url`, owning the unit's routes, called as the architecture model says.
    ///
    /// # Panics
    /// If the model lacks the gateway's `GET` or `POST` call to `unit`: routing to a unit the
    /// model does not connect to the gateway is a programming error.
    #[must_use]
    pub fn for_unit(unit: Unit, base_url: String) -> Self {
        let model = |method: &str| {
            CallPolicy::of(API_GATEWAY, unit, method).unwrap_or_else(|| {
                panic!(
                    "the architecture model has no {method} call from {} to {}",
                    API_GATEWAY.name, unit.name
                )
            })
        };
        Self {
            name: unit.name.to_owned(),
            base_url,
            routes: unit.routes.iter().map(|r| (*r).to_owned()).collect(),
            read: model("GET"),
            write_timeout: model("POST").timeout,
        }
    }
}

/// Token-bucket rate limit per client.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimitSettings {
    /// Sustained requests per second.
    pub per_second: f64,
    /// Requests allowed in a burst (bucket size).
    pub burst: u32,
}

/// Circuit breaker per upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerSettings {
    /// Consecutive failures that open the circuit.
    pub failure_threshold: u32,
    /// How long the circuit stays open before one trial request.
    pub cool_down: Duration,
}

/// Everything the gateway needs beyond [`platform::ServiceConfig`].
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub upstreams: Vec<Upstream>,
    pub rate_limit: RateLimitSettings,
    pub breaker: BreakerSettings,
    /// Origins allowed by CORS; `None` allows any origin (local development only).
    pub cors_origins: Option<Vec<String>>,
    /// Whether to take the client address from `x-forwarded-for` (only behind a proxy that
    /// sets it; otherwise clients could pick their own rate-limit bucket).
    pub trust_forwarded_for: bool,
    /// Largest request body forwarded.
    pub max_body_bytes: usize,
}

impl Default for Settings {
    /// Every service of the topology at its `base_url()`, called as the model says, and
    /// local-development limits.
    fn default() -> Self {
        Self {
            upstreams: topology::SERVICES
                .iter()
                .map(|unit| Upstream::for_unit(*unit, unit.base_url()))
                .collect(),
            rate_limit: RateLimitSettings {
                per_second: 20.0,
                burst: 40,
            },
            breaker: BreakerSettings {
                failure_threshold: 5,
                cool_down: Duration::from_secs(10),
            },
            cors_origins: None,
            trust_forwarded_for: false,
            max_body_bytes: 1024 * 1024,
        }
    }
}

fn invalid(key: &str, value: &dyn ToString, reason: &str) -> ConfigError {
    ConfigError {
        key: key.to_owned(),
        value: value.to_string(),
        reason: reason.to_owned(),
    }
}

impl Settings {
    /// Reads the variables listed in the README; unset ones keep their defaults.
    pub fn from_env() -> Result<Self, ConfigError> {
        let defaults = Self::default();
        let origins: String = env_or("API_GATEWAY_CORS_ORIGINS", String::new())?;
        let settings = Self {
            upstreams: defaults.upstreams,
            rate_limit: RateLimitSettings {
                per_second: env_or(
                    "API_GATEWAY_RATE_LIMIT_PER_SECOND",
                    defaults.rate_limit.per_second,
                )?,
                burst: env_or("API_GATEWAY_RATE_LIMIT_BURST", defaults.rate_limit.burst)?,
            },
            breaker: BreakerSettings {
                failure_threshold: env_or(
                    "API_GATEWAY_BREAKER_FAILURE_THRESHOLD",
                    defaults.breaker.failure_threshold,
                )?,
                cool_down: Duration::from_millis(env_or(
                    "API_GATEWAY_BREAKER_COOL_DOWN_MS",
                    u64::try_from(defaults.breaker.cool_down.as_millis()).unwrap_or(u64::MAX),
                )?),
            },
            cors_origins: parse_origins(&origins),
            trust_forwarded_for: env_or(
                "API_GATEWAY_TRUST_FORWARDED_FOR",
                defaults.trust_forwarded_for,
            )?,
            max_body_bytes: env_or("API_GATEWAY_MAX_BODY_BYTES", defaults.max_body_bytes)?,
        };
        settings.validate()?;
        Ok(settings)
    }

    /// Refuses settings the gateway cannot work with.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let limit = self.rate_limit;
        if !(limit.per_second.is_finite() && limit.per_second > 0.0) {
            return Err(invalid(
                "API_GATEWAY_RATE_LIMIT_PER_SECOND",
                &limit.per_second,
                "must be a positive number",
            ));
        }
        if limit.burst == 0 {
            return Err(invalid(
                "API_GATEWAY_RATE_LIMIT_BURST",
                &0,
                "must be at least 1",
            ));
        }
        if self.breaker.failure_threshold == 0 {
            return Err(invalid(
                "API_GATEWAY_BREAKER_FAILURE_THRESHOLD",
                &0,
                "must be at least 1",
            ));
        }
        for upstream in &self.upstreams {
            if upstream.read.timeout.is_zero() || upstream.write_timeout.is_zero() {
                return Err(invalid(
                    &format!("{} timeout", upstream.name),
                    &0,
                    "an upstream timeout must be positive",
                ));
            }
            if upstream.read.attempts == 0 {
                return Err(invalid(
                    &format!("{} read attempts", upstream.name),
                    &0,
                    "must be at least 1",
                ));
            }
        }
        Ok(())
    }

    /// Points the upstream called `name` at `base_url` (the devstack's ephemeral ports).
    #[must_use]
    pub fn with_base_url(mut self, name: &str, base_url: impl Into<String>) -> Self {
        let base_url = base_url.into();
        for upstream in self.upstreams.iter_mut().filter(|u| u.name == name) {
            upstream.base_url.clone_from(&base_url);
        }
        self
    }
}

/// A comma-separated origin list; empty means "any origin".
#[must_use]
pub fn parse_origins(list: &str) -> Option<Vec<String>> {
    let origins: Vec<String> = list
        .split(',')
        .map(str::trim)
        .filter(|origin| !origin.is_empty())
        .map(str::to_owned)
        .collect();
    (!origins.is_empty()).then_some(origins)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_route_every_prefix_of_the_topology() {
        let settings = Settings::default();
        let prefixes: Vec<&str> = settings
            .upstreams
            .iter()
            .flat_map(|u| u.routes.iter().map(String::as_str))
            .collect();
        for prefix in [
            "/api/v1/users",
            "/api/v1/auth",
            "/api/v1/products",
            "/api/v1/inventory",
            "/api/v1/cart",
            "/api/v1/orders",
            "/api/v1/payments",
            "/api/v1/notifications",
        ] {
            assert!(prefixes.contains(&prefix), "{prefix}");
        }
        assert!(settings.validate().is_ok());
    }

    #[test]
    fn every_upstream_is_called_as_the_architecture_model_says() {
        let settings = Settings::default();
        assert_eq!(settings.upstreams.len(), topology::SERVICES.len());
        for (upstream, unit) in settings.upstreams.iter().zip(topology::SERVICES) {
            let read = topology::call(API_GATEWAY, *unit, "GET").unwrap();
            let write = topology::call(API_GATEWAY, *unit, "POST").unwrap();
            assert_eq!(upstream.name, unit.name);
            assert_eq!(
                upstream.read,
                CallPolicy {
                    timeout: Duration::from_millis(read.timeout_ms),
                    attempts: read.attempts,
                    backoff: Duration::from_millis(read.backoff_ms),
                },
                "{}",
                unit.name
            );
            assert_eq!(
                upstream.write_timeout,
                Duration::from_millis(write.timeout_ms),
                "{}",
                unit.name
            );
        }
    }

    #[test]
    fn an_upstream_can_be_repointed_by_name() {
        let settings = Settings::default().with_base_url("order-service", "http://127.0.0.1:1");
        let order = settings
            .upstreams
            .iter()
            .find(|u| u.name == "order-service")
            .unwrap();
        assert_eq!(order.base_url, "http://127.0.0.1:1");
    }

    #[test]
    fn origins_are_a_comma_separated_list_and_empty_means_any() {
        assert_eq!(parse_origins(""), None);
        assert_eq!(
            parse_origins("https://shop.example, http://localhost:3000 ,"),
            Some(vec![
                "https://shop.example".to_owned(),
                "http://localhost:3000".to_owned()
            ])
        );
    }

    #[test]
    fn unusable_limits_are_refused() {
        let mut settings = Settings::default();
        settings.rate_limit.per_second = 0.0;
        assert!(settings.validate().is_err());
        let mut settings = Settings::default();
        settings.breaker.failure_threshold = 0;
        assert!(settings.validate().is_err());
        let mut settings = Settings::default();
        settings.upstreams[0].read.attempts = 0;
        assert!(settings.validate().is_err());
        let mut settings = Settings::default();
        settings.upstreams[0].write_timeout = Duration::ZERO;
        assert!(settings.validate().is_err());
    }
}
