//! The payment service owns payments: it charges an order's amount through a payment provider
//! exactly once per idempotency key (the order id, in the checkout saga), announces the
//! outcome as `payment.succeeded` / `payment.failed`, and refunds charges of cancelled orders
//! once (`payment.refunded`). The provider is simulated, with configurable latency and
//! declines, so the saga's failure paths can be rehearsed.
//!
//! Storage is `PostgreSQL` when `DATABASE_URL` is set (state changes and their events commit
//! together through the outbox, which a relay publishes), in memory otherwise.

pub mod api;
pub mod config;
pub mod events;
pub mod models;
pub mod repository;
pub mod service;

use std::sync::Arc;

use axum::Router;
use platform::ServiceConfig;
use platform::health::Readiness;
use shared_events::EventBus;
use sqlx::migrate::Migrator;

pub use config::Settings;
pub use platform::db::Storage;

use crate::repository::{InMemoryPaymentRepository, PaymentRepository, PostgresPaymentRepository};
use crate::service::{PaymentProvider, PaymentService, SimulatedProvider};

/// The service's database migrations (`migrations/`), applied by `payment-service migrate`.
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
    let settings = settings.validated()?;
    let provider = Arc::new(SimulatedProvider::from_settings(&settings));
    start_with_provider(config, settings, provider, bus, readiness).await
}

/// Starts the service charging through `provider` instead of the simulation (tests).
pub async fn start_with_provider(
    config: ServiceConfig,
    settings: Settings,
    provider: Arc<dyn PaymentProvider>,
    bus: Arc<dyn EventBus>,
    readiness: Readiness,
) -> anyhow::Result<Router> {
    let storage = platform::db::open(settings.database.as_ref(), &MIGRATOR).await?;
    start_with_storage(config, settings, provider, storage.into(), bus, readiness).await
}

/// Starts the service on `storage`, charging through `provider` (tests and the devstack).
pub async fn start_with_storage(
    config: ServiceConfig,
    settings: Settings,
    provider: Arc<dyn PaymentProvider>,
    storage: Storage,
    bus: Arc<dyn EventBus>,
    readiness: Readiness,
) -> anyhow::Result<Router> {
    let pool = storage.into_pool();
    platform::db::start_storage(
        config.unit.name,
        pool.as_ref(),
        Some(bus.clone()),
        &readiness,
    );
    let repo: Arc<dyn PaymentRepository> = match pool {
        None => Arc::new(InMemoryPaymentRepository::new(bus.clone())),
        Some(pool) => Arc::new(
            PostgresPaymentRepository::new(pool).with_pending_lease(settings.pending_lease),
        ),
    };
    let service = PaymentService::new(repo, provider, settings.duplicate_wait);
    events::subscribe(bus.as_ref(), service.clone()).await?;
    let state = api::AppState {
        service,
        keys: config.jwt_keys.clone(),
    };
    Ok(platform::server::app(
        config.unit.name,
        api::router(state),
        config.chaos,
        readiness,
    ))
}
