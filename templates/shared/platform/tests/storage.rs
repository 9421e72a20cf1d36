//! A service's storage start-up on a real `PostgreSQL` (`db::open` then `db::start_storage`):
//! the pool it answers has the service's schema, a second replica opening the same database
//! is fine, and the outbox relay it starts publishes what the service enqueues. Run with
//! `cargo test -- --ignored`.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use platform::db::{self, Database, create_database};
use platform::health::Readiness;
use platform::outbox;
use shared_events::{EventEnvelope, InMemoryEventBus, OrderCancelled};
use shared_types::{OrderId, UserId};
use sqlx::PgPool;
use sqlx::migrate::Migrator;

/// A new, empty database and order-service's migrations.
async fn order_database() -> (Database, &'static Migrator) {
    let server = std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let name = format!("platform_open_{}", uuid::Uuid::new_v4().simple());
    let database = Database::new(create_database(&server, &name).await.unwrap());
    // The crate's directory: services/ when it is a unit, modules/ when a monolith runs it.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let migrations = ["services", "modules"]
        .map(|dir| root.join(dir).join("order-service/migrations"))
        .into_iter()
        .find(|path| path.is_dir())
        .expect("order-service's migrations under services/ or modules/");
    let migrator: &'static Migrator =
        Box::leak(Box::new(Migrator::new(migrations.as_path()).await.unwrap()));
    (database, migrator)
}

/// `event` committed to the outbox of `pool`.
async fn enqueue(pool: &PgPool, reason: &str) -> EventEnvelope {
    let event = EventEnvelope::wrap(&OrderCancelled {
        order_id: OrderId::new(),
        user_id: UserId::new(),
        reason: reason.to_owned(),
    });
    let mut tx = pool.begin().await.unwrap();
    outbox::enqueue(&mut tx, &event).await.unwrap();
    tx.commit().await.unwrap();
    event
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set TEST_DATABASE_URL or run one on 127.0.0.1:5432, then cargo test -- --ignored"]
async fn open_migrates_the_database_and_start_storage_relays_its_outbox() {
    let (database, migrator) = order_database().await;

    let pool = db::open(Some(&database), migrator)
        .await
        .unwrap()
        .expect("a database was named");
    let outbox_exists: bool = sqlx::query_scalar("SELECT to_regclass('outbox') IS NOT NULL")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(outbox_exists);
    // A second replica starting on the same database finds nothing left to apply.
    let replica = db::open(Some(&database), migrator).await.unwrap();
    assert!(replica.is_some());

    let bus = InMemoryEventBus::default();
    let readiness = Readiness::default();
    db::start_storage(
        "order-service",
        Some(&pool),
        Some(Arc::new(bus.clone())),
        &readiness,
    );
    assert_eq!(readiness.check_names(), ["database"]);
    let event = enqueue(&pool, "storage start-up check").await;
    tokio::time::timeout(Duration::from_secs(10), async {
        while bus.published().is_empty() {
            tokio::time::sleep(outbox::POLL_INTERVAL).await;
        }
    })
    .await
    .expect("the relay publishes the enqueued event");
    assert_eq!(bus.published(), vec![event]);
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set TEST_DATABASE_URL or run one on 127.0.0.1:5432, then cargo test -- --ignored"]
async fn start_storage_without_a_bus_runs_no_relay() {
    let (database, migrator) = order_database().await;
    let pool = db::open(Some(&database), migrator).await.unwrap().unwrap();

    db::start_storage("order-service", Some(&pool), None, &Readiness::default());
    enqueue(&pool, "nobody relays this").await;
    tokio::time::sleep(outbox::POLL_INTERVAL * 5).await;
    let pending: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(pending, 1);
}
