//! The product service on a real `PostgreSQL` (`TEST_DATABASE_URL`, default the local server),
//! each test on its own fresh, migrated database.

use std::sync::Arc;

use axum::http::StatusCode;
use platform::ServiceConfig;
use platform::health::Readiness;
use platform::topology::PRODUCT_SERVICE;
use product_service::config::Settings;
use product_service::models::{Product, ProductPatch};
use product_service::repository::ProductRepository;
use product_service::repository::postgres::PostgresProductRepository;
use product_service::{MIGRATOR, events, seed, start_with_pool};
use serde_json::{Value, json};
use shared_events::{EventEnvelope, InMemoryEventBus, ProductUpdated};
use shared_types::{Currency, Money, ProductId};
use sqlx::PgPool;
use testing::tokens::admin;
use testing::{TestClient, stub};

async fn migrated_database() -> PgPool {
    let (pool, _) = testing::pg::fresh_database("product_service").await;
    platform::db::migrate(&pool, &MIGRATOR).await.unwrap();
    pool
}

/// The service on `pool` (or in memory for `None`), seeded or not.
async fn app(pool: Option<PgPool>, seed: bool) -> TestClient {
    let router = start_with_pool(
        ServiceConfig::for_tests(PRODUCT_SERVICE),
        Settings {
            seed,
            inventory_url: stub::unreachable_url().await,
            database: None,
        },
        pool,
        Arc::new(InMemoryEventBus::default()),
        Readiness::default(),
    )
    .await
    .expect("the service starts");
    TestClient::new(router)
}

