//! The order service owns orders and runs the checkout saga: `POST /api/v1/orders` turns the
//! caller's cart into a pending order exactly once per idempotency key and publishes
//! `order.created`; inventory and payment outcomes then move the order to confirmed or
//! cancelled, announced as `order.confirmed` / `order.cancelled` so the other services commit
//! or compensate.
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
use platform::client::ServiceClient;
use platform::health::Readiness;
use platform::topology;
use shared_events::EventBus;
use sqlx::migrate::Migrator;

pub use config::Settings;
pub use platform::db::Storage;

use crate::repository::{InMemoryOrderRepository, OrderRepository, PostgresOrderRepository};
use crate::service::{CartReader, HttpCartReader, OrderService};

/// The service's database migrations (`migrations/`), applied by `order-service migrate`.
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
    // Timeout and retries of the cart read at checkout are the architecture model's.
    let client = ServiceClient::for_call(topology::ORDER_SERVICE, topology::CART_SERVICE)
        .with_base_url(settings.cart_service_url.clone());
    let cart = Arc::new(HttpCartReader::new(client));
    start_with_cart(config, settings, cart, bus, readiness).await
}

/// Starts the service reading carts through `cart` instead of cart-service over HTTP (tests).
pub async fn start_with_cart(
    config: ServiceConfig,
    settings: Settings,
    cart: Arc<dyn CartReader>,
    bus: Arc<dyn EventBus>,
    readiness: Readiness,
) -> anyhow::Result<Router> {
    let storage = platform::db::open(settings.database.as_ref(), &MIGRATOR).await?;
    start_with_storage(config, settings, cart, storage.into(), bus, readiness).await
}

/// Starts the service on `storage`, reading carts through `cart` (tests and the devstack).
pub async fn start_with_storage(
    config: ServiceConfig,
    settings: Settings,
    cart: Arc<dyn CartReader>,
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
    let repo: Arc<dyn OrderRepository> = match pool {
        None => Arc::new(InMemoryOrderRepository::new(bus.clone())),
        Some(pool) => Arc::new(
            PostgresOrderRepository::new(pool).with_claim_lease(settings.idempotency_lease),
        ),
    };
    let service = OrderService::new(repo, cart, settings.idempotency_wait);
    events::subscribe(bus.as_ref(), service.clone()).await?;
    service.spawn_timeouts(settings.order_timeout);
    let state = api::AppState {
        service,
        keys: config.jwt_keys.clone(),
        max_page_size: settings.max_page_size,
    };
    Ok(platform::server::app(
        config.unit.name,
        api::router(state),
        config.chaos,
        readiness,
    ))
}
