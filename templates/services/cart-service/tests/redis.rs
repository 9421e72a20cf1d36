//! The Redis cart store against a real Redis (`TEST_REDIS_URL`, default the local one). Each
//! test works under its own key prefix, so tests running at once (or a deployment sharing the
//! server) never see each other's keys.

#[allow(
    dead_code,
    reason = "the HTTP fixtures are shared with tests/api.rs; this file uses the fake catalogue"
)]
mod common;

use std::sync::Arc;
use std::time::Duration;

use cart_service::config::Settings;
use cart_service::repository::redis::RedisCartRepository;
use cart_service::repository::{CartRepository, SystemClock};
use cart_service::{Dependencies, start_with_dependencies};
use common::FakeCatalog;
use platform::ServiceConfig;
use platform::auth::Role;
use platform::health::Readiness;
use platform::topology::CART_SERVICE;
use redis::AsyncCommands as _;
use serde_json::json;
use shared_events::{EventBus, EventEnvelope, InMemoryEventBus, OrderConfirmed};
use shared_types::{Currency, EventId, Money, OrderId, ProductId, UserId};
use testing::{TestClient, tokens};

const WEEK: Duration = Duration::from_secs(7 * 24 * 60 * 60);

async fn store(prefix: &str, ttl: Duration) -> RedisCartRepository {
    RedisCartRepository::connect(&testing::redis::url(), prefix, ttl)
        .await
        .expect("Redis is reachable")
}

