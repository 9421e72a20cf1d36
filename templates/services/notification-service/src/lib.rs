//! The notification service tells users what happened: it consumes account, order and
//! payment events, renders each into a notification for the user concerned, records it once
//! per event (redeliveries are recognised by event id), sends it through a
//! [`service::NotificationSender`] (a logging one until a real email/SMS provider is plugged
//! in), and lets users list their notifications.

use std::sync::Arc;

use axum::Router;
use platform::ServiceConfig;
use platform::auth::JwtKeys;
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
    let service = service::NotificationService::new(
        Arc::new(repository::InMemoryNotificationRepository::default()),
        Arc::new(service::LoggingSender),
    );
    events::subscribe(bus.as_ref(), config.unit.name, service.clone()).await?;
    let state = api::AppState {
        service,
        keys: JwtKeys::new(config.jwt_secret.as_bytes()),
        settings,
    };
    Ok(platform::server::app(
        config.unit.name,
        api::router(state),
        config.chaos,
        readiness,
    ))
}
