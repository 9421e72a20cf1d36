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
use cart_service::models::{Bought, ProductTerms};
use cart_service::prices::PriceBook;
use cart_service::prices::redis::RedisPriceBook;
use cart_service::repository::redis::{self as redis_store, RedisCartRepository};
use cart_service::repository::{CartRepository, SystemClock};
use cart_service::{Dependencies, start_with_dependencies};
use common::FakeCatalog;
use platform::ServiceConfig;
use platform::auth::Role;
use platform::health::Readiness;
use platform::topology::CART_SERVICE;
use redis::AsyncCommands as _;
use serde_json::json;
use shared_events::{
    EventBus, EventEnvelope, InMemoryEventBus, OrderConfirmed, OrderLine, ProductUpdated,
};
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

/// Terms of a product on sale at `cents` US cents.
fn terms(name: &str, cents: i64, version: u64) -> ProductTerms {
    ProductTerms {
        name: name.to_owned(),
        unit_price: Money::new(cents, Currency::Usd),
        active: true,
        version,
    }
}

async fn add(store: &RedisCartRepository, user: UserId, name: &str) -> ProductId {
    let product = ProductId::new();
    store
        .add_item(user, product, &terms(name, 250, 1), 1)
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
    let pen = add(&store, user, "Pen").await;
    assert!(raw().await.exists::<_, bool>(&cart).await.unwrap());
    let bought = Bought::Units(vec![(pen, 1)]);
    assert!(store.remove_bought(user, event, &bought).await.unwrap());
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
async fn a_confirmation_takes_out_what_it_bought_once_and_is_remembered_for_the_ttl() {
    let store = store(&testing::redis::unique_prefix("cart"), WEEK).await;
    let user = UserId::new();
    let event = EventId::new();
    let pen = add(&store, user, "Pen").await;
    store.set_quantity(user, pen, 3).await.unwrap();
    // Added after checkout, before the confirmation arrives.
    add(&store, user, "Pad").await;

    let bought = Bought::Units(vec![(pen, 2)]);
    assert!(store.remove_bought(user, event, &bought).await.unwrap());
    let cart = store.get(user).await.unwrap();
    assert_eq!(names(&cart), ["Pen", "Pad"]);
    assert_eq!(cart.items[0].quantity, 1);
    assert!(
        !store.remove_bought(user, event, &bought).await.unwrap(),
        "a redelivered confirmation is recognised"
    );
    assert_eq!(
        store.get(user).await.unwrap(),
        cart,
        "and takes nothing more"
    );

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
async fn on_redis_the_service_is_ready_while_redis_answers() {
    let readiness = Readiness::default();
    let router = start_with_dependencies(
        ServiceConfig::for_tests(CART_SERVICE),
        Settings {
            redis: Some(testing::redis::url()),
            redis_prefix: testing::redis::unique_prefix("cart"),
            ..Settings::default()
        },
        Arc::new(InMemoryEventBus::default()),
        readiness.clone(),
        Dependencies {
            catalog: Arc::new(FakeCatalog::default()),
            clock: Arc::new(SystemClock),
        },
    )
    .await
    .expect("the service starts on Redis");
    readiness.set_serving(true);
    let ready = TestClient::new(router).get("/ready").send().await;
    assert_eq!(ready.status, 200);
    assert_eq!(
        ready.json(),
        json!({ "status": "ready", "serving": true, "checks": { "redis": "ok" } })
    );
}

#[tokio::test]
#[ignore = "needs Redis: set TEST_REDIS_URL or run one on 127.0.0.1:6379, then cargo test -- --ignored"]
async fn concurrent_confirmations_for_one_cart_each_take_out_their_units() {
    let store = store(&testing::redis::unique_prefix("cart"), WEEK).await;
    let user = UserId::new();
    let pen = add(&store, user, "Pen").await;
    store.set_quantity(user, pen, 24).await.unwrap();
    let takes = (0..12).map(|_| {
        let store = store.clone();
        let bought = Bought::Units(vec![(pen, 2)]);
        tokio::spawn(async move { store.remove_bought(user, EventId::new(), &bought).await })
    });
    for handle in takes.collect::<Vec<_>>() {
        assert!(handle.await.unwrap().unwrap());
    }
    assert!(store.get(user).await.unwrap().items.is_empty());
}

#[tokio::test]
#[ignore = "needs Redis: set TEST_REDIS_URL or run one on 127.0.0.1:6379, then cargo test -- --ignored"]
async fn the_price_table_is_one_hash_every_replica_shares_and_keeps_the_newest_terms() {
    let prefix = testing::redis::unique_prefix("cart");
    let url = testing::redis::url();
    let one = RedisPriceBook::new(redis_store::connect(&url).await.unwrap(), &prefix);
    let other = RedisPriceBook::new(redis_store::connect(&url).await.unwrap(), &prefix);
    assert_eq!(one.key(), format!("{prefix}prices"));
    let (pen, pad) = (ProductId::new(), ProductId::new());

    assert!(one.record(pen, &terms("Pen", 180, 3)).await.unwrap());
    assert!(
        !other.record(pen, &terms("Pen", 120, 2)).await.unwrap(),
        "an older version arriving late"
    );
    assert!(
        other.record(pen, &terms("Pen", 180, 3)).await.unwrap(),
        "a redelivery"
    );
    let known = other.terms(&[pen, pad]).await.unwrap();
    assert_eq!(known.len(), 1, "nothing was announced for the pad");
    assert_eq!(known[&pen], terms("Pen", 180, 3));
    assert!(one.terms(&[]).await.unwrap().is_empty());
    let fields: i64 = raw().await.hlen(one.key()).await.unwrap();
    assert_eq!(fields, 1);
}

async fn deliver(bus: &InMemoryEventBus, event: EventEnvelope) {
    bus.publish(event).await.unwrap();
    bus.settled().await;
}

#[tokio::test]
#[ignore = "needs Redis: set TEST_REDIS_URL or run one on 127.0.0.1:6379, then cargo test -- --ignored"]
async fn on_redis_replicas_share_carts_and_prices_and_a_confirmation_takes_out_only_its_units() {
    let prefix = testing::redis::unique_prefix("cart-app");
    let catalog = Arc::new(FakeCatalog::default());
    let pen = catalog.add("Pen", 100, true);
    let pad = catalog.add("Pad", 300, true);
    let buyer = UserId::new();
    let token = tokens::for_user(buyer, Role::Customer);
    // Two replicas: each consumes some of the events (its own bus here), both serve carts.
    let (first, first_bus) = redis_app(&prefix, catalog.clone()).await;
    let (second, second_bus) = redis_app(&prefix, catalog).await;

    let added = first
        .post("/api/v1/cart/items")
        .bearer(&token)
        .json(&json!({ "product_id": pen, "quantity": 2 }))
        .send()
        .await;
    assert_eq!(added.status, 200);
    let cart = second.get_as(&token, "/api/v1/cart").await.json();
    assert_eq!(cart["items"][0]["quantity"], 2, "{cart}");

    // The reprice reaches the first replica; the second prices the cart with it.
    deliver(
        &first_bus,
        EventEnvelope::wrap(&ProductUpdated {
            product_id: pen,
            name: "Pen".to_owned(),
            price: Money::new(150, Currency::Usd),
            active: true,
            version: 2,
        }),
    )
    .await;
    let cart = second.get_as(&token, "/api/v1/cart").await.json();
    assert_eq!(
        cart["items"][0]["unit_price"]["amount_minor"], 150,
        "{cart}"
    );
    assert_eq!(cart["total"]["amount_minor"], 300);

    // Checkout bought the two pens; the pad comes after it, before the confirmation.
    second
        .post("/api/v1/cart/items")
        .bearer(&token)
        .json(&json!({ "product_id": pad, "quantity": 1 }))
        .send()
        .await;
    let confirmed = EventEnvelope::wrap(&OrderConfirmed {
        order_id: OrderId::new(),
        user_id: buyer,
        total: Money::new(300, Currency::Usd),
        lines: vec![OrderLine {
            product_id: pen,
            quantity: 2,
            unit_price: Money::new(150, Currency::Usd),
        }],
    });
    deliver(&second_bus, confirmed.clone()).await;
    let cart = first.get_as(&token, "/api/v1/cart").await.json();
    assert_eq!(cart["items"].as_array().unwrap().len(), 1, "{cart}");
    assert_eq!(cart["items"][0]["product_id"], pad.to_string());

    // The buyer puts two pens back; the confirmation, redelivered to the other replica, is
    // recognised and takes none of them.
    let refilled = first
        .post("/api/v1/cart/items")
        .bearer(&token)
        .json(&json!({ "product_id": pen, "quantity": 2 }))
        .send()
        .await
        .json();
    deliver(&first_bus, confirmed).await;
    let again = second.get_as(&token, "/api/v1/cart").await.json();
    assert_eq!(again, refilled, "the redelivery changed nothing");
    assert_eq!(again["items"][1]["quantity"], 2);

    // The pad is taken off sale: its line is marked and left out of the total.
    deliver(
        &second_bus,
        EventEnvelope::wrap(&ProductUpdated {
            product_id: pad,
            name: "Pad".to_owned(),
            price: Money::new(300, Currency::Usd),
            active: false,
            version: 2,
        }),
    )
    .await;
    let cart = first.get_as(&token, "/api/v1/cart").await.json();
    assert_eq!(cart["items"][0]["status"], "discontinued", "{cart}");
    assert_eq!(cart["items"][1]["status"], "available");
    assert_eq!(cart["total"]["amount_minor"], 300);
    assert!(first_bus.dead_letters().is_empty());
    assert!(second_bus.dead_letters().is_empty());
}
