//! The inventory service owns stock: how many units of each product are available to sell and
//! how many are held for orders in flight. It takes part in the checkout saga by reserving every
//! line of a new order atomically (all or nothing), committing the reservation when the order is
//! confirmed and releasing it (or restocking sold units) when the order is cancelled. Stock can
//! never go negative: each reservation is checked and applied in one repository operation (one
//! transaction of conditional updates on `PostgreSQL`, guarded by `CHECK` constraints).

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
use platform::health::Readiness;
use shared_events::{EventBus, topics};
use sqlx::migrate::Migrator;

use crate::api::AppState;
use crate::config::Settings;
use crate::events::InventoryConsumer;
use crate::repository::{
    InMemoryInventoryRepository, InventoryRepository, PostgresInventoryRepository,
};
use crate::service::InventoryService;

/// The service's database migrations (`migrations/`), applied at start-up and by
/// `inventory-service migrate`.
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
    platform::db::start_storage(
        config.unit.name,
        pool.as_ref(),
        Some(bus.clone()),
        &readiness,
    );
    let repository: Arc<dyn InventoryRepository> = match pool {
        Some(pool) => {
            let reads = match &settings.database {
                Some(database) => database.connect_reads().await?,
                None => None,
            };
            Arc::new(PostgresInventoryRepository::new(pool).with_reads(reads))
        }
        None => Arc::new(InMemoryInventoryRepository::new(bus.clone())),
    };
    if settings.seed {
        seed::load(repository.as_ref()).await?;
        tracing::info!(
            products = seed::DEMO_STOCK.len(),
            "seeded demo stock (set INVENTORY_SERVICE_SEED=false to start empty)"
        );
    }
    let service = InventoryService::new(repository);
    bus.subscribe(
        config.unit.name,
        &[
            topics::ORDER_CREATED,
            topics::ORDER_CONFIRMED,
            topics::ORDER_CANCELLED,
        ],
        Arc::new(InventoryConsumer::new(service.clone())),
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
