//! Whole-app journeys through the front door's router, in process: a customer signs up, buys,
//! and is notified; a failed payment is compensated. In memory, and (`--ignored`) on one
//! `PostgreSQL` database with a schema per module and carts in Redis.

use std::sync::Arc;
use std::time::Duration;

use app::Settings;
use axum::http::StatusCode;
use platform::ServiceConfig;
use platform::db::Database;
use platform::health::Readiness;
use platform::topology::APP;
use serde_json::{Value, json};
use shared_events::InMemoryEventBus;
use testing::client::TestClient;
use tokio::time::Instant;

/// How long a saga may take to settle before a test gives up.
const SAGA_DEADLINE: Duration = Duration::from_secs(10);
const PASSWORD: &str = "correct-horse-battery";

/// Settings for tests: cheap password hashing, rate limits no test reaches.
fn for_tests() -> Settings {
    let mut settings = Settings::default();
    settings.user.hashing = user_service::config::HashingCost::insecure_for_tests();
    let unreachable = api_gateway::config::RateLimitSettings {
        per_second: 10_000.0,
        burst: 10_000,
    };
    settings.gateway.rate_limit = unreachable;
    settings.gateway.credential_rate_limit = unreachable;
    settings.gateway.account_rate_limit = unreachable;
    settings
}

/// The app on `settings`: a client of its public face.
async fn start(settings: Settings) -> TestClient {
    let readiness = Readiness::default();
    let routers = app::start_with(
        ServiceConfig::for_tests(APP),
        settings,
        Arc::new(InMemoryEventBus::default()),
        readiness.clone(),
    )
    .await
    .expect("the app starts");
    readiness.set_serving(true);
    TestClient::new(routers.public)
}

/// The settings of the journeys on real servers: every module on one fresh database, carts
/// in the test Redis.
async fn on_postgres_and_redis(settings: Settings) -> (Settings, sqlx::PgPool) {
    let (pool, url) = testing::pg::fresh_database("app").await;
    let mut settings = settings.on_database(&Database::new(url));
    settings.cart.redis = Some(testing::redis::url());
    settings.cart.redis_prefix = testing::redis::unique_prefix("app");
    (settings, pool)
}

struct Customer {
    token: String,
}

async fn sign_up(client: &TestClient, email: &str) -> Customer {
    let registered = client
        .post("/api/v1/auth/register")
        .json(&json!({ "email": email, "password": PASSWORD, "name": "Ada" }))
        .send()
        .await;
    assert_eq!(
        registered.status,
        StatusCode::CREATED,
        "{}",
        registered.json()
    );
    let login = client
        .post("/api/v1/auth/login")
        .json(&json!({ "email": email, "password": PASSWORD }))
        .send()
        .await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.json());
    Customer {
        token: login.json()["access_token"].as_str().unwrap().to_owned(),
    }
}

/// The first product on sale, and its available units.
async fn first_product(client: &TestClient, customer: &Customer) -> (String, u64) {
    let page = client.get("/api/v1/products").send().await.json();
    let id = page["items"][0]["id"].as_str().unwrap().to_owned();
    (id.clone(), available(client, customer, &id).await)
}

async fn available(client: &TestClient, customer: &Customer, product: &str) -> u64 {
    let level = client
        .get_as(&customer.token, &format!("/api/v1/inventory/{product}"))
        .await;
    assert_eq!(level.status, StatusCode::OK, "{}", level.json());
    level.json()["available"].as_u64().unwrap()
}

/// Adds `product` to the cart and checks out; the order id.
async fn buy(client: &TestClient, customer: &Customer, product: &str) -> String {
    let added = client
        .post("/api/v1/cart/items")
        .bearer(&customer.token)
        .json(&json!({ "product_id": product, "quantity": 2 }))
        .send()
        .await;
    assert_eq!(added.status, StatusCode::OK, "{}", added.json());
    let placed = client
        .post("/api/v1/orders")
        .bearer(&customer.token)
        .idempotency_key(&uuid::Uuid::new_v4().to_string())
        .send()
        .await;
    assert_eq!(placed.status, StatusCode::ACCEPTED, "{}", placed.json());
    placed.json()["order_id"].as_str().unwrap().to_owned()
}

