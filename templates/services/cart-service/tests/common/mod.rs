//! Request helpers and fakes for the HTTP tests.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use cart_service::Dependencies;
use cart_service::config::Settings;
use cart_service::repository::ManualClock;
use cart_service::service::{CatalogProduct, ProductCatalog};
use platform::ApiError;
use platform::ServiceConfig;
use platform::health::Readiness;
use platform::topology::CART_SERVICE;
use shared_events::InMemoryEventBus;
use shared_types::{Currency, Money, ProductId};
use testing::TestClient;

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
    /// Adds a product priced `cents` US cents, on sale or not, at version 1; answers its id.
    pub fn add(&self, name: &str, cents: i64, active: bool) -> ProductId {
        let id = ProductId::new();
        self.set(id, name, cents, active, 1);
        id
    }

    /// Sets what the catalogue answers for `id`.
    pub fn set(&self, id: ProductId, name: &str, cents: i64, active: bool, version: u64) {
        self.products.lock().unwrap().insert(
            id,
            CatalogProduct {
                id,
                name: name.to_owned(),
                price: Money::new(cents, Currency::Usd),
                active,
                version,
            },
        );
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
    pub client: TestClient,
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
        client: TestClient::new(router),
        bus,
        catalog,
        clock,
    }
}
