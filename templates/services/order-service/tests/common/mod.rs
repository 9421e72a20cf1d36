//! Helpers for the order service's HTTP tests: a fake cart, tokens, requests, bodies.

#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use axum::http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use order_service::Settings;
use order_service::service::{Cart, CartItem, CartReader};
use platform::auth::{JwtKeys, Role};
use platform::health::Readiness;
use platform::{ApiError, ServiceConfig, topology};
use serde_json::Value;
use shared_events::InMemoryEventBus;
use shared_types::{Currency, Money, ProductId, UserId};
use tower::ServiceExt;

/// A cart-service stand-in: fixed items, an optional delay, and a number of calls to fail.
#[derive(Default)]
pub struct FakeCart {
    pub items: Mutex<Vec<CartItem>>,
    pub delay: Mutex<Duration>,
    pub failures_left: AtomicU32,
    pub calls: AtomicU32,
}

impl FakeCart {
    pub fn with_items(items: Vec<CartItem>) -> Arc<Self> {
        Arc::new(Self {
            items: Mutex::new(items),
            ..Self::default()
        })
    }

    pub fn calls(&self) -> u32 {
        self.calls.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl CartReader for FakeCart {
    async fn read_cart(&self, _bearer: &str) -> Result<Cart, ApiError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let delay = *self.delay.lock().unwrap();
        tokio::time::sleep(delay).await;
        if self
            .failures_left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(ApiError::unavailable("cart-service unreachable"));
        }
        Ok(Cart {
            items: self.items.lock().unwrap().clone(),
        })
    }
}

pub fn item(price_minor: i64, quantity: u32) -> CartItem {
    CartItem {
        product_id: ProductId::new(),
        quantity,
        unit_price: Money::new(price_minor, Currency::Usd),
    }
}

/// The service under test and what it talks to.
pub struct TestApp {
    pub router: Router,
    pub bus: InMemoryEventBus,
    pub cart: Arc<FakeCart>,
}

pub async fn app_with(cart: Arc<FakeCart>, bus: InMemoryEventBus) -> TestApp {
    let router = order_service::start_with_cart(
        ServiceConfig::for_tests(topology::ORDER_SERVICE),
        Settings::default(),
        cart.clone(),
        Arc::new(bus.clone()),
        Readiness::default(),
    )
    .await
    .unwrap();
    TestApp { router, bus, cart }
}

/// An app whose cart holds two lines totalling 49.98 USD.
pub async fn app() -> TestApp {
    app_with(
        FakeCart::with_items(vec![item(1999, 2), item(1000, 1)]),
        InMemoryEventBus::default(),
    )
    .await
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

/// `POST /api/v1/orders` with `key` (if any) and `body`.
pub fn place(token: &str, key: Option<&str>, body: &str) -> Request<Body> {
    let mut builder = Request::post("/api/v1/orders")
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json");
    if let Some(key) = key {
        builder = builder.header("idempotency-key", key);
    }
    builder.body(Body::from(body.to_owned())).unwrap()
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

/// Sends `request` and returns (status, JSON body).
pub async fn call(router: &Router, request: Request<Body>) -> (StatusCode, Value) {
    let response = send(router, request).await;
    let status = response.status();
    (status, json(response).await)
}
