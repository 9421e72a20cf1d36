//! The notification service on a real `PostgreSQL` (`TEST_DATABASE_URL`, default the local
//! server), each test on its own fresh, migrated database.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use axum::http::StatusCode;
use chrono::Utc;
use notification_service::api::{self, AppState};
use notification_service::models::{Message, Notification};
use notification_service::repository::NotificationRepository;
use notification_service::repository::postgres::PostgresNotificationRepository;
use notification_service::service::{NotificationSender, NotificationService, SendError};
use notification_service::{MIGRATOR, Settings, events};
use platform::auth::{JwtKeys, Role};
use serde_json::Value;
use shared_events::{EventBus, EventEnvelope, InMemoryEventBus, OrderCancelled, OrderConfirmed};
use shared_types::{Currency, Money, OrderId, UserId};
use sqlx::PgPool;
use testing::TestClient;
use testing::tokens::for_user as token;

const CONSUMER: &str = "notification-service";

/// Counts sends.
#[derive(Default)]
struct CountingSender(AtomicUsize);

#[async_trait]
impl NotificationSender for CountingSender {
    async fn send(&self, _: &Notification) -> Result<(), SendError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

async fn migrated_database() -> PgPool {
    let (pool, _) = testing::pg::fresh_database("notification_service").await;
    platform::db::migrate(&pool, &MIGRATOR).await.unwrap();
    pool
}

/// One replica: its own repository on `pool`, consuming from its own bus.
struct Replica {
    bus: InMemoryEventBus,
    client: TestClient,
}

async fn replica(pool: &PgPool, sender: Arc<CountingSender>) -> Replica {
    let bus = InMemoryEventBus::default();
    let service = NotificationService::new(
        Arc::new(PostgresNotificationRepository::new(pool.clone(), CONSUMER)),
        sender,
    );
    events::subscribe(&bus, CONSUMER, service.clone())
        .await
        .unwrap();
    let client = TestClient::new(api::router(AppState {
        service,
        keys: JwtKeys::development(),
        settings: Settings::default(),
    }));
    Replica { bus, client }
}

impl Replica {
    async fn deliver(&self, event: &EventEnvelope) {
        self.bus.publish(event.clone()).await.unwrap();
        self.bus.settled().await;
        assert!(self.bus.dead_letters().is_empty());
    }

    async fn list(&self, user: UserId, query: &str) -> Value {
        let (status, page) = self
            .client
            .get(&format!("/api/v1/notifications{query}"))
            .bearer(&token(user, Role::Customer))
            .send()
            .await
            .status_and_json();
        assert_eq!(status, StatusCode::OK, "{page}");
        page
    }
}

fn confirmed(user: UserId) -> EventEnvelope {
    EventEnvelope::wrap(&OrderConfirmed {
        order_id: OrderId::new(),
        user_id: user,
        total: Money::new(100, Currency::Usd),
        lines: Vec::new(),
    })
}

async fn count(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set TEST_DATABASE_URL or run one on 127.0.0.1:5432, then cargo test -- --ignored"]
async fn an_event_consumed_twice_records_one_notification_and_sends_once() {
    let pool = migrated_database().await;
    let sender = Arc::new(CountingSender::default());
    let first = replica(&pool, sender.clone()).await;
    let second = replica(&pool, sender.clone()).await;
    let user = UserId::new();
    let event = confirmed(user);

    first.deliver(&event).await;
    first.deliver(&event).await;
    second.deliver(&event).await;

    assert_eq!(sender.0.load(Ordering::SeqCst), 1, "sent once");
    assert_eq!(count(&pool, "SELECT count(*) FROM notifications").await, 1);
    assert_eq!(
        count(&pool, "SELECT count(*) FROM processed_events").await,
        1
    );
    let mine = second.list(user, "").await;
    assert_eq!(mine["total"], 1);
    assert_eq!(mine["items"][0]["status"], "sent");
    assert_eq!(mine["items"][0]["event_id"], event.event_id.to_string());
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set TEST_DATABASE_URL or run one on 127.0.0.1:5432, then cargo test -- --ignored"]
async fn the_inbox_entry_commits_only_with_its_notification() {
    let pool = migrated_database().await;
    let repository = PostgresNotificationRepository::new(pool.clone(), CONSUMER);
    let user = UserId::new();
    let message = || Message {
        user_id: user,
        subject: "s".to_owned(),
        body: "b".to_owned(),
    };
    let earlier = confirmed(user);
    let recorded = Notification::new(message(), &earlier, Utc::now());
    assert!(
        repository
            .record_once(earlier.event_id, recorded.clone())
            .await
            .unwrap()
    );

    // The notification cannot be inserted (its id is taken), so the event stays unprocessed…
    let event = confirmed(user);
    let mut clash = Notification::new(message(), &event, Utc::now());
    clash.id = recorded.id;
    assert!(repository.record_once(event.event_id, clash).await.is_err());
    assert_eq!(
        count(&pool, "SELECT count(*) FROM processed_events").await,
        1
    );

    // …and its redelivery is recorded.
    let retry = Notification::new(message(), &event, Utc::now());
    assert!(repository.record_once(event.event_id, retry).await.unwrap());
    assert!(
        !repository
            .record_once(
                event.event_id,
                Notification::new(message(), &event, Utc::now())
            )
            .await
            .unwrap()
    );
    assert_eq!(count(&pool, "SELECT count(*) FROM notifications").await, 2);
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set TEST_DATABASE_URL or run one on 127.0.0.1:5432, then cargo test -- --ignored"]
async fn each_user_lists_only_their_notifications_newest_first_and_paginated() {
    let pool = migrated_database().await;
    let app = replica(&pool, Arc::default()).await;
    let (ada, bob) = (UserId::new(), UserId::new());
    let mut adas_orders = Vec::new();
    for _ in 0..3 {
        let order = OrderId::new();
        adas_orders.push(order);
        app.deliver(&EventEnvelope::wrap(&OrderCancelled {
            order_id: order,
            user_id: ada,
            reason: "changed my mind".to_owned(),
        }))
        .await;
    }
    app.deliver(&confirmed(bob)).await;

    let first_page = app.list(ada, "?per_page=2").await;
    assert_eq!(first_page["total"], 3);
    let bodies: Vec<&str> = first_page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["body"].as_str().unwrap())
        .collect();
    assert!(bodies[0].contains(&adas_orders[2].to_string()));
    assert!(bodies[1].contains(&adas_orders[1].to_string()));
    let second_page = app.list(ada, "?per_page=2&page=2").await;
    assert_eq!(second_page["items"].as_array().unwrap().len(), 1);
    assert!(
        second_page["items"][0]["body"]
            .as_str()
            .unwrap()
            .contains(&adas_orders[0].to_string())
    );

    let bobs = app.list(bob, "").await;
    assert_eq!(bobs["total"], 1);
    assert_eq!(bobs["items"][0]["user_id"], bob.to_string());
}