async fn create(app: &TestClient, name: &str, description: &str, category: &str) -> Value {
    let (status, body) = app
        .post("/api/v1/products")
        .bearer(&admin())
        .json(&json!({
            "name": name,
            "description": description,
            "category": category,
            "price": { "amount_minor": 1_500, "currency": "USD" },
        }))
        .send()
        .await
        .status_and_json();
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

/// The names on a listing page, and its total.
async fn names(app: &TestClient, uri: &str) -> (Vec<String>, u64) {
    let (status, page) = app.get(uri).send().await.status_and_json();
    assert_eq!(status, StatusCode::OK, "{uri}: {page}");
    let names = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect();
    (names, page["total"].as_u64().unwrap())
}

fn usd(cents: i64) -> Money {
    Money::new(cents, Currency::Usd)
}

fn product(name: &str) -> Product {
    Product {
        id: ProductId::new(),
        name: name.to_owned(),
        description: "A thing".to_owned(),
        category: "office".to_owned(),
        price: usd(1_000),
        active: true,
        version: 1,
    }
}

/// Every outbox row's envelope, in insertion order.
async fn outbox(pool: &PgPool) -> Vec<EventEnvelope> {
    let rows: Vec<serde_json::Value> =
        sqlx::query_scalar("SELECT envelope FROM outbox ORDER BY id")
            .fetch_all(pool)
            .await
            .unwrap();
    rows.into_iter()
        .map(|row| serde_json::from_value(row).unwrap())
        .collect()
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set TEST_DATABASE_URL or run one on 127.0.0.1:5432, then cargo test -- --ignored"]
async fn with_a_read_url_catalogue_reads_go_there_and_writes_to_the_primary() {
    let (primary, primary_url) = testing::pg::fresh_database("product_service").await;
    platform::db::migrate(&primary, &MIGRATOR).await.unwrap();
    // A second database stands in for a replica that has not caught up yet.
    let (replica, replica_url) = testing::pg::fresh_database("product_service").await;
    platform::db::migrate(&replica, &MIGRATOR).await.unwrap();
    let database = platform::db::Database {
        read_url: Some(replica_url),
        ..platform::db::Database::new(primary_url)
    };
    let router = start_with_pool(
        ServiceConfig::for_tests(PRODUCT_SERVICE),
        Settings {
            seed: false,
            inventory_url: stub::unreachable_url().await,
            database: Some(database),
        },
        Some(primary.clone()),
        Arc::new(InMemoryEventBus::default()),
        Readiness::default(),
    )
    .await
    .expect("the service starts");
    let app = TestClient::new(router);
    let lamp = create(&app, "Reading Light", "Clip-on lamp", "office").await;
    let path = format!("/api/v1/products/{}", lamp["id"].as_str().unwrap());
    // Written to the primary; the lagging replica does not have it yet.
    assert_eq!(app.get(&path).send().await.status, StatusCode::NOT_FOUND);
    assert_eq!(names(&app, "/api/v1/products").await.1, 0);
    // An update goes to the primary, whatever the replica holds.
    let renamed = app
        .patch(&path)
        .bearer(&admin())
        .json(&json!({ "name": "Reading Lamp" }))
        .send()
        .await;
    assert_eq!(renamed.status, StatusCode::OK);
    // Once the replica has the row, reads see it.
    let id: ProductId = serde_json::from_value(lamp["id"].clone()).unwrap();
    let product = PostgresProductRepository::new(primary)
        .get(id)
        .await
        .unwrap()
        .expect("the primary has it");
    PostgresProductRepository::new(replica)
        .seed(&[product])
        .await
        .unwrap();
    let (status, body) = app.get(&path).send().await.status_and_json();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["name"], "Reading Lamp");
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set TEST_DATABASE_URL or run one on 127.0.0.1:5432, then cargo test -- --ignored"]
async fn listing_filter_and_search_on_postgresql_answer_like_the_in_memory_catalogue() {
    let postgres = app(Some(migrated_database().await), false).await;
    let memory = app(None, false).await;
    for app in [&postgres, &memory] {
        create(app, "Reading Light", "Clip-on lamp for books", "office").await;
        create(app, "Lamp Shade", "Linen", "Home").await;
        create(app, "Floor LAMP", "Tall", "home").await;
        create(app, "Stapler", "Heavy duty", "office").await;
        create(app, "apple Stand", "For 50%_off tablets", "office").await;
        let fan = create(app, "Desk Fan", "Quiet lamp-free fan", "office").await;
        let id = fan["id"].as_str().unwrap();
        let hidden = app
            .patch(&format!("/api/v1/products/{id}"))
            .bearer(&admin())
            .json(&json!({ "active": false }))
            .send()
            .await;
        assert_eq!(hidden.status, StatusCode::OK);
    }

    let (all, total) = names(&postgres, "/api/v1/products").await;
    assert_eq!(
        all,
        [
            "apple Stand",
            "Floor LAMP",
            "Lamp Shade",
            "Reading Light",
            "Stapler"
        ],
        "by lower-cased name; inactive products are not listed"
    );
    assert_eq!(total, 5);
    let (home, total) = names(&postgres, "/api/v1/products?category=HOME").await;
    assert_eq!(
        (home, total),
        (vec!["Floor LAMP".to_owned(), "Lamp Shade".to_owned()], 2)
    );
    let (lamps, total) = names(&postgres, "/api/v1/products/search?q=LaMp").await;
    assert_eq!(lamps, ["Lamp Shade", "Floor LAMP", "Reading Light"]);
    assert_eq!(total, 3);
    let (literal, _) = names(&postgres, "/api/v1/products/search?q=50%25_").await;
    assert_eq!(
        literal,
        ["apple Stand"],
        "LIKE wildcards in a query match literally"
    );

    for uri in [
        "/api/v1/products",
        "/api/v1/products?per_page=2",
        "/api/v1/products?page=2&per_page=2",
        "/api/v1/products?page=9&per_page=2",
        "/api/v1/products?category=office",
        "/api/v1/products/search?q=a",
        "/api/v1/products/search?q=a&page=2&per_page=2",
        "/api/v1/products/search?q=fan",
        "/api/v1/products/search?q=_",
    ] {
        assert_eq!(
            names(&postgres, uri).await,
            names(&memory, uri).await,
            "{uri}"
        );
    }
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set TEST_DATABASE_URL or run one on 127.0.0.1:5432, then cargo test -- --ignored"]
async fn an_update_writes_its_product_updated_row_in_the_same_transaction() {
    let pool = migrated_database().await;
    let repository = PostgresProductRepository::new(pool.clone());
    let pen = product("Pen");
    repository
        .insert(pen.clone(), &events::caused_by_change(&pen))
        .await
        .unwrap();

    let raise = ProductPatch {
        price: Some(usd(1_250)),
        ..ProductPatch::default()
    };
    let updated = repository
        .update(pen.id, &raise, &events::caused_by_change)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(updated.price, usd(1_250));
    assert_eq!(updated.version, 2, "the update counted up the version");
    let rows = outbox(&pool).await;
    assert_eq!(
        rows.len(),
        2,
        "one row for the creation, one for the update"
    );
    let event: ProductUpdated = rows[1].decode().unwrap();
    assert_eq!(
        (event.product_id, event.price, event.active, event.version),
        (pen.id, usd(1_250), true, 2)
    );

    // When the event cannot be written (here: an event id already in the outbox), the
    // change rolls back with it.
    let taken = rows[1].clone();
    let cut = ProductPatch {
        price: Some(usd(1)),
        ..ProductPatch::default()
    };
    let failing = move |_: &Product| vec![taken.clone()];
    assert!(repository.update(pen.id, &cut, &failing).await.is_err());
    let kept = repository.get(pen.id).await.unwrap().unwrap();
    assert_eq!((kept.price, kept.version), (usd(1_250), 2));
    assert_eq!(outbox(&pool).await.len(), 2);

    // No product, no event.
    assert_eq!(
        repository
            .update(ProductId::new(), &raise, &events::caused_by_change)
            .await
            .unwrap(),
        None
    );
    assert_eq!(outbox(&pool).await.len(), 2);

    // The relay publishes both, in order.
    let bus = InMemoryEventBus::default();
    assert_eq!(platform::outbox::relay_once(&pool, &bus).await.unwrap(), 2);
    let prices: Vec<Money> = testing::bus::decoded::<ProductUpdated>(&bus)
        .iter()
        .map(|event| event.price)
        .collect();
    assert_eq!(prices, [usd(1_000), usd(1_250)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL: set TEST_DATABASE_URL or run one on 127.0.0.1:5432, then cargo test -- --ignored"]
async fn the_demo_catalogue_is_seeded_once_even_by_replicas_starting_together() {
    let pool = migrated_database().await;
    let replicas: Vec<_> = (0..3)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move { app(Some(pool), true).await })
        })
        .collect();
    let mut apps = Vec::new();
    for replica in replicas {
        apps.push(replica.await.unwrap());
    }
    let count = |sql: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    let demo = i64::try_from(seed::DEMO_CATALOGUE.len()).unwrap();
    assert_eq!(count("SELECT count(*) FROM products").await, demo);
    assert_eq!(
        count("SELECT count(*) FROM outbox").await,
        0,
        "seeding publishes nothing"
    );

    // A restart after a change seeds nothing over it.
    let id = seed::KEYBOARD.to_string();
    let patched = apps[0]
        .patch(&format!("/api/v1/products/{id}"))
        .bearer(&admin())
        .json(&json!({ "price": { "amount_minor": 7_999, "currency": "USD" } }))
        .send()
        .await;
    assert_eq!(patched.status, StatusCode::OK);
    let restarted = app(Some(pool.clone()), true).await;
    let keyboard = restarted
        .get(&format!("/api/v1/products/{id}"))
        .send()
        .await
        .json();
    assert_eq!(keyboard["price"]["amount_minor"], 7_999);
    assert_eq!(count("SELECT count(*) FROM products").await, demo);
}
