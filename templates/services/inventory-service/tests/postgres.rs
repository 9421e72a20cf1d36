//! The inventory service on a real `PostgreSQL` (a fresh database per test): the service is
//! started as in production (`start_with` with a `Database`: migrations, outbox relay), driven
//! over HTTP and through its event consumer. Run with `cargo test -- --ignored`.

#[path = "common/stock.rs"]
mod stock;

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use inventory_service::config::Settings;
use inventory_service::models::{NotReserved, ReservationLine, ReservationLines};
use inventory_service::repository::{
    Applied, InventoryRepository, PostgresInventoryRepository, no_events,
};
use platform::ServiceConfig;
use platform::db::Database;
use platform::health::Readiness;
use platform::topology::INVENTORY_SERVICE;
use serde_json::json;
use shared_events::{
    EventBus, EventEnvelope, InMemoryEventBus, InventoryReleased, InventoryReservationFailed,
    OrderCancelled, OrderConfirmed, OrderCreated, OrderLine, topics,
};
use shared_types::{Currency, Money, OrderId, ProductId, UserId};
use sqlx::PgPool;
use stock::{set_stock, stock};
use testing::TestClient;
use testing::tokens::admin;

/// The service on the database at `url`, with its own bus (one replica).
async fn replica(url: &str, seed: bool) -> (TestClient, InMemoryEventBus) {
    let bus = InMemoryEventBus::default();
    let router = inventory_service::start_with(
        ServiceConfig::for_tests(INVENTORY_SERVICE),
        Settings {
            seed,
            database: Some(Database::new(url)),
        },
        Arc::new(bus.clone()),
        Readiness::default(),
    )
    .await
    .expect("the service starts on PostgreSQL");
    (TestClient::new(router), bus)
}

fn order_created(lines: &[(ProductId, u32)]) -> OrderCreated {
    let price = Money::new(1_000, Currency::Usd);
    OrderCreated {
        order_id: OrderId::new(),
        user_id: UserId::new(),
        lines: lines
            .iter()
            .map(|&(product_id, quantity)| OrderLine {
                product_id,
                quantity,
                unit_price: price,
            })
            .collect(),
        total: price
            .checked_mul(lines.iter().map(|(_, q)| q).sum())
            .unwrap(),
    }
}

async fn deliver(bus: &InMemoryEventBus, event: EventEnvelope) {
    bus.publish(event).await.unwrap();
    bus.settled().await;
}

fn published_on(buses: &[&InMemoryEventBus], topic: &str) -> Vec<EventEnvelope> {
    buses
        .iter()
        .flat_map(|bus| bus.published())
        .filter(|event| event.topic() == topic)
        .collect()
}

