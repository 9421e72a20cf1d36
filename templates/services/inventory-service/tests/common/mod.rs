//! The service under test, for the HTTP tests.

pub mod stock;

use std::sync::Arc;

use inventory_service::config::Settings;
use platform::ServiceConfig;
use platform::health::Readiness;
use platform::topology::INVENTORY_SERVICE;
use shared_events::InMemoryEventBus;
use testing::TestClient;

/// The service (without demo data) and the bus it publishes to.
pub async fn app() -> (TestClient, InMemoryEventBus) {
    app_with(Settings {
        seed: false,
        ..Settings::default()
    })
    .await
}

pub async fn app_with(settings: Settings) -> (TestClient, InMemoryEventBus) {
    let bus = InMemoryEventBus::default();
    let router = inventory_service::start_with(
        ServiceConfig::for_tests(INVENTORY_SERVICE),
        settings,
        Arc::new(bus.clone()),
        Readiness::default(),
    )
    .await
    .expect("the service starts");
    (TestClient::new(router), bus)
}
