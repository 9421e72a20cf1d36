//! Request helpers and fakes for the HTTP tests.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use cart_service::Dependencies;
use cart_service::config::Settings;
use cart_service::repository::ManualClock;
use cart_service::service::{CatalogProduct, ProductCatalog};
use http_body_util::BodyExt;
use platform::ApiError;
use platform::ServiceConfig;
use platform::auth::{JwtKeys, Role};
use platform::health::Readiness;
use platform::topology::CART_SERVICE;
use serde_json::Value;
use shared_events::InMemoryEventBus;
use shared_types::{Currency, Money, ProductId, UserId};
use tower::ServiceExt;

/// The TTL the test apps run with.
pub const TTL: Duration = Duration::from_secs(3_600);
/// One second short of the TTL.
pub const ALMOST_TTL: Duration = Duration::from_secs(3_599);

/// A catalogue in memory that can be switched off.
#[derive(Default)]
pub struct FakeCatalog {
    products: Mutex<HashMap<ProductId, CatalogProduct>>,
    down: Mutex<bool>,
}

impl FakeCatalog {
    /// Adds a product priced `cents` US cents, on sale or not; answers its id.
    pub fn add(&self, name: &str, cents: i64, active: bool) -> ProductId {
        let id = ProductId::new();
        self.products.lock().unwrap().insert(
            id,
            CatalogProduct {
                id,
                name: name.to_owned(),
                price: Money::new(cents, Currency::Usd),
                active,
            },
        );
        id
    }

    pub fn set_down(&self, down: bool) {
        *self.down.lock().unwrap() = down;
    }
}

#[async_trait]
impl ProductCatalog for FakeCatalog {
    async fn product(&self, id: ProductId) -> Result<CatalogProduct, ApiError> {
        if *self.down.lock().unwrap() {
            return Err(ApiError::unavailable("product-service unreachable"));
        }
        self.products
            .lock()
            .unwrap()
            .get(&id)
            .cloned()
            .ok_or_else(|| ApiError::not_found(format!("no product {id}")))
    }
}

/// The service with a fake catalogue and a manual clock.
pub struct TestApp {
    pub router: Router,
    pub bus: InMemoryEventBus,
    pub catalog: Arc<FakeCatalog>,
    pub clock: Arc<ManualClock>,
}

pub async fn app() -> TestApp {
    let bus = InMemoryEventBus::default();
    let catalog = Arc::new(FakeCatalog::default());
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let router = cart_service::start_with_dependencies(
        ServiceConfig::for_tests(CART_SERVICE),
        Settings {
            ttl: TTL,
            ..Settings::default()
        },
        Arc::new(bus.clone()),
        Readiness::default(),
        Dependencies {
            catalog: catalog.clone(),
            clock: clock.clone(),
        },
    )
    .await
    .expect("the service starts");
    TestApp {
        router,
        bus,
        catalog,
        clock,
    }
}

/// A valid customer token for `user`.
pub fn token_for(user: UserId) -> String {
    JwtKeys::new(platform::config::DEV_JWT_SECRET.as_bytes())
        .issue(user, Role::Customer, chrono::Utc::now().timestamp())
        .expect("the dev secret signs")
        .0
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
