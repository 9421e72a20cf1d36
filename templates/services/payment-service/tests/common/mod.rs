//! Helpers for the payment service's HTTP tests: a counting provider, tokens, requests.

#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use axum::http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use payment_service::Settings;
use payment_service::models::Payment;
use payment_service::service::{PaymentProvider, ProviderDecision, SimulatedProvider};
use platform::auth::{JwtKeys, Role};
use platform::health::Readiness;
use platform::{ServiceConfig, topology};
use serde_json::{Value, json};
use shared_events::InMemoryEventBus;
use shared_types::{OrderId, UserId};
use tower::ServiceExt;

/// Charges above this many cents are declined by the test provider.
pub const LIMIT_MINOR: i64 = 10_000;

/// The simulated provider (no random declines, declines over [`LIMIT_MINOR`]), slowed down
/// and counting its calls.
pub struct CountingProvider {
    inner: SimulatedProvider,
    calls: AtomicU32,
}

impl CountingProvider {
    pub fn new(latency: Duration) -> Arc<Self> {
        Arc::new(Self {
            inner: SimulatedProvider {
                latency,
                failure_rate: 0.0,
                decline_over_minor: LIMIT_MINOR,
            },
            calls: AtomicU32::new(0),
        })
    }

    pub fn calls(&self) -> u32 {
        self.calls.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl PaymentProvider for CountingProvider {
    async fn charge(&self, payment: &Payment) -> ProviderDecision {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.charge(payment).await
    }
}

pub struct TestApp {
    pub router: Router,
    pub bus: InMemoryEventBus,
    pub provider: Arc<CountingProvider>,
}

pub async fn app_with_latency(latency: Duration) -> TestApp {
    let bus = InMemoryEventBus::default();
    let provider = CountingProvider::new(latency);
    let router = payment_service::start_with_provider(
        ServiceConfig::for_tests(topology::PAYMENT_SERVICE),
        Settings::default(),
        provider.clone(),
        Arc::new(bus.clone()),
        Readiness::default(),
    )
    .await
    .unwrap();
    TestApp {
        router,
        bus,
        provider,
    }
}

pub async fn app() -> TestApp {
    app_with_latency(Duration::ZERO).await
}

pub fn token(user: UserId, role: Role) -> String {
    let now = chrono::Utc::now().timestamp();
    JwtKeys::new(platform::config::DEV_JWT_SECRET.as_bytes())
        .issue(user, role, now)
        .unwrap()
        .0
}

pub fn customer() -> (UserId, String) {
    let user = UserId::new();
    (user, token(user, Role::Customer))
}

pub fn admin() -> String {
    token(UserId::new(), Role::Admin)
}

/// `POST /api/v1/payments` for `order_id` and `amount_minor` USD cents.
pub fn pay(token: &str, key: Option<&str>, order_id: OrderId, amount_minor: i64) -> Request<Body> {
    let body = json!({
        "order_id": order_id,
        "amount": { "amount_minor": amount_minor, "currency": "USD" },
    });
    let mut builder = Request::post("/api/v1/payments")
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json");
    if let Some(key) = key {
        builder = builder.header("idempotency-key", key);
    }
    builder.body(Body::from(body.to_string())).unwrap()
}

pub fn get(token: &str, path: &str) -> Request<Body> {
    Request::get(path)
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap()
}

pub fn post(token: &str, path: &str) -> Request<Body> {
    Request::post(path)
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap()
}

pub async fn send(router: &Router, request: Request<Body>) -> Response<Body> {
    router.clone().oneshot(request).await.unwrap()
}

pub async fn json(response: Response<Body>) -> Value {
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&bytes).unwrap()
}

pub async fn call(router: &Router, request: Request<Body>) -> (StatusCode, Value) {
    let response = send(router, request).await;
    let status = response.status();
    (status, json(response).await)
}
