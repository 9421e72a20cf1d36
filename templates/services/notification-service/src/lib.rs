//! The notification service tells users what happened: it consumes account, order and
//! payment events, renders each into a notification for the user concerned, records it once
//! per event (redeliveries are recognised by event id), sends it through a
//! [`service::NotificationSender`] (a logging one until a real email/SMS provider is plugged
//! in), and lets users list their notifications. Notifications and the inbox live in
//! `PostgreSQL` when `DATABASE_URL` is set, in memory otherwise.

use std::sync::Arc;

use axum::Router;
use platform::ServiceConfig;
use platform::health::Readiness;
use shared_events::EventBus;
use sqlx::PgPool;
use sqlx::migrate::Migrator;

use crate::repository::NotificationRepository;
use crate::repository::postgres::PostgresNotificationRepository;

pub mod api;
pub mod config;
pub mod events;
pub mod models;
pub mod repository;
pub mod service;

pub use config::Settings;

/// The schema (`migrations/`), applied at start-up and by `notification-service migrate`.
pub static MIGRATOR: Migrator = sqlx::migrate!();

/// Starts the service with settings from the environment.
pub async fn start(
    config: ServiceConfig,
    bus: Arc<dyn EventBus>,
    readiness: Readiness,
) -> anyhow::Result<Router> {
    let settings = Settings::from_env(config.env)?;
    start_with(config, settings, bus, readiness).await
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

/// Starts the service on `pool` (`PostgreSQL`, already migrated) or, without one, in memory.
pub async fn start_with_pool(
    config: ServiceConfig,
    settings: Settings,
    pool: Option<PgPool>,
    bus: Arc<dyn EventBus>,
    readiness: Readiness,
) -> anyhow::Result<Router> {
    platform::db::start_storage(config.unit.name, pool.as_ref(), None, &readiness);
    let repository: Arc<dyn NotificationRepository> = match pool {
        Some(pool) => Arc::new(PostgresNotificationRepository::new(pool, config.unit.name)),
        None => Arc::new(repository::InMemoryNotificationRepository::default()),
    };
    let service = service::NotificationService::new(repository, Arc::new(service::LoggingSender));
    events::subscribe(bus.as_ref(), config.unit.name, service.clone()).await?;
    let state = api::AppState {
        service,
        keys: config.jwt_keys.clone(),
        settings,
    };
    Ok(platform::server::app(
        config.unit.name,
        api::router(state),
        config.chaos,
        readiness,
    ))
}
