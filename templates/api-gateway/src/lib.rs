//! The API gateway is the platform's single entry point. It routes `/api/v1/...` to the
//! service owning each path prefix (from the topology), validates access tokens on protected
//! routes, rate-limits each client with a token bucket, answers CORS, and protects clients
//! from failing services with per-upstream timeouts, retries with exponential backoff for
//! idempotent requests (both as the architecture model's calls say), and a circuit breaker per
//! upstream. Errors are problem+json. It is served by `platform::server::serve`, which gives
//! each request its peer address for the per-client rate limit.

use std::sync::Arc;

use axum::Router;
use platform::ServiceConfig;
use platform::auth::JwtKeys;
use platform::health::Readiness;
use shared_events::EventBus;

pub mod breaker;
pub mod config;
pub mod policy;
pub mod proxy;
pub mod rate_limit;

pub use config::Settings;

/// Starts the gateway with settings from the environment.
pub async fn start(
    config: ServiceConfig,
    bus: Arc<dyn EventBus>,
    readiness: Readiness,
) -> anyhow::Result<Router> {
    start_with(config, Settings::from_env()?, bus, readiness).await
}

/// Starts the gateway with explicit settings (tests and the devstack). The bus is unused:
/// the gateway neither publishes nor consumes events.
#[allow(
    clippy::unused_async,
    reason = "same signature as every unit's start_with, which the devstack calls alike"
)]
pub async fn start_with(
    config: ServiceConfig,
    settings: Settings,
    _bus: Arc<dyn EventBus>,
    readiness: Readiness,
) -> anyhow::Result<Router> {
    let keys = JwtKeys::new(config.jwt_secret.as_bytes());
    let gateway = proxy::Gateway::new(settings, keys)?;
    Ok(platform::server::app(
        config.unit.name,
        proxy::router(gateway),
        config.chaos,
        readiness,
    ))
}
