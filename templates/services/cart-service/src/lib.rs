//! The cart service keeps each user's shopping cart: which products, how many, at what price.
//! Prices and existence are checked with the product service when an item is added, and every
//! later change the catalogue announces (`product.updated`) reprices the carts holding the
//! product, or marks its lines when it is taken off sale; totals are computed in integer minor
//! units. Carts expire after a period without changes (a TTL: Redis when `REDIS_URL` is set,
//! memory otherwise), and a confirmed order takes out of its buyer's cart what it bought.

pub mod api;
pub mod config;
pub mod events;
pub mod models;
pub mod prices;
pub mod repository;
pub mod service;

use std::sync::Arc;

use axum::Router;
use platform::ServiceConfig;
use platform::client::ServiceClient;
use platform::health::Readiness;
use platform::topology::{CART_SERVICE, PRODUCT_SERVICE};
use shared_events::{EventBus, topics};

use crate::api::AppState;
use crate::config::Settings;
use crate::events::CartConsumer;
use crate::prices::redis::RedisPriceBook;
use crate::prices::{InMemoryPriceBook, PriceBook};
use crate::repository::redis::{self as redis_store, RedisCartRepository};
use crate::repository::{CartRepository, Clock, InMemoryCartRepository, SystemClock};
use crate::service::{CartService, HttpProductCatalog, ProductCatalog};

/// What the service is built from besides its settings; tests substitute fakes.
#[derive(Clone)]
pub struct Dependencies {
    /// Where prices and availability come from.
    pub catalog: Arc<dyn ProductCatalog>,
    /// The time carts in memory expire against (Redis expires keys on its own clock).
    pub clock: Arc<dyn Clock>,
}

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
    // Timeout and retries of the price lookup are the architecture model's.
    let products = ServiceClient::for_call(CART_SERVICE, PRODUCT_SERVICE)
        .with_base_url(settings.product_url.clone());
    let dependencies = Dependencies {
        catalog: Arc::new(HttpProductCatalog::new(products)),
        clock: Arc::new(SystemClock),
    };
    start_with_dependencies(config, settings, bus, readiness, dependencies).await
}

/// Starts the service with explicit settings and dependencies (tests with a fake catalogue
/// or a manual clock).
pub async fn start_with_dependencies(
    config: ServiceConfig,
    settings: Settings,
    bus: Arc<dyn EventBus>,
    readiness: Readiness,
    dependencies: Dependencies,
) -> anyhow::Result<Router> {
    let (repository, prices): (Arc<dyn CartRepository>, Arc<dyn PriceBook>) =
        if let Some(url) = &settings.redis {
            let redis = redis_store::connect(url).await?;
            readiness.add_check(redis_store::readiness_check(&redis));
            let prefix = &settings.redis_prefix;
            tracing::info!(%prefix, "storage: Redis");
            (
                Arc::new(RedisCartRepository::new(
                    redis.clone(),
                    prefix,
                    settings.ttl,
                )),
                Arc::new(RedisPriceBook::new(redis, prefix)),
            )
        } else {
            tracing::info!("storage: in-memory (set REDIS_URL for Redis)");
            (
                Arc::new(InMemoryCartRepository::new(
                    settings.ttl,
                    dependencies.clock,
                )),
                Arc::new(InMemoryPriceBook::default()),
            )
        };
    let service = CartService::new(repository, prices, dependencies.catalog);
    bus.subscribe(
        config.unit.name,
        &[topics::ORDER_CONFIRMED, topics::PRODUCT_UPDATED],
        Arc::new(CartConsumer::new(service.clone())),
    )
    .await?;
    let state = AppState {
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
