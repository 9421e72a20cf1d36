//! Request helpers for the HTTP tests.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use inventory_service::config::Settings;
use platform::ServiceConfig;
use platform::auth::{JwtKeys, Role};
use platform::health::Readiness;
use platform::topology::INVENTORY_SERVICE;
use serde_json::Value;
use shared_events::InMemoryEventBus;
use shared_types::UserId;
use tower::ServiceExt;

/// The service (without demo data) and the bus it publishes to.
pub async fn app() -> (Router, InMemoryEventBus) {
    app_with(Settings { seed: false }).await
}

pub async fn app_with(settings: Settings) -> (Router, InMemoryEventBus) {
    let bus = InMemoryEventBus::default();
    let router = inventory_service::start_with(
        ServiceConfig::for_tests(INVENTORY_SERVICE),
        settings,
        Arc::new(bus.clone()),
        Readiness::default(),
    )
    .await
    .expect("the service starts");
    (router, bus)
}

/// A valid access token for a new user with `role`.
pub fn token(role: Role) -> String {
    JwtKeys::new(platform::config::DEV_JWT_SECRET.as_bytes())
        .issue(UserId::new(), role, chrono::Utc::now().timestamp())
        .expect("the dev secret signs")
        .0
}

pub fn admin() -> String {
    token(Role::Admin)
}

/// Sends one request; answers the status and the JSON body (`Null` when empty).
pub async fn send(
    app: &Router,
    method: Method,
    uri: &str,
    bearer: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(token) = bearer {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let request = match body {
        Some(json) => request
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(json.to_string())),
        None => request.body(Body::empty()),
    }
    .expect("a valid request");
    let response = app.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("a readable body")
        .to_bytes();
    let json = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).expect("a JSON body")
    };
    (status, json)
}
