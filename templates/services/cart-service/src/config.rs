//! Settings of the cart service beyond the platform's `ServiceConfig`.

use std::time::Duration;

use platform::config::{ConfigError, env_or};
use platform::topology::PRODUCT_SERVICE;

/// A week: how long an untouched cart is kept.
pub const DEFAULT_TTL_SECS: u64 = 7 * 24 * 60 * 60;

/// What the cart service needs to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// How long a cart lives after its last change (`CART_SERVICE_TTL_SECS`, default a week).
    pub ttl: Duration,
    /// Where the product service listens (`PRODUCT_SERVICE_URL`, default localhost:8003).
    pub product_url: String,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(DEFAULT_TTL_SECS),
            product_url: PRODUCT_SERVICE.base_url(),
        }
    }
}

impl Settings {
    /// Reads `CART_SERVICE_TTL_SECS` and `PRODUCT_SERVICE_URL`; a zero TTL is refused.
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
        Ok(Self {
            ttl: Duration::from_secs(ttl_secs),
            product_url: defaults.product_url,
        })
    }
}
