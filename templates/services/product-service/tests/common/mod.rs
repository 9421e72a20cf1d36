//! The service under test and a stand-in inventory service, for the HTTP tests.

use std::sync::Arc;

use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use platform::ServiceConfig;
use platform::health::Readiness;
use platform::topology::PRODUCT_SERVICE;
use product_service::config::Settings;
use shared_events::InMemoryEventBus;
use shared_types::ProductId;
use testing::{TestClient, stub};

/// The service with `settings` and the bus it publishes to.
pub async fn app_with(settings: Settings) -> (TestClient, InMemoryEventBus) {
    let bus = InMemoryEventBus::default();
    let router = product_service::start_with(
        ServiceConfig::for_tests(PRODUCT_SERVICE),
        settings,
        Arc::new(bus.clone()),
        Readiness::default(),
    )
    .await
    .expect("the service starts");
    (TestClient::new(router), bus)
}

/// A stand-in inventory service: every product has `available` units except `untracked`, which
/// it keeps no stock for. Answers its base URL.
pub async fn inventory_stub(available: u32, untracked: ProductId) -> String {
    let app = Router::new().route(
        "/api/v1/inventory/{id}",
        get(move |Path(id): Path<ProductId>| async move {
            if id == untracked {
                Err(platform::ApiError::not_found("untracked"))
            } else {
                Ok(axum::Json(serde_json::json!({
                    "product_id": id, "available": available, "reserved": 0
                })))
            }
        }),
    );
    stub::serve(app).await.0
}
