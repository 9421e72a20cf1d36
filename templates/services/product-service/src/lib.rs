//! The product service owns the catalogue: products with a name, description, category, price
//! and whether they are on sale. Anyone may browse (paginated listings, category filter,
//! ranked search); admins create and change products, and every change is published as
//! `product.updated`. A product's page shows its stock, looked up in the inventory service;
//! when inventory is unreachable the product is still served, without stock.

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
use platform::auth::JwtKeys;
use platform::client::ServiceClient;
use platform::health::Readiness;
use platform::topology::{INVENTORY_SERVICE, PRODUCT_SERVICE};
use shared_events::EventBus;

use crate::api::AppState;
use crate::config::Settings;
use crate::repository::{InMemoryProductRepository, ProductRepository};
use crate::service::{HttpStockLookup, ProductService};

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
    let repository: Arc<dyn ProductRepository> = Arc::new(InMemoryProductRepository::default());
    if settings.seed {
        seed::load(repository.as_ref()).await?;
        tracing::info!(
            products = seed::DEMO_CATALOGUE.len(),
            "seeded the demo catalogue (set PRODUCT_SERVICE_SEED=false to start empty)"
        );
    }
    // Timeout and retries of the stock lookup are the architecture model's.
    let inventory = ServiceClient::for_call(PRODUCT_SERVICE, INVENTORY_SERVICE)
        .with_base_url(settings.inventory_url.clone());
    let service = ProductService::new(repository, Arc::new(HttpStockLookup::new(inventory)), bus);
    let state = AppState {
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
