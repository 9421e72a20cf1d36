//! Gateway settings, read from `API_GATEWAY_*` environment variables (upstream URLs from each
//! unit's `<PREFIX>_URL`). How each upstream is called (timeouts, attempts, backoff) is not
//! configuration: it is the architecture model's (`platform::topology::CALLS`).

use std::time::Duration;

use platform::client::CallPolicy;
use platform::config::{AppEnv, ConfigError, env_or};
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

/// A GCRA rate limit (a token bucket without the bookkeeping): `burst` requests at once, then
/// one every `1 / per_second`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimitSettings {
    /// Sustained requests per second.
    pub per_second: f64,
    /// Requests allowed at once (the bucket size).
    pub burst: u32,
}

impl RateLimitSettings {
    /// `per_minute` sustained, bursts of `burst`.
    #[must_use]
    pub fn per_minute(per_minute: f64, burst: u32) -> Self {
        Self {
            per_second: per_minute / 60.0,
            burst,
        }
    }

    /// The time between two requests at the sustained rate (at least a nanosecond).
    #[must_use]
    pub fn interval(&self) -> Duration {
        Duration::try_from_secs_f64(1.0 / self.per_second)
            .unwrap_or(Duration::MAX)
            .max(Duration::from_nanos(1))
    }

    fn validate(&self, rate_key: &str, rate: f64, burst_key: &str) -> Result<(), ConfigError> {
        if !(self.per_second.is_finite() && self.per_second > 0.0) {
            return Err(invalid(rate_key, &rate, "must be a positive number"));
        }
        if self.interval() > Duration::from_secs(86_400) {
            return Err(invalid(
                rate_key,
                &rate,
                "must allow at least one request a day",
            ));
        }
        if self.burst == 0 {
            return Err(invalid(burst_key, &0, "must be at least 1"));
        }
        Ok(())
    }
}

/// Rate limits shared by every gateway replica, kept in Redis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedLimits {
    /// The Redis server, e.g. `redis://:password@api-gateway-limits:6379`.
    pub redis_url: String,
    /// Prefix of every key the gateway writes (without `{`: keys must not pick a cluster slot).
    pub key_prefix: String,
}

/// The key prefix of the shared limits unless configured otherwise.
pub const DEFAULT_KEY_PREFIX: &str = "api-gateway:rate-limit:";

/// Which browser pages of other origins may call the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cors {
    /// None: the production default when no origin is configured.
    SameOriginOnly,
    /// Exactly these origins (`scheme://host[:port]`).
    Origins(Vec<String>),
    /// Any origin: development only, announced in the start-up log.
    AnyOrigin,
}

impl Cors {
    /// The comma-separated `API_GATEWAY_CORS_ORIGINS` in `env`: the listed origins; when
    /// none are listed, any origin in development and none in production.
    #[must_use]
    pub fn from_list(list: &str, env: AppEnv) -> Self {
        match parse_origins(list) {
            Some(origins) => Self::Origins(origins),
            None if env.is_development() => Self::AnyOrigin,
            None => Self::SameOriginOnly,
        }
    }
}

/// Circuit breaker per upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerSettings {
    /// Consecutive failures that open the circuit.
    pub failure_threshold: u32,
    /// How long the circuit stays open before one trial request.
    pub cool_down: Duration,
}

/// The port `/metrics` is served on unless configured otherwise: the gateway's port + 1000,
/// apart from the public port so that the ingress never reaches it.
pub const DEFAULT_METRICS_PORT: u16 = API_GATEWAY.port + 1000;

/// Everything the gateway needs beyond [`platform::ServiceConfig`].
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub upstreams: Vec<Upstream>,
    /// Every request, per signed-in user, else per client address.
    pub rate_limit: RateLimitSettings,
    /// Sign-in, sign-up and password-reset requests per client address, on top of
    /// `rate_limit`.
    pub credential_rate_limit: RateLimitSettings,
    /// Sign-in, sign-up and password-reset requests per account (the e-mail address in the
    /// body), whichever address they come from.
    pub account_rate_limit: RateLimitSettings,
    /// How many proxies of ours in front of the gateway append to `x-forwarded-for`: the
    /// client is the address that many entries from the right. 0: the connection's peer, and
    /// the header is ignored (a client could write anything there).
    pub trusted_proxy_hops: usize,
    /// Where replicas share their rate limits; `None` keeps them in this process.
    pub shared_limits: Option<SharedLimits>,
    pub breaker: BreakerSettings,
    pub cors: Cors,
    /// The port of the internal listener serving `/metrics` (the public port answers 404).
    pub metrics_port: u16,
    /// Largest request body forwarded.
    pub max_body_bytes: usize,
}

