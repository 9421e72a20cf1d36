//! The product service owns the catalogue: products with a name, description, category, price
//! and whether they are on sale. Anyone may browse (paginated listings, category filter,
//! ranked search); admins create and change products, and every change is published as
//! `product.updated`. A product's page shows its stock, looked up in the inventory service;
//! when inventory is unreachable the product is still served, without stock. The catalogue
//! lives in `PostgreSQL` when `DATABASE_URL` is set (events through the outbox), in memory
//! otherwise.

pub mod api;
pub mod config;
pub mod events;
pub mod models;
pub mod repository;
pub mod seed;
pub mod service;

use std::sync::Arc;

use axum::Router;
use platform::ServiceConfig;
use platform::client::ServiceClient;
use platform::health::Readiness;
use platform::topology::{INVENTORY_SERVICE, PRODUCT_SERVICE};
use shared_events::EventBus;
use sqlx::PgPool;
use sqlx::migrate::Migrator;

use crate::api::AppState;
use crate::config::Settings;
use crate::repository::postgres::PostgresProductRepository;
use crate::repository::{InMemoryProductRepository, ProductRepository};
use crate::service::{HttpStockLookup, ProductService, StockLookup};

/// The schema (`migrations/`), applied at start-up and by `product-service migrate`.
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

/// Starts the service on `pool` (`PostgreSQL`, already migrated; its outbox relayed to `bus`)
/// or, without one, in memory (events published on `bus` directly).
pub async fn start_with_pool(
    config: ServiceConfig,
    settings: Settings,
    pool: Option<PgPool>,
    bus: Arc<dyn EventBus>,
    readiness: Readiness,
) -> anyhow::Result<Router> {
    // Timeout and retries of the stock lookup are the architecture model's.
    let inventory = ServiceClient::for_call(PRODUCT_SERVICE, INVENTORY_SERVICE)
        .with_base_url(settings.inventory_url.clone());
    let stock = Arc::new(HttpStockLookup::new(inventory));
    start_with_stock(config, settings, pool, stock, bus, readiness).await
}

/// [`start_with_pool`], asking `stock` for stock levels (a modular monolith's inventory
/// module, in process).
pub async fn start_with_stock(
    config: ServiceConfig,
    settings: Settings,
    pool: Option<PgPool>,
    stock: Arc<dyn StockLookup>,
    bus: Arc<dyn EventBus>,
    readiness: Readiness,
) -> anyhow::Result<Router> {
    platform::db::start_storage(
        config.unit.name,
        pool.as_ref(),
        Some(bus.clone()),
        &readiness,
    );
    let repository: Arc<dyn ProductRepository> = match pool {
        Some(pool) => {
            let reads = match &settings.database {
                Some(database) => database.connect_reads().await?,
                None => None,
            };
            Arc::new(PostgresProductRepository::new(pool).with_reads(reads))
        }
        None => Arc::new(InMemoryProductRepository::new(bus)),
    };
    if settings.seed {
        let added = seed::load(repository.as_ref()).await?;
        tracing::info!(
            products = added,
            "seeded the demo catalogue if it was empty (set PRODUCT_SERVICE_SEED=false to start empty)"
        );
    }
    let service = ProductService::new(repository, stock);
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