/// Polls until `done` holds of `GET path`, or fails after [`SAGA_DEADLINE`].
async fn eventually(
    client: &TestClient,
    customer: &Customer,
    path: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + SAGA_DEADLINE;
    loop {
        let value = client.get_as(&customer.token, path).await.json();
        if done(&value) {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "GET {path} still {value} after {SAGA_DEADLINE:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The order once it is confirmed or cancelled.
async fn settled(client: &TestClient, customer: &Customer, order_id: &str) -> Value {
    eventually(
        client,
        customer,
        &format!("/api/v1/orders/{order_id}"),
        |o| o["status"] == "confirmed" || o["status"] == "cancelled",
    )
    .await
}

async fn purchase_journey(client: &TestClient) {
    let customer = sign_up(client, &format!("{}@example.com", uuid::Uuid::new_v4())).await;
    let (product, before) = first_product(client, &customer).await;
    let order_id = buy(client, &customer, &product).await;
    let order = settled(client, &customer, &order_id).await;
    assert_eq!(order["status"], "confirmed", "{order}");
    assert_eq!(available(client, &customer, &product).await, before - 2);
    let cart = eventually(client, &customer, "/api/v1/cart", |c| {
        c["items"].as_array().is_some_and(Vec::is_empty)
    })
    .await;
    assert_eq!(cart["items"], json!([]));
    eventually(client, &customer, "/api/v1/notifications", |page| {
        page["items"].as_array().is_some_and(|items| {
            items.iter().any(|n| {
                n["subject"]
                    .as_str()
                    .is_some_and(|s| s.contains("confirmed"))
            })
        })
    })
    .await;
}

async fn failed_payment_journey(client: &TestClient) {
    let customer = sign_up(client, &format!("{}@example.com", uuid::Uuid::new_v4())).await;
    let (product, before) = first_product(client, &customer).await;
    let order_id = buy(client, &customer, &product).await;
    let order = settled(client, &customer, &order_id).await;
    assert_eq!(order["status"], "cancelled", "{order}");
    let reason = order["status_history"]
        .as_array()
        .and_then(|history| history.last())
        .and_then(|change| change["reason"].as_str())
        .unwrap_or_default();
    assert!(reason.starts_with("payment failed"), "{order}");
    // The reservation is released: every unit is back on sale.
    let deadline = Instant::now() + SAGA_DEADLINE;
    while available(client, &customer, &product).await != before {
        assert!(Instant::now() < deadline, "stock of {product} not restored");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_customer_signs_up_buys_and_is_notified() {
    purchase_journey(&start(for_tests()).await).await;
}

#[tokio::test]
async fn failed_payment_cancels_order_and_restores_stock() {
    let mut settings = for_tests();
    settings.payment.provider_failure_rate = 1.0;
    failed_payment_journey(&start(settings).await).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL and Redis: set TEST_DATABASE_URL and TEST_REDIS_URL or run them on 127.0.0.1, then cargo test -- --ignored"]
async fn a_customer_buys_on_one_database_with_a_schema_per_module() {
    let (settings, pool) = on_postgres_and_redis(for_tests()).await;
    purchase_journey(&start(settings).await).await;
    // Each module's tables are in its own schema, and none in the shared default one.
    let tables: Vec<(String, String)> = sqlx::query_as(
        "SELECT table_schema::text, table_name::text FROM information_schema.tables \
         WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let schemas: std::collections::BTreeSet<&str> =
        tables.iter().map(|(schema, _)| schema.as_str()).collect();
    assert_eq!(
        schemas.into_iter().collect::<Vec<_>>(),
        [
            "inventory_service",
            "notification_service",
            "order_service",
            "payment_service",
            "product_service",
            "user_service"
        ],
        "{tables:?}"
    );
    assert!(
        tables
            .iter()
            .any(|(schema, table)| schema == "order_service" && table == "outbox")
    );
}

#[tokio::test]
#[ignore = "needs PostgreSQL and Redis: set TEST_DATABASE_URL and TEST_REDIS_URL or run them on 127.0.0.1, then cargo test -- --ignored"]
async fn failed_payment_is_compensated_on_one_database() {
    let (mut settings, _pool) = on_postgres_and_redis(for_tests()).await;
    settings.payment.provider_failure_rate = 1.0;
    failed_payment_journey(&start(settings).await).await;
}