/// Waits until the outbox is drained (the relay polls every 100 ms), then for the buses.
async fn relayed(pool: &PgPool, buses: &[&InMemoryEventBus]) {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let pending: i64 =
                sqlx::query_scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL")
                    .fetch_one(pool)
                    .await
                    .unwrap();
            if pending == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the relay publishes the outbox");
    for bus in buses {
        bus.settled().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL: set TEST_DATABASE_URL or run one on 127.0.0.1:5432, then cargo test -- --ignored"]
async fn concurrent_reservations_never_oversell_on_postgres() {
    let (pool, _) = testing::pg::fresh_database("inventory").await;
    platform::db::migrate(&pool, &inventory_service::MIGRATOR)
        .await
        .unwrap();
    let repository = Arc::new(PostgresInventoryRepository::new(pool.clone()));
    let product = ProductId::new();
    repository.set_available(product, 10).await.unwrap();

    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let repository = Arc::clone(&repository);
            tokio::spawn(async move {
                let lines = ReservationLines::new([ReservationLine {
                    product_id: product,
                    quantity: 1,
                }])
                .unwrap();
                repository
                    .reserve(OrderId::new(), &lines, None, &no_events)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut reserved = 0;
    let mut refused = 0;
    for task in tasks {
        match task.await.unwrap() {
            Applied::Done(Ok(_)) => reserved += 1,
            Applied::Done(Err(NotReserved::Insufficient(short))) => {
                assert_eq!(short.product_id, product);
                refused += 1;
            }
            Applied::Done(Err(NotReserved::Cancelled)) => panic!("no order was cancelled"),
            Applied::AlreadyProcessed => panic!("no delivery was given"),
        }
    }
    assert_eq!((reserved, refused), (10, 40));
    let level = repository.stock(product).await.unwrap().unwrap();
    assert_eq!((level.available, level.reserved), (0, 10));
    let held: i64 = sqlx::query_scalar("SELECT count(*) FROM reservations")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(held, 10, "refused orders leave no reservation behind");

    // The database itself refuses negative stock, whatever the code does.
    let err = sqlx::query("UPDATE stock SET available = -1 WHERE product_id = $1")
        .bind(product.0)
        .execute(&pool)
        .await
        .unwrap_err();
    let code = err
        .as_database_error()
        .and_then(sqlx::error::DatabaseError::code);
    assert_eq!(code.as_deref(), Some("23514"), "a CHECK violation: {err}");
    let err = sqlx::query("UPDATE stock SET reserved = -1 WHERE product_id = $1")
        .bind(product.0)
        .execute(&pool)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("check constraint"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set TEST_DATABASE_URL or run one on 127.0.0.1:5432, then cargo test -- --ignored"]
async fn a_redelivered_order_created_reserves_once_even_on_another_replica() {
    let (pool, url) = testing::pg::fresh_database("inventory").await;
    let (first, first_bus) = replica(&url, false).await;
    // A second replica on the same database: its own in-process dedupe knows nothing, only
    // the inbox table can tell it the event was handled.
    let (_second, second_bus) = replica(&url, false).await;
    let product = ProductId::new();
    set_stock(&first, product, 5).await;
    let order = order_created(&[(product, 2)]);
    let envelope = EventEnvelope::wrap(&order);

    deliver(&first_bus, envelope.clone()).await;
    deliver(&first_bus, envelope.clone()).await;
    deliver(&second_bus, envelope).await;
    relayed(&pool, &[&first_bus, &second_bus]).await;

    assert_eq!(stock(&first, product).await, (3, 2));
    let reserved = published_on(&[&first_bus, &second_bus], topics::INVENTORY_RESERVED);
    assert_eq!(reserved.len(), 1, "inventory.reserved is published once");
    let processed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM processed_events WHERE consumer = 'inventory-service'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(processed, 1);
    assert!(first_bus.dead_letters().is_empty() && second_bus.dead_letters().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set TEST_DATABASE_URL or run one on 127.0.0.1:5432, then cargo test -- --ignored"]
async fn release_after_commit_restocks_once_on_postgres() {
    let (pool, url) = testing::pg::fresh_database("inventory").await;
    let (app, bus) = replica(&url, false).await;
    let product = ProductId::new();
    set_stock(&app, product, 10).await;
    let order = order_created(&[(product, 3)]);
    deliver(&bus, EventEnvelope::wrap(&order)).await;
    assert_eq!(stock(&app, product).await, (7, 3));

    deliver(
        &bus,
        EventEnvelope::wrap(&OrderConfirmed {
            order_id: order.order_id,
            user_id: order.user_id,
            total: order.total,
            lines: Vec::new(),
        }),
    )
    .await;
    assert_eq!(stock(&app, product).await, (7, 0), "the units are sold");

    let cancelled = EventEnvelope::wrap(&OrderCancelled {
        order_id: order.order_id,
        user_id: order.user_id,
        reason: "refund requested".to_owned(),
    });
    deliver(&bus, cancelled.clone()).await;
    deliver(&bus, cancelled).await;
    assert_eq!(
        stock(&app, product).await,
        (10, 0),
        "sold units are restocked once"
    );
    // Another cancel of the same order under a new event id finds it released already.
    deliver(
        &bus,
        EventEnvelope::wrap(&OrderCancelled {
            order_id: order.order_id,
            user_id: order.user_id,
            reason: "again".to_owned(),
        }),
    )
    .await;
    assert_eq!(stock(&app, product).await, (10, 0));

    relayed(&pool, &[&bus]).await;
    let released = published_on(&[&bus], topics::INVENTORY_RELEASED);
    assert_eq!(released.len(), 1);
    assert_eq!(
        released[0].decode::<InventoryReleased>().unwrap().order_id,
        order.order_id
    );
    let (status, body) = app
        .get(&format!(
            "/api/v1/inventory/reservations/{}",
            order.order_id
        ))
        .bearer(&admin())
        .send()
        .await
        .status_and_json();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["state"], "released");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set TEST_DATABASE_URL or run one on 127.0.0.1:5432, then cargo test -- --ignored"]
async fn a_cancel_that_overtakes_order_created_holds_nothing_and_publishes_a_failure_on_postgres() {
    let (pool, url) = testing::pg::fresh_database("inventory").await;
    let (app, bus) = replica(&url, false).await;
    let product = ProductId::new();
    set_stock(&app, product, 5).await;
    let order = order_created(&[(product, 2)]);
    deliver(
        &bus,
        EventEnvelope::wrap(&OrderCancelled {
            order_id: order.order_id,
            user_id: order.user_id,
            reason: "cancelled by the customer".to_owned(),
        }),
    )
    .await;
    let tombstones: i64 =
        sqlx::query_scalar("SELECT count(*) FROM cancelled_orders WHERE order_id = $1")
            .bind(order.order_id.0)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(tombstones, 1, "the early cancel is remembered");
    deliver(&bus, EventEnvelope::wrap(&order)).await;
    relayed(&pool, &[&bus]).await;

    assert_eq!(stock(&app, product).await, (5, 0), "nothing held");
    assert!(published_on(&[&bus], topics::INVENTORY_RESERVED).is_empty());
    assert!(published_on(&[&bus], topics::INVENTORY_RELEASED).is_empty());
    let failed = published_on(&[&bus], topics::INVENTORY_RESERVATION_FAILED);
    assert_eq!(failed.len(), 1);
    let failed = failed[0].decode::<InventoryReservationFailed>().unwrap();
    assert_eq!(failed.order_id, order.order_id);
    assert_eq!(failed.reason, "order was cancelled");
    let reservations: i64 = sqlx::query_scalar("SELECT count(*) FROM reservations")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(reservations, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL: set TEST_DATABASE_URL or run one on 127.0.0.1:5432, then cargo test -- --ignored"]
async fn a_cancel_racing_its_reservation_never_leaves_stock_held_on_postgres() {
    let (pool, url) = testing::pg::fresh_database("inventory").await;
    let (app, _bus) = replica(&url, false).await;
    let product = ProductId::new();
    set_stock(&app, product, 1_000).await;
    let repository = Arc::new(PostgresInventoryRepository::new(pool.clone()));
    let lines = ReservationLines::new([ReservationLine {
        product_id: product,
        quantity: 1,
    }])
    .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..40 {
        let order = OrderId::new();
        let reserving = Arc::clone(&repository);
        let reserve_lines = lines.clone();
        tasks.push(tokio::spawn(async move {
            reserving
                .reserve(order, &reserve_lines, None, &no_events)
                .await
                .map(|_| ())
        }));
        let releasing = Arc::clone(&repository);
        tasks.push(tokio::spawn(async move {
            releasing.release(order, None, &no_events).await.map(|_| ())
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    // Every order was cancelled: whichever ran first, no unit stays held.
    assert_eq!(stock(&app, product).await, (1_000, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set TEST_DATABASE_URL or run one on 127.0.0.1:5432, then cargo test -- --ignored"]
async fn a_short_line_holds_nothing_and_the_failure_is_published_naming_the_product() {
    let (pool, url) = testing::pg::fresh_database("inventory").await;
    let (app, bus) = replica(&url, false).await;
    let plenty = ProductId::new();
    let scarce = ProductId::new();
    set_stock(&app, plenty, 10).await;
    set_stock(&app, scarce, 1).await;
    let order = order_created(&[(plenty, 4), (scarce, 2)]);
    deliver(&bus, EventEnvelope::wrap(&order)).await;
    relayed(&pool, &[&bus]).await;

    assert_eq!(stock(&app, plenty).await, (10, 0), "all or nothing");
    assert_eq!(stock(&app, scarce).await, (1, 0));
    let failed = published_on(&[&bus], topics::INVENTORY_RESERVATION_FAILED);
    assert_eq!(failed.len(), 1);
    let failed = failed[0].decode::<InventoryReservationFailed>().unwrap();
    assert_eq!(failed.order_id, order.order_id);
    assert!(
        failed.reason.contains(&scarce.to_string()),
        "{}",
        failed.reason
    );
    assert!(published_on(&[&bus], topics::INVENTORY_RESERVED).is_empty());
    let response = app
        .get(&format!(
            "/api/v1/inventory/reservations/{}",
            order.order_id
        ))
        .bearer(&admin())
        .send()
        .await;
    assert_eq!(response.status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set TEST_DATABASE_URL or run one on 127.0.0.1:5432, then cargo test -- --ignored"]
async fn a_restart_keeps_the_stock_and_seeding_never_resets_it() {
    let (_pool, url) = testing::pg::fresh_database("inventory").await;
    let (app, _bus) = replica(&url, true).await;
    let keyboard = inventory_service::seed::KEYBOARD;
    assert_eq!(stock(&app, keyboard).await, (40, 0));
    set_stock(&app, keyboard, 3).await;
    let reservation = app
        .post("/api/v1/inventory/reservations")
        .bearer(&admin())
        .json(&json!({
            "order_id": OrderId::new(),
            "lines": [{ "product_id": keyboard, "quantity": 1 }],
        }))
        .send()
        .await;
    assert_eq!(reservation.status, StatusCode::CREATED);
    drop(app);

    let (restarted, _bus) = replica(&url, true).await;
    assert_eq!(stock(&restarted, keyboard).await, (2, 1));
}