impl Default for Settings {
    /// Every service of the topology at its `base_url()`, called as the model says, the
    /// production limits kept in process, no proxy in front, and no cross-origin caller.
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
            credential_rate_limit: RateLimitSettings::per_minute(20.0, 10),
            account_rate_limit: RateLimitSettings::per_minute(1.0, 5),
            trusted_proxy_hops: 0,
            shared_limits: None,
            breaker: BreakerSettings {
                failure_threshold: 5,
                cool_down: Duration::from_secs(10),
            },
            cors: Cors::SameOriginOnly,
            metrics_port: DEFAULT_METRICS_PORT,
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

/// The variable `API_GATEWAY_TRUSTED_PROXY_HOPS` replaced.
const REPLACED_TRUST_FORWARDED_FOR: &str = "API_GATEWAY_TRUST_FORWARDED_FOR";

impl Settings {
    /// Reads the variables listed in the README; unset ones keep their defaults, except that
    /// an unset `API_GATEWAY_CORS_ORIGINS` allows any origin in development.
    pub fn from_env(env: AppEnv) -> Result<Self, ConfigError> {
        if let Ok(value) = std::env::var(REPLACED_TRUST_FORWARDED_FOR) {
            return Err(invalid(
                REPLACED_TRUST_FORWARDED_FOR,
                &value,
                "no longer read: set API_GATEWAY_TRUSTED_PROXY_HOPS to the number of proxies in front of the gateway that append to x-forwarded-for (0: none)",
            ));
        }
        let defaults = Self::default();
        let per_minute = |limit: RateLimitSettings| limit.per_second * 60.0;
        let origins: String = env_or("API_GATEWAY_CORS_ORIGINS", String::new())?;
        let redis_url: String = env_or("API_GATEWAY_REDIS_URL", String::new())?;
        let settings = Self {
            upstreams: defaults.upstreams,
            rate_limit: RateLimitSettings {
                per_second: env_or(
                    "API_GATEWAY_RATE_LIMIT_PER_SECOND",
                    defaults.rate_limit.per_second,
                )?,
                burst: env_or("API_GATEWAY_RATE_LIMIT_BURST", defaults.rate_limit.burst)?,
            },
            credential_rate_limit: RateLimitSettings::per_minute(
                env_or(
                    "API_GATEWAY_AUTH_RATE_LIMIT_PER_MINUTE",
                    per_minute(defaults.credential_rate_limit),
                )?,
                env_or(
                    "API_GATEWAY_AUTH_RATE_LIMIT_BURST",
                    defaults.credential_rate_limit.burst,
                )?,
            ),
            account_rate_limit: RateLimitSettings::per_minute(
                env_or(
                    "API_GATEWAY_ACCOUNT_RATE_LIMIT_PER_MINUTE",
                    per_minute(defaults.account_rate_limit),
                )?,
                env_or(
                    "API_GATEWAY_ACCOUNT_RATE_LIMIT_BURST",
                    defaults.account_rate_limit.burst,
                )?,
            ),
            trusted_proxy_hops: env_or(
                "API_GATEWAY_TRUSTED_PROXY_HOPS",
                defaults.trusted_proxy_hops,
            )?,
            shared_limits: match redis_url.trim() {
                "" => None,
                url => Some(SharedLimits {
                    redis_url: url.to_owned(),
                    key_prefix: env_or(
                        "API_GATEWAY_REDIS_KEY_PREFIX",
                        DEFAULT_KEY_PREFIX.to_owned(),
                    )?,
                }),
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
            cors: Cors::from_list(&origins, env),
            metrics_port: env_or("API_GATEWAY_METRICS_PORT", defaults.metrics_port)?,
            max_body_bytes: env_or("API_GATEWAY_MAX_BODY_BYTES", defaults.max_body_bytes)?,
        };
        settings.validate()?;
        Ok(settings)
    }

    /// Refuses settings the gateway cannot work with.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let limit = self.rate_limit;
        limit.validate(
            "API_GATEWAY_RATE_LIMIT_PER_SECOND",
            limit.per_second,
            "API_GATEWAY_RATE_LIMIT_BURST",
        )?;
        let limit = self.credential_rate_limit;
        limit.validate(
            "API_GATEWAY_AUTH_RATE_LIMIT_PER_MINUTE",
            limit.per_second * 60.0,
            "API_GATEWAY_AUTH_RATE_LIMIT_BURST",
        )?;
        let limit = self.account_rate_limit;
        limit.validate(
            "API_GATEWAY_ACCOUNT_RATE_LIMIT_PER_MINUTE",
            limit.per_second * 60.0,
            "API_GATEWAY_ACCOUNT_RATE_LIMIT_BURST",
        )?;
        if let Some(shared) = &self.shared_limits
            && shared.key_prefix.contains('{')
        {
            return Err(invalid(
                "API_GATEWAY_REDIS_KEY_PREFIX",
                &shared.key_prefix,
                "must not contain `{`",
            ));
        }
        if let Cors::Origins(origins) = &self.cors {
            for origin in origins {
                validate_origin(origin)?;
            }
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

/// A comma-separated origin list; `None` when it lists none.
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

/// An origin as browsers send it: `http(s)://host[:port]`, no path, no wildcard.
fn validate_origin(origin: &str) -> Result<(), ConfigError> {
    let key = "API_GATEWAY_CORS_ORIGINS";
    let host = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .ok_or_else(|| invalid(key, &origin, "an origin is `https://host[:port]`"))?;
    if host.is_empty()
        || host.contains(['/', '*', ','])
        || !origin.chars().all(|c| c.is_ascii_graphic())
    {
        return Err(invalid(
            key,
            &origin,
            "an origin is `https://host[:port]`: no path, no trailing slash, no wildcard (list every origin)",
        ));
    }
    Ok(())
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
    fn origins_are_a_comma_separated_list() {
        assert_eq!(parse_origins(" , "), None);
        assert_eq!(
            parse_origins("https://shop.example, http://localhost:3000 ,"),
            Some(vec![
                "https://shop.example".to_owned(),
                "http://localhost:3000".to_owned()
            ])
        );
    }

    #[test]
    fn without_listed_origins_production_allows_none_and_only_development_any() {
        assert_eq!(
            Cors::from_list("", AppEnv::Production),
            Cors::SameOriginOnly
        );
        assert_eq!(Cors::from_list("", AppEnv::Development), Cors::AnyOrigin);
        for env in [AppEnv::Production, AppEnv::Development] {
            assert_eq!(
                Cors::from_list("https://shop.example", env),
                Cors::Origins(vec!["https://shop.example".to_owned()])
            );
        }
        assert_eq!(Settings::default().cors, Cors::SameOriginOnly);
    }

    #[test]
    fn origins_must_be_what_browsers_send() {
        for origin in [
            "*",
            "https://*.shop.example",
            "https://shop.example/",
            "shop.example",
            "https://",
            "https://shop.example\tx",
        ] {
            let settings = Settings {
                cors: Cors::Origins(vec![origin.to_owned()]),
                ..Settings::default()
            };
            assert!(settings.validate().is_err(), "{origin}");
        }
        let settings = Settings {
            cors: Cors::Origins(vec![
                "https://shop.example".to_owned(),
                "http://localhost:3000".to_owned(),
            ]),
            ..Settings::default()
        };
        assert!(settings.validate().is_ok());
    }

    #[test]
    fn credential_routes_are_held_to_tighter_limits_than_general_traffic() {
        let settings = Settings::default();
        for tight in [settings.credential_rate_limit, settings.account_rate_limit] {
            assert!(tight.interval() > settings.rate_limit.interval());
            assert!(tight.burst < settings.rate_limit.burst);
        }
        assert_eq!(
            settings.account_rate_limit.interval(),
            Duration::from_secs(60)
        );
        assert_eq!(
            settings.credential_rate_limit.interval(),
            Duration::from_secs(3)
        );
    }

    #[test]
    fn unusable_limits_are_refused() {
        let mut settings = Settings::default();
        settings.rate_limit.per_second = 0.0;
        assert!(settings.validate().is_err());
        let mut settings = Settings::default();
        settings.account_rate_limit.burst = 0;
        assert!(settings.validate().is_err());
        let settings = Settings {
            account_rate_limit: RateLimitSettings::per_minute(1.0 / 1441.0, 1),
            ..Settings::default()
        };
        assert!(settings.validate().is_err(), "less than one a day");
        let settings = Settings {
            credential_rate_limit: RateLimitSettings::per_minute(f64::NAN, 1),
            ..Settings::default()
        };
        assert!(settings.validate().is_err());
        let settings = Settings {
            shared_limits: Some(SharedLimits {
                redis_url: "redis://127.0.0.1".to_owned(),
                key_prefix: "{gateway}:".to_owned(),
            }),
            ..Settings::default()
        };
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
