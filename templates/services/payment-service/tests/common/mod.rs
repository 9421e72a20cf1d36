//! Helpers for the payment service's tests: a counting provider, the app, the use cases.

#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use payment_service::Settings;
use payment_service::models::{ChargeRequest, Payment};
use payment_service::repository::{InMemoryPaymentRepository, PostgresPaymentRepository};
use payment_service::service::{
    PaymentProvider, PaymentService, ProviderDecision, SimulatedProvider,
};
use platform::health::Readiness;
use platform::{ServiceConfig, topology};
use shared_events::{EventBus, InMemoryEventBus};
use shared_types::{Currency, Money, OrderId, UserId};
use testing::TestClient;

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
    pub client: TestClient,
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
        client: TestClient::new(router),
        bus,
        provider,
    }
}

pub async fn app() -> TestApp {
    app_with_latency(Duration::ZERO).await
}

/// What `inventory.reserved` asks for: `amount_minor` USD cents of `user` for `order`, under
/// the order's id.
pub fn reservation(order_id: OrderId, user_id: UserId, amount_minor: i64) -> ChargeRequest {
    ChargeRequest {
        idempotency_key: order_id.to_string(),
        order_id,
        user_id,
        amount: Money::new(amount_minor, Currency::Usd),
    }
}

/// The use cases themselves in memory, charging through `provider`: for what no route reaches
/// (the saga's charges, raced).
pub fn memory_service(provider: Arc<CountingProvider>) -> PaymentService {
    let bus: Arc<dyn EventBus> = Arc::new(InMemoryEventBus::default());
    PaymentService::new(
        Arc::new(InMemoryPaymentRepository::new(bus)),
        provider,
        Settings::default().duplicate_wait,
    )
}

/// One replica's use cases on `pool` with `settings`, charging through `provider`.
pub fn pg_service(
    provider: Arc<CountingProvider>,
    pool: &sqlx::PgPool,
    settings: &Settings,
) -> PaymentService {
    PaymentService::new(
        Arc::new(
            PostgresPaymentRepository::new(pool.clone()).with_pending_lease(settings.pending_lease),
        ),
        provider,
        settings.duplicate_wait,
    )
}

/// A fresh, migrated `PostgreSQL` database for one test.
pub async fn database() -> sqlx::PgPool {
    let (pool, _url) = testing::pg::fresh_database("payment_service").await;
    platform::db::migrate(&pool, &payment_service::MIGRATOR)
        .await
        .unwrap();
    pool
}

/// One replica of the service on `pool` charging through `provider`, with its own bus (and
/// outbox relay).
pub async fn pg_app_with(provider: Arc<CountingProvider>, pool: &sqlx::PgPool) -> TestApp {
    pg_app_with_settings(provider, pool, Settings::default()).await
}

/// [`pg_app_with`] with explicit `settings`.
pub async fn pg_app_with_settings(
    provider: Arc<CountingProvider>,
    pool: &sqlx::PgPool,
    settings: Settings,
) -> TestApp {
    let bus = InMemoryEventBus::default();
    let router = payment_service::start_with_storage(
        ServiceConfig::for_tests(topology::PAYMENT_SERVICE),
        settings,
        provider.clone(),
        payment_service::Storage::Postgres(pool.clone()),
        Arc::new(bus.clone()),
        Readiness::default(),
    )
    .await
    .unwrap();
    TestApp {
        client: TestClient::new(router),
        bus,
        provider,
    }
}

/// A replica on `pool` with an instant counting provider.
pub async fn pg_app(pool: &sqlx::PgPool) -> TestApp {
    pg_app_with(CountingProvider::new(Duration::ZERO), pool).await
}
