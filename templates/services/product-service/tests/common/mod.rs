//! Request helpers for the HTTP tests.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use platform::ServiceConfig;
use platform::auth::{JwtKeys, Role};
use platform::health::Readiness;
use platform::topology::PRODUCT_SERVICE;
use product_service::config::Settings;
use serde_json::Value;
use shared_events::InMemoryEventBus;
use shared_types::ProductId;
use shared_types::UserId;
use tokio::net::TcpListener;
use tower::ServiceExt;

/// The service with `settings` and the bus it publishes to.
pub async fn app_with(settings: Settings) -> (Router, InMemoryEventBus) {
    let bus = InMemoryEventBus::default();
    let router = product_service::start_with(
        ServiceConfig::for_tests(PRODUCT_SERVICE),
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

/// A stand-in inventory service: every product has `available` units except `untracked`, which
/// it keeps no stock for. Answers its base URL.
pub async fn inventory_stub(available: u32, untracked: ProductId) -> String {
    use axum::extract::Path;
    use axum::routing::get;
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
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let url = format!("http://{}", listener.local_addr().expect("bound"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// A URL where nothing listens: the port was free a moment ago and is closed again.
pub async fn nowhere() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    format!("http://{}", listener.local_addr().expect("bound"))
}
