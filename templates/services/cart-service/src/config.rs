//! Settings of the cart service beyond the platform's `ServiceConfig`.

use std::time::Duration;

use platform::config::{ConfigError, env_or};
use platform::topology::PRODUCT_SERVICE;

use crate::repository::redis::DEFAULT_KEY_PREFIX;

/// A week: how long an untouched cart is kept.
pub const DEFAULT_TTL_SECS: u64 = 7 * 24 * 60 * 60;

/// What the cart service needs to know.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// is refused. An empty `REDIS_URL` counts as unset.
    pub fn from_env() -> Result<Self, ConfigError> {
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
        Ok(Self {
            ttl: Duration::from_secs(ttl_secs),
            product_url: defaults.product_url,
            redis: Some(redis).filter(|url| !url.is_empty()),
            redis_prefix: env_or("CART_SERVICE_REDIS_PREFIX", defaults.redis_prefix)?,
        })
    }
}
