//! Helpers for the order service's HTTP tests: a fake cart, the app, checkout requests.

#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use order_service::Settings;
use order_service::service::{Cart, CartItem, CartReader, LineStatus};
use platform::health::Readiness;
use platform::{ApiError, ServiceConfig, topology};
use shared_events::InMemoryEventBus;
use shared_types::{Currency, Money, ProductId};
use testing::{TestClient, TestRequest};

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

/// A line the cart can sell: `quantity` units of a new product at `price_minor` US cents.
pub fn item(price_minor: i64, quantity: u32) -> CartItem {
    CartItem {
        product_id: ProductId::new(),
        name: "Pen".to_owned(),
        quantity,
        unit_price: Money::new(price_minor, Currency::Usd),
        status: LineStatus::Available,
    }
}

/// The service under test and what it talks to.
pub struct TestApp {
    pub client: TestClient,
    pub bus: InMemoryEventBus,
    pub cart: Arc<FakeCart>,
}

pub async fn app_with(cart: Arc<FakeCart>, bus: InMemoryEventBus) -> TestApp {
    app_with_settings(cart, bus, Settings::default()).await
}

/// [`app_with`] with explicit `settings`.
pub async fn app_with_settings(
    cart: Arc<FakeCart>,
    bus: InMemoryEventBus,
    settings: Settings,
) -> TestApp {
    let router = order_service::start_with_cart(
        ServiceConfig::for_tests(topology::ORDER_SERVICE),
        settings,
        cart.clone(),
        Arc::new(bus.clone()),
        Readiness::default(),
    )
    .await
    .unwrap();
    TestApp {
        client: TestClient::new(router),
        bus,
        cart,
    }
}

/// An app whose cart holds two lines totalling 49.98 USD.
pub async fn app() -> TestApp {
    app_with(
        FakeCart::with_items(vec![item(1999, 2), item(1000, 1)]),
        InMemoryEventBus::default(),
    )
    .await
}

/// `POST /api/v1/orders` as `token`'s holder with `key` (if any) and the raw JSON `body`.
pub fn place(client: &TestClient, token: &str, key: Option<&str>, body: &str) -> TestRequest {
    let request = client.post("/api/v1/orders").bearer(token).json_text(body);
    match key {
        Some(key) => request.idempotency_key(key),
        None => request,
    }
}

/// A fresh, migrated `PostgreSQL` database for one test.
pub async fn database() -> sqlx::PgPool {
    let (pool, _url) = testing::pg::fresh_database("order_service").await;
    platform::db::migrate(&pool, &order_service::MIGRATOR)
        .await
        .unwrap();
    pool
}

/// One replica of the service on `pool`, with its own bus (and outbox relay).
pub async fn pg_app_with(
    cart: Arc<FakeCart>,
    pool: &sqlx::PgPool,
    bus: InMemoryEventBus,
) -> TestApp {
    pg_app_with_settings(cart, pool, bus, Settings::default()).await
}

/// [`pg_app_with`] with explicit `settings`.
pub async fn pg_app_with_settings(
    cart: Arc<FakeCart>,
    pool: &sqlx::PgPool,
    bus: InMemoryEventBus,
    settings: Settings,
) -> TestApp {
    let router = order_service::start_with_storage(
        ServiceConfig::for_tests(topology::ORDER_SERVICE),
        settings,
        cart.clone(),
        order_service::Storage::Postgres(pool.clone()),
        Arc::new(bus.clone()),
        Readiness::default(),
    )
    .await
    .unwrap();
    TestApp {
        client: TestClient::new(router),
        bus,
        cart,
    }
}

/// A replica on `pool` whose cart holds two lines totalling 49.98 USD.
pub async fn pg_app(pool: &sqlx::PgPool) -> TestApp {
    pg_app_with(
        FakeCart::with_items(vec![item(1999, 2), item(1000, 1)]),
        pool,
        InMemoryEventBus::default(),
    )
    .await
}

/// Waits (bounded) until the relay has published every outbox row.
pub async fn relayed(pool: &sqlx::PgPool) {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let pending: i64 =
                sqlx::query_scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL")
                    .fetch_one(pool)
                    .await
                    .unwrap();
            if pending == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the relay publishes the outbox");
}
