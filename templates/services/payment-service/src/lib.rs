//! The payment service owns payments: it charges an order's amount through a payment provider
//! exactly once per idempotency key (the order id, in the checkout saga), announces the
//! outcome as `payment.succeeded` / `payment.failed`, and refunds charges of cancelled orders
//! once (`payment.refunded`). The provider is simulated, with configurable latency and
//! declines, so the saga's failure paths can be rehearsed.

pub mod api;
pub mod config;
pub mod events;
pub mod models;
pub mod repository;
pub mod service;

use std::sync::Arc;

use axum::Router;
use platform::ServiceConfig;
use platform::auth::JwtKeys;
use platform::health::Readiness;
use shared_events::EventBus;

pub use config::Settings;

use crate::repository::InMemoryPaymentRepository;
use crate::service::{PaymentProvider, PaymentService, SimulatedProvider};

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
    let repo = Arc::new(InMemoryPaymentRepository::new());
    let service = PaymentService::new(repo, provider, bus.clone(), settings.duplicate_wait);
    events::subscribe(bus.as_ref(), service.clone()).await?;
    let state = api::AppState {
        service,
        keys: JwtKeys::new(config.jwt_secret.as_bytes()),
    };
    Ok(platform::server::app(
        config.unit.name,
        api::router(state),
        config.chaos,
        readiness,
    ))
}
