//! The user service owns accounts and credentials: registration with argon2id-hashed
//! passwords, login issuing short-lived JWT access tokens and long-lived rotating refresh
//! tokens (stored only as hashes), logout, profile reads and edits by the user or an admin,
//! and single-use password-reset tokens. It publishes `user.registered`.

use std::sync::Arc;

use axum::Router;
use platform::ServiceConfig;
use platform::health::Readiness;
use shared_events::EventBus;

pub mod api;
pub mod config;
pub mod events;
pub mod models;
pub mod repository;
pub mod service;

pub use config::Settings;

/// Starts the service with settings from the environment.
pub async fn start(
    config: ServiceConfig,
    bus: Arc<dyn EventBus>,
    readiness: Readiness,
) -> anyhow::Result<Router> {
    start_with(config, Settings::from_env()?, bus, readiness).await
}

/// Starts the service with explicit settings (tests and the devstack).
pub async fn start_with(
    config: ServiceConfig,
    settings: Settings,
    bus: Arc<dyn EventBus>,
    readiness: Readiness,
) -> anyhow::Result<Router> {
    let keys = platform::auth::JwtKeys::new(config.jwt_secret.as_bytes());
    let service = service::UserService::new(
        Arc::new(repository::InMemoryUserRepository::default()),
        bus,
        Arc::new(service::LoggingResetMailer),
        keys,
        settings,
    )
    .await?;
    Ok(platform::server::app(
        config.unit.name,
        api::router(api::AppState::new(service)),
        config.chaos,
        readiness,
    ))
}