async fn raw() -> redis::aio::MultiplexedConnection {
    redis::Client::open(testing::redis::url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

async fn pttl_ms(key: &str) -> i64 {
    raw().await.pttl(key).await.unwrap()
}

async fn add(store: &RedisCartRepository, user: UserId, name: &str) -> ProductId {
    let product = ProductId::new();
    store
        .add_item(user, product, name, Money::new(250, Currency::Usd), 1)
        .await
        .unwrap();
    product
}

fn names(cart: &cart_service::models::Cart) -> Vec<&str> {
    cart.items.iter().map(|item| item.name.as_str()).collect()
}

#[tokio::test]
#[ignore = "needs Redis: set TEST_REDIS_URL or run one on 127.0.0.1:6379, then cargo test -- --ignored"]
async fn a_cart_survives_a_new_repository_instance() {
    let prefix = testing::redis::unique_prefix("cart");
    let user = UserId::new();
    let product = add(&store(&prefix, WEEK).await, user, "Pen").await;
    store(&prefix, WEEK)
        .await
        .set_quantity(user, product, 3)
        .await
        .unwrap();

    let reopened = store(&prefix, WEEK).await.get(user).await.unwrap();
    assert_eq!(names(&reopened), ["Pen"]);
    assert_eq!(reopened.items[0].quantity, 3);
    assert_eq!(reopened.items[0].unit_price, Money::new(250, Currency::Usd));
}

#[tokio::test]
#[ignore = "needs Redis: set TEST_REDIS_URL or run one on 127.0.0.1:6379, then cargo test -- --ignored"]
async fn the_cart_key_gets_the_configured_ttl_and_then_expires() {
    let store = store(
        &testing::redis::unique_prefix("cart"),
        Duration::from_secs(2),
    )
    .await;
    let user = UserId::new();
    add(&store, user, "Pen").await;
    let ttl = pttl_ms(&store.cart_key(user)).await;
    assert!((1_500..=2_000).contains(&ttl), "PTTL {ttl} ms");

    tokio::time::sleep(Duration::from_millis(2_300)).await;
    assert!(store.get(user).await.unwrap().items.is_empty());
    let exists: bool = raw().await.exists(store.cart_key(user)).await.unwrap();
    assert!(!exists, "Redis dropped the key");
}

#[tokio::test]
#[ignore = "needs Redis: set TEST_REDIS_URL or run one on 127.0.0.1:6379, then cargo test -- --ignored"]
async fn changes_refresh_the_ttl_and_reads_do_not() {
    let store = store(
        &testing::redis::unique_prefix("cart"),
        Duration::from_secs(3),
    )
    .await;
    let user = UserId::new();
    let product = add(&store, user, "Pen").await;
    tokio::time::sleep(Duration::from_millis(1_200)).await;

    assert_eq!(store.get(user).await.unwrap().items.len(), 1);
    let after_read = pttl_ms(&store.cart_key(user)).await;
    assert!(after_read <= 1_850, "a read left PTTL at {after_read} ms");

    store.set_quantity(user, product, 2).await.unwrap();
    let after_change = pttl_ms(&store.cart_key(user)).await;
    assert!(
        after_change > 2_500,
        "a change restarts the TTL: {after_change} ms"
    );
}

#[tokio::test]
#[ignore = "needs Redis: set TEST_REDIS_URL or run one on 127.0.0.1:6379, then cargo test -- --ignored"]
async fn one_user_cannot_see_another_users_cart() {
    let store = store(&testing::redis::unique_prefix("cart"), WEEK).await;
    let (ada, bob) = (UserId::new(), UserId::new());
    add(&store, ada, "Pen").await;
    let bobs = add(&store, bob, "Pad").await;

    assert_eq!(names(&store.get(ada).await.unwrap()), ["Pen"]);
    assert_eq!(names(&store.get(bob).await.unwrap()), ["Pad"]);
    assert!(
        store.remove_item(ada, bobs).await.is_err(),
        "Bob's product is not in Ada's cart"
    );
    store.clear(ada).await.unwrap();
    assert_eq!(names(&store.get(bob).await.unwrap()), ["Pad"]);
}

#[tokio::test]
#[ignore = "needs Redis: set TEST_REDIS_URL or run one on 127.0.0.1:6379, then cargo test -- --ignored"]
async fn key_prefixes_isolate_stores_sharing_one_redis() {
    let first = store(&testing::redis::unique_prefix("cart"), WEEK).await;
    let second = store(&testing::redis::unique_prefix("cart"), WEEK).await;
    let user = UserId::new();
    add(&first, user, "Pen").await;

    assert!(second.get(user).await.unwrap().items.is_empty());
    assert_ne!(first.cart_key(user), second.cart_key(user));
}

/// The part of `key` Redis Cluster hashes: the first non-empty `{…}`, else the whole key.
fn hash_tag(key: &str) -> &str {
    key.find('{')
        .and_then(|open| {
            let close = open + 1 + key[open + 1..].find('}')?;
            (close > open + 1).then(|| &key[open + 1..close])
        })
        .unwrap_or(key)
}

#[tokio::test]
#[ignore = "needs Redis: set TEST_REDIS_URL or run one on 127.0.0.1:6379, then cargo test -- --ignored"]
async fn the_keys_of_one_script_share_a_cluster_hash_slot() {
    let prefix = testing::redis::unique_prefix("cart");
    let store = store(&prefix, WEEK).await;
    let (user, event) = (UserId::new(), EventId::new());
    let cart = store.cart_key(user);
    let processed = store.processed_key(user, event);
    assert_eq!(cart, format!("{prefix}cart:{{{user}}}"));
    assert_eq!(processed, format!("{prefix}processed:{{{user}}}:{event}"));
    assert_eq!(hash_tag(&cart), user.to_string());
    assert_eq!(hash_tag(&processed), hash_tag(&cart));
    assert_ne!(hash_tag(&store.cart_key(UserId::new())), hash_tag(&cart));

    // The script really uses these keys.
    add(&store, user, "Pen").await;
    assert!(raw().await.exists::<_, bool>(&cart).await.unwrap());
    assert!(store.clear_for_event(user, event).await.unwrap());
    assert!(!raw().await.exists::<_, bool>(&cart).await.unwrap());
    assert!(raw().await.exists::<_, bool>(&processed).await.unwrap());
}

#[tokio::test]
#[ignore = "needs Redis: set TEST_REDIS_URL or run one on 127.0.0.1:6379, then cargo test -- --ignored"]
async fn concurrent_changes_to_one_cart_lose_no_item() {
    let store = store(&testing::redis::unique_prefix("cart"), WEEK).await;
    let user = UserId::new();
    let adds = (0..12).map(|i| {
        let store = store.clone();
        tokio::spawn(async move { add(&store, user, &format!("Item {i}")).await })
    });
    for handle in adds.collect::<Vec<_>>() {
        handle.await.unwrap();
    }
    assert_eq!(store.get(user).await.unwrap().items.len(), 12);
}

#[tokio::test]
#[ignore = "needs Redis: set TEST_REDIS_URL or run one on 127.0.0.1:6379, then cargo test -- --ignored"]
async fn a_confirmation_clears_the_cart_once_and_is_remembered_for_the_ttl() {
    let store = store(&testing::redis::unique_prefix("cart"), WEEK).await;
    let user = UserId::new();
    let event = EventId::new();
    add(&store, user, "Pen").await;

    assert!(store.clear_for_event(user, event).await.unwrap());
    assert!(store.get(user).await.unwrap().items.is_empty());
    add(&store, user, "Pad").await;
    assert!(
        !store.clear_for_event(user, event).await.unwrap(),
        "a redelivered confirmation is recognised"
    );
    assert_eq!(names(&store.get(user).await.unwrap()), ["Pad"]);

    let remembered = pttl_ms(&store.processed_key(user, event)).await;
    let week_ms = i64::try_from(WEEK.as_millis()).unwrap();
    assert!(
        (week_ms - 60_000..=week_ms).contains(&remembered),
        "processed ids live as long as carts: {remembered} ms"
    );
}

/// The whole service on Redis under `prefix`, with `catalog`, and the bus it consumes from.
async fn redis_app(prefix: &str, catalog: Arc<FakeCatalog>) -> (TestClient, InMemoryEventBus) {
    let bus = InMemoryEventBus::default();
    let router = start_with_dependencies(
        ServiceConfig::for_tests(CART_SERVICE),
        Settings {
            redis: Some(testing::redis::url()),
            redis_prefix: prefix.to_owned(),
            ..Settings::default()
        },
        Arc::new(bus.clone()),
        Readiness::default(),
        Dependencies {
            catalog,
            clock: Arc::new(SystemClock),
        },
    )
    .await
    .expect("the service starts on Redis");
    (TestClient::new(router), bus)
}

#[tokio::test]
#[ignore = "needs Redis: set TEST_REDIS_URL or run one on 127.0.0.1:6379, then cargo test -- --ignored"]
async fn with_a_redis_url_the_service_keeps_carts_across_restarts_and_clears_them_once() {
    let prefix = testing::redis::unique_prefix("cart-app");
    let catalog = Arc::new(FakeCatalog::default());
    let pen = catalog.add("Pen", 100, true);
    let buyer = UserId::new();
    let token = tokens::for_user(buyer, Role::Customer);

    let (before, _) = redis_app(&prefix, catalog.clone()).await;
    let added = before
        .post("/api/v1/cart/items")
        .bearer(&token)
        .json(&json!({ "product_id": pen, "quantity": 2 }))
        .send()
        .await;
    assert_eq!(added.status, 200);

    let (after, bus) = redis_app(&prefix, catalog).await;
    let cart = after.get_as(&token, "/api/v1/cart").await.json();
    assert_eq!(cart["items"][0]["quantity"], 2, "{cart}");

    let confirmed = EventEnvelope::wrap(&OrderConfirmed {
        order_id: OrderId::new(),
        user_id: buyer,
        total: Money::new(200, Currency::Usd),
    });
    bus.publish(confirmed.clone()).await.unwrap();
    bus.settled().await;
    assert_eq!(
        after.get_as(&token, "/api/v1/cart").await.json()["items"],
        json!([])
    );

    after
        .post("/api/v1/cart/items")
        .bearer(&token)
        .json(&json!({ "product_id": pen, "quantity": 1 }))
        .send()
        .await;
    bus.publish(confirmed).await.unwrap();
    bus.settled().await;
    let cart = after.get_as(&token, "/api/v1/cart").await.json();
    assert_eq!(
        cart["items"][0]["quantity"], 1,
        "the redelivery changed nothing"
    );
    assert!(bus.dead_letters().is_empty());
}
