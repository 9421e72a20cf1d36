//! Reading and setting stock over HTTP, shared by the in-memory and the database tests.

use axum::http::StatusCode;
use serde_json::json;
use shared_types::ProductId;
use testing::TestClient;
use testing::tokens::admin;

/// Sets the available stock of `product` as an admin.
pub async fn set_stock(app: &TestClient, product: ProductId, available: i64) {
    let response = app
        .put(&format!("/api/v1/inventory/{product}"))
        .bearer(&admin())
        .json(&json!({ "available": available }))
        .send()
        .await;
    assert_eq!(response.status, StatusCode::OK);
}

/// The `(available, reserved)` stock of `product`.
pub async fn stock(app: &TestClient, product: ProductId) -> (u64, u64) {
    let (status, body) = app
        .get(&format!("/api/v1/inventory/{product}"))
        .send()
        .await
        .status_and_json();
    assert_eq!(status, StatusCode::OK, "{body}");
    (
        body["available"].as_u64().unwrap(),
        body["reserved"].as_u64().unwrap(),
    )
}
