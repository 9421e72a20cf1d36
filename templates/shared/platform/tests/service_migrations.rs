//! Every service's migrations create the `outbox` and `processed_events` tables the way the
//! platform's queries use them: each service's `migrations/` directory (read at run time, no
//! dependency on the service crates) is applied to a fresh database, then the outbox is
//! written with `outbox::enqueue`, drained with `outbox::relay_once` (its `attempts`,
//! `next_attempt_at`, `published_at` and `aggregate_id` columns), and the inbox is used with
//! `inbox::first_time`. Run with `cargo test -- --ignored`.

use std::path::{Path, PathBuf};

use platform::db::{Database, create_database};
use platform::{inbox, outbox};
use shared_events::{EventEnvelope, InMemoryEventBus, OrderCancelled};
use shared_types::{EventId, OrderId, UserId};
use sqlx::PgPool;
use sqlx::migrate::Migrator;

fn services_with_migrations() -> Vec<(String, PathBuf)> {
    // services/ when each is a unit, modules/ when a monolith runs them.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let services = ["services", "modules"]
        .map(|dir| root.join(dir))
        .into_iter()
        .find(|path| path.is_dir())
        .expect("the workspace's services/ or modules/ directory");
    let mut found: Vec<(String, PathBuf)> = std::fs::read_dir(&services)
        .expect("the workspace's services directory")
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.join("migrations").is_dir())
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, path.join("migrations"))
        })
        .collect();
    found.sort();
    found
}

async fn has_table(pool: &PgPool, table: &str) -> bool {
    sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
        .bind(table)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set TEST_DATABASE_URL or run one on 127.0.0.1:5432, then cargo test -- --ignored"]
async fn every_services_migrations_fit_the_platforms_outbox_and_inbox_queries() {
    let server = std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let services = services_with_migrations();
    let mut with_outbox = Vec::new();
    let mut with_inbox = Vec::new();
    for (service, migrations) in &services {
        let name = format!("platform_schema_{}", uuid::Uuid::new_v4().simple());
        let url = create_database(&server, &name).await.unwrap();
        let pool = Database::new(url).connect().await.unwrap();
        let migrator = Migrator::new(migrations.as_path()).await.unwrap();
        migrator
            .run(&pool)
            .await
            .unwrap_or_else(|err| panic!("{service}: migrations fail: {err}"));

        if has_table(&pool, "outbox").await {
            let order = OrderId::new();
            let events: Vec<EventEnvelope> = (0..2)
                .map(|_| {
                    EventEnvelope::wrap(&OrderCancelled {
                        order_id: order,
                        user_id: UserId::new(),
                        reason: "schema check".to_owned(),
                    })
                })
                .collect();
            let mut tx = pool.begin().await.unwrap();
            for event in &events {
                outbox::enqueue(&mut tx, event)
                    .await
                    .unwrap_or_else(|err| panic!("{service}: enqueue fails: {err}"));
            }
            tx.commit().await.unwrap();
            let bus = InMemoryEventBus::default();
            let published = outbox::relay_once(&pool, &bus)
                .await
                .unwrap_or_else(|err| panic!("{service}: relay_once fails: {err:#}"));
            assert_eq!(published, 2, "{service}");
            assert_eq!(bus.published(), events, "{service}");
            with_outbox.push(service.clone());
        }

        if has_table(&pool, "processed_events").await {
            let event_id = EventId::new();
            let mut tx = pool.begin().await.unwrap();
            assert!(
                inbox::first_time(&mut tx, "schema-check", event_id)
                    .await
                    .unwrap_or_else(|err| panic!("{service}: first_time fails: {err}")),
                "{service}"
            );
            assert!(
                !inbox::first_time(&mut tx, "schema-check", event_id)
                    .await
                    .unwrap(),
                "{service}"
            );
            tx.commit().await.unwrap();
            with_inbox.push(service.clone());
        }
        pool.close().await;
    }
    for expected in ["inventory-service", "order-service", "payment-service"] {
        assert!(
            with_outbox.iter().any(|service| service == expected),
            "{expected} has an outbox: {with_outbox:?}"
        );
        assert!(
            with_inbox.iter().any(|service| service == expected),
            "{expected} has an inbox: {with_inbox:?}"
        );
    }
}
