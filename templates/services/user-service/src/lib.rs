//! The user service owns accounts and credentials: registration with argon2id-hashed
//! passwords, login issuing short-lived JWT access tokens and long-lived rotating refresh
//! tokens (stored only as hashes), logout, profile reads and edits by the user or an admin,
//! and single-use password-reset tokens. It publishes `user.registered`. Accounts live in
//! `PostgreSQL` when `DATABASE_URL` is set (events through the outbox), in memory otherwise.

use std::sync::Arc;

use axum::Router;
use platform::ServiceConfig;
use platform::health::Readiness;
use shared_events::EventBus;
use sqlx::PgPool;
use sqlx::migrate::Migrator;

use crate::repository::UserRepository;
use crate::repository::postgres::PostgresUserRepository;

pub mod api;
pub mod config;
pub mod events;
pub mod models;
pub mod repository;
pub mod service;

pub use config::Settings;

/// The schema (`migrations/`), applied by `user-service migrate`.
pub static MIGRATOR: Migrator = sqlx::migrate!();

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
    let pool = platform::db::open(settings.database.as_ref(), &MIGRATOR).await?;
    start_with_pool(config, settings, pool, bus, readiness).await
}

/// Starts the service on `pool` (`PostgreSQL`, already migrated; its outbox relayed to `bus`)
/// or, without one, in memory (events published on `bus` directly).
pub async fn start_with_pool(
    config: ServiceConfig,
    settings: Settings,
    pool: Option<PgPool>,
    bus: Arc<dyn EventBus>,
    readiness: Readiness,
) -> anyhow::Result<Router> {
    platform::db::start_storage(config.unit.name, pool.as_ref(), Some(bus.clone()));
    let repository: Arc<dyn UserRepository> = match pool {
        Some(pool) => Arc::new(PostgresUserRepository::new(pool)),
        None => Arc::new(repository::InMemoryUserRepository::new(bus)),
    };
    let keys = platform::auth::JwtKeys::new(config.jwt_secret.as_bytes());
    let service = service::UserService::new(
        repository,
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
