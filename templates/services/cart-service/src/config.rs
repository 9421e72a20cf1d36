//! Settings of the cart service beyond the platform's `ServiceConfig`.

use std::fmt;
use std::time::Duration;

use platform::config::{AppEnv, ConfigError, env_or};
use platform::topology::PRODUCT_SERVICE;

use crate::repository::redis::DEFAULT_KEY_PREFIX;

/// A week: how long an untouched cart is kept.
pub const DEFAULT_TTL_SECS: u64 = 7 * 24 * 60 * 60;

/// What the cart service needs to know. Its `Debug` hides the password of `REDIS_URL`.
#[derive(Clone, PartialEq, Eq)]
pub struct Settings {
    /// How long a cart lives after its last change (`CART_SERVICE_TTL_SECS`, default a week).
    pub ttl: Duration,
    /// Where the product service listens (`PRODUCT_SERVICE_URL`, default localhost:8003).
    pub product_url: String,
    /// The Redis that stores carts (`REDIS_URL`); `None` keeps them in memory.
    pub redis: Option<String>,
    /// What every Redis key of this service starts with (`CART_SERVICE_REDIS_PREFIX`), so
    /// several deployments or tests can share one Redis.
    pub redis_prefix: String,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("ttl", &self.ttl)
            .field("product_url", &self.product_url)
            .field("redis", &self.redis.as_deref().map(redact_url))
            .field("redis_prefix", &self.redis_prefix)
            .finish()
    }
}

/// `url` with its password replaced by `***`: the part after `user:` in the user info
/// (`redis://user:secret@host`, `redis://:secret@host`), a user info without a colon (which
/// some clients take as the password), and the `pass` / `password` query parameters (the
/// `redis+unix://` form).
#[must_use]
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (before_query, query) = match rest.split_once('?') {
        Some((before, query)) => (before, Some(query)),
        None => (rest, None),
    };
    let authority_end = before_query.find('/').unwrap_or(before_query.len());
    let (authority, path) = before_query.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((credentials, host)) => match credentials.split_once(':') {
            Some((user, _password)) => format!("{user}:***@{host}"),
            None => format!("***@{host}"),
        },
        None => authority.to_owned(),
    };
    let mut redacted = format!("{scheme}://{authority}{path}");
    if let Some(query) = query {
        let params: Vec<String> = query
            .split('&')
            .map(|param| match param.split_once('=') {
                Some((name, _)) if name == "pass" || name == "password" => format!("{name}=***"),
                _ => param.to_owned(),
            })
            .collect();
        redacted.push('?');
        redacted.push_str(&params.join("&"));
    }
    redacted
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(DEFAULT_TTL_SECS),
            product_url: PRODUCT_SERVICE.base_url(),
            redis: None,
            redis_prefix: DEFAULT_KEY_PREFIX.to_owned(),
        }
    }
}

impl Settings {
    /// Reads `CART_SERVICE_TTL_SECS`, `REDIS_URL` and `CART_SERVICE_REDIS_PREFIX`; a zero TTL
    /// is refused. An empty `REDIS_URL` counts as unset: in-memory carts in development, an
    /// error in production.
    pub fn from_env(env: AppEnv) -> Result<Self, ConfigError> {
        let defaults = Self::default();
        let ttl_secs: u64 = env_or("CART_SERVICE_TTL_SECS", DEFAULT_TTL_SECS)?;
        if ttl_secs == 0 {
            return Err(ConfigError {
                key: "CART_SERVICE_TTL_SECS".to_owned(),
                value: ttl_secs.to_string(),
                reason: "must be at least 1 second".to_owned(),
            });
        }
        let redis: String = env_or("REDIS_URL", String::new())?;
        let redis_prefix: String = env_or("CART_SERVICE_REDIS_PREFIX", defaults.redis_prefix)?;
        if redis_prefix.contains(['{', '}']) {
            // The keys' hash tag is the user id in braces; a brace in the prefix would move it.
            return Err(ConfigError {
                key: "CART_SERVICE_REDIS_PREFIX".to_owned(),
                value: redis_prefix,
                reason: "must not contain `{` or `}` (the keys' Redis Cluster hash tag)".to_owned(),
            });
        }
        Ok(Self {
            ttl: Duration::from_secs(ttl_secs),
            product_url: defaults.product_url,
            redis: env.require(
                "REDIS_URL",
                Some(redis).filter(|url| !url.is_empty()),
                "the Redis that stores carts",
            )?,
            redis_prefix,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_redis_password() {
        let settings = Settings {
            redis: Some("redis://cart:s3cret@redis.internal:6379/0".to_owned()),
            ..Settings::default()
        };
        let shown = format!("{settings:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(
            shown.contains("redis://cart:***@redis.internal:6379/0"),
            "{shown}"
        );
        assert!(shown.contains("redis_prefix"), "{shown}");
    }

    #[test]
    fn every_form_of_redis_password_is_redacted() {
        assert_eq!(
            redact_url("redis://:pw@host:6379"),
            "redis://:***@host:6379"
        );
        assert_eq!(redact_url("rediss://pw@host/1"), "rediss://***@host/1");
        assert_eq!(
            redact_url("redis+unix:///run/redis.sock?db=1&pass=pw"),
            "redis+unix:///run/redis.sock?db=1&pass=***"
        );
        assert_eq!(
            redact_url("redis://127.0.0.1:6379"),
            "redis://127.0.0.1:6379"
        );
        assert_eq!(redact_url("not a url"), "not a url");
    }
}
