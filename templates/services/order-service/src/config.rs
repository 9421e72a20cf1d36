//! Settings of the order service, from `ORDER_SERVICE_*` variables (plus `CART_SERVICE_URL`
//! and the `DATABASE_*` variables of `platform::db`).

use std::time::Duration;

use platform::config::{AppEnv, ConfigError, env_or};
use platform::db::Database;
use platform::topology;

/// Largest page a listing returns unless `ORDER_SERVICE_MAX_PAGE_SIZE` says otherwise; the
/// API document states this one.
pub const DEFAULT_MAX_PAGE_SIZE: u32 = 100;

/// What the order service needs beyond the common `ServiceConfig`.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where cart-service answers (`CART_SERVICE_URL`, default `http://127.0.0.1:8004`).
    pub cart_service_url: String,
    /// How long a duplicate `POST /api/v1/orders` waits for the first request with its
    /// idempotency key to finish before answering 409 (`ORDER_SERVICE_IDEMPOTENCY_WAIT_MS`,
    /// default 10 000).
    pub idempotency_wait: Duration,
    /// How long an unanswered idempotency claim holds its key on `PostgreSQL`: a claim older
    /// than this (its request crashed) is taken over by the next request with the key
    /// (`ORDER_SERVICE_IDEMPOTENCY_LEASE_MS`, default 30 000).
    pub idempotency_lease: Duration,
    /// Largest page a listing returns (`ORDER_SERVICE_MAX_PAGE_SIZE`, default 100).
    pub max_page_size: u32,
    /// How long an order may stay pending or reserved before it is cancelled: the model's
    /// saga timeout (`topology::ORDER_TIMEOUT`), not an environment variable, since
    /// verification checked it against the saga's worst case.
    pub order_timeout: Duration,
    /// The `PostgreSQL` database (`DATABASE_URL`, with `DATABASE_MAX_CONNECTIONS` and
    /// `DATABASE_ACQUIRE_TIMEOUT_MS`); `None` keeps orders in memory.
    pub database: Option<Database>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            cart_service_url: topology::CART_SERVICE.base_url(),
            idempotency_wait: Duration::from_secs(10),
            idempotency_lease: Duration::from_secs(30),
            max_page_size: DEFAULT_MAX_PAGE_SIZE,
            order_timeout: topology::ORDER_TIMEOUT,
            database: None,
        }
    }
}

impl Settings {
    /// Reads the settings from the environment; unset variables keep their defaults.
    pub fn from_env(env: AppEnv) -> Result<Self, ConfigError> {
        let defaults = Self::default();
        let wait_ms = env_or(
            "ORDER_SERVICE_IDEMPOTENCY_WAIT_MS",
            u64::try_from(defaults.idempotency_wait.as_millis()).unwrap_or(u64::MAX),
        )?;
        let lease_ms = env_or(
            "ORDER_SERVICE_IDEMPOTENCY_LEASE_MS",
            u64::try_from(defaults.idempotency_lease.as_millis()).unwrap_or(u64::MAX),
        )?;
        let max_page_size: u32 = env_or("ORDER_SERVICE_MAX_PAGE_SIZE", defaults.max_page_size)?;
        if max_page_size == 0 {
            return Err(ConfigError {
                key: "ORDER_SERVICE_MAX_PAGE_SIZE".to_owned(),
                value: "0".to_owned(),
                reason: "must be at least 1".to_owned(),
            });
        }
        Ok(Self {
            cart_service_url: defaults.cart_service_url,
            idempotency_wait: Duration::from_millis(wait_ms),
            idempotency_lease: Duration::from_millis(lease_ms),
            max_page_size,
            order_timeout: defaults.order_timeout,
            database: Database::from_env(env)?,
        })
    }
}
