//! The payment service on `PostgreSQL`: one charge per order across replicas, refunds
//! once, the consumers with the inbox, and the outbox. Each test runs on its own fresh
//! database; run them with `cargo test -p payment-service -- --ignored`.

mod common;

use std::time::Duration;

use axum::http::StatusCode;
use common::{
    CountingProvider, LIMIT_MINOR, database, pg_app, pg_app_with, pg_service, reservation,
};
use payment_service::Settings;
use payment_service::repository::{PaymentRepository as _, PostgresPaymentRepository};
use payment_service::service::ChargeError;
use shared_events::{
    EventBus, EventEnvelope, InMemoryEventBus, InventoryReserved, OrderCancelled, topics,
};
use shared_types::{Currency, Money, OrderId, UserId};
use testing::pg::{count_rows, outbox_topics};
use testing::tokens::{admin, customer};

fn usd(minor: i64) -> Money {
    Money::new(minor, Currency::Usd)
}

fn reserved(order: OrderId, user: UserId, amount_minor: i64) -> EventEnvelope {
    EventEnvelope::wrap(&InventoryReserved {
        order_id: order,
        user_id: user,
        total: usd(amount_minor),
    })
}

fn cancelled(order: OrderId, user: UserId) -> EventEnvelope {
    EventEnvelope::wrap(&OrderCancelled {
        order_id: order,
        user_id: user,
        reason: "cancelled by customer".into(),
    })
}

/// Delivers `envelope` twice, as an at-least-once bus may, and waits for both.
async fn deliver_twice(bus: &InMemoryEventBus, envelope: &EventEnvelope) {
    bus.publish(envelope.clone()).await.unwrap();
    bus.publish(envelope.clone()).await.unwrap();
    bus.settled().await;
}

async fn payments_of(pool: &sqlx::PgPool, order: OrderId) -> i64 {
    count_rows(
        pool,
        "SELECT count(*) FROM payments WHERE order_id = $1",
        order.0,
    )
    .await
}

async fn refunds_of(pool: &sqlx::PgPool, order: OrderId) -> i64 {
    count_rows(
        pool,
        "SELECT count(*) FROM refunds r JOIN payments p ON p.id = r.payment_id \
         WHERE p.order_id = $1",
        order.0,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL: set TEST_DATABASE_URL or run one on 127.0.0.1:5432, then cargo test -- --ignored"]
async fn same_idempotency_key_never_charges_twice_on_postgres() {
    let pool = database().await;
    // Two replicas over one database and one (slow, counting) provider, each handed the same
    // reservation five times at once (a rebalance redelivers to the other replica): the
    // duplicates in the other replica only see the payments row.
    let provider = CountingProvider::new(Duration::from_millis(200));
    let settings = Settings::default();
    let a = pg_service(provider.clone(), &pool, &settings);
    let b = pg_service(provider.clone(), &pool, &settings);
    let (order, user) = (OrderId::new(), UserId::new());
    let charges: Vec<_> = (0..10)
        .map(|n| {
            let service = if n % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move { service.charge_order(reservation(order, user, 4998)).await })
        })
        .collect();
    let mut outcomes = Vec::new();
    for charge in charges {
        outcomes.push(charge.await.unwrap().unwrap());
    }

    assert_eq!(provider.calls(), 1, "the provider is asked once");
    let first = outcomes[0].payment.clone();
    assert_eq!(first.status.name(), "succeeded");
    for outcome in &outcomes {
        assert_eq!(outcome.payment, first, "everyone sees the same payment");
    }
    assert_eq!(
        outcomes.iter().filter(|outcome| outcome.fresh).count(),
        1,
        "one call charged, nine were answered from the record"
    );
    assert_eq!(payments_of(&pool, order).await, 1);
    assert_eq!(
        outbox_topics(&pool).await,
        [topics::PAYMENT_SUCCEEDED],
        "only the charging call announces"
    );

    let later = a
        .charge_order(reservation(order, user, 4998))
        .await
        .unwrap();
    assert!(!later.fresh);
    assert_eq!(later.payment, first);
    assert_eq!(provider.calls(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL: set TEST_DATABASE_URL or run one on 127.0.0.1:5432, then cargo test -- --ignored"]
async fn a_payment_is_refunded_once_even_when_asked_concurrently_on_postgres() {
    let pool = database().await;
    let app = pg_app(&pool).await;
    let (order, user) = (OrderId::new(), UserId::new());
    app.bus.publish(reserved(order, user, 2500)).await.unwrap();
    app.bus.settled().await;
    let id: uuid::Uuid = sqlx::query_scalar("SELECT id FROM payments WHERE order_id = $1")
        .bind(order.0)
        .fetch_one(&pool)
        .await
        .unwrap();
    let path = format!("/api/v1/payments/{id}/refund");
    let admin = admin();
    let (first, second) = tokio::join!(
        app.client.post_as(&admin, &path),
        app.client.post_as(&admin, &path)
    );
    let mut statuses = [first.status, second.status];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::CONFLICT]);
    assert_eq!(refunds_of(&pool, order).await, 1);
    assert_eq!(
        outbox_topics(&pool).await,
        [topics::PAYMENT_SUCCEEDED, topics::PAYMENT_REFUNDED]
    );
    let payment = app
        .client
        .get_as(&admin, &format!("/api/v1/payments/{id}"))
        .await
        .json();
    assert_eq!(payment["status"], "refunded");
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set TEST_DATABASE_URL or run one on 127.0.0.1:5432, then cargo test -- --ignored"]
async fn a_redelivered_reservation_charges_and_announces_once_on_postgres() {
    let pool = database().await;
    let app = pg_app(&pool).await;
    let (user, token) = customer();
    let order = OrderId::new();
    let event = reserved(order, user, 4998);
    deliver_twice(&app.bus, &event).await;
    // The same fact in a new envelope finds the payment of its key, too.
    app.bus.publish(reserved(order, user, 4998)).await.unwrap();
    app.bus.settled().await;

    assert_eq!(app.provider.calls(), 1);
    assert_eq!(payments_of(&pool, order).await, 1);
    assert_eq!(outbox_topics(&pool).await, [topics::PAYMENT_SUCCEEDED]);
    assert!(app.bus.dead_letters().is_empty());
    let list = app
        .client
        .get_as(&token, &format!("/api/v1/payments?order_id={order}"))
        .await
        .json();
    assert_eq!(list[0]["status"], "succeeded");
    assert_eq!(list[0]["idempotency_key"], order.to_string());
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set TEST_DATABASE_URL or run one on 127.0.0.1:5432, then cargo test -- --ignored"]
async fn a_declined_reservation_charge_records_payment_failed_once_on_postgres() {
    let pool = database().await;
    let app = pg_app(&pool).await;
    let (user, token) = customer();
    let order = OrderId::new();
    deliver_twice(&app.bus, &reserved(order, user, LIMIT_MINOR + 1)).await;
    assert_eq!(app.provider.calls(), 1);
    assert_eq!(outbox_topics(&pool).await, [topics::PAYMENT_FAILED]);
    let list = app
        .client
        .get_as(&token, &format!("/api/v1/payments?order_id={order}"))
        .await
        .json();
    assert_eq!(list[0]["status"], "failed");
    assert!(list[0]["reason"].as_str().unwrap().contains("card limit"));
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set TEST_DATABASE_URL or run one on 127.0.0.1:5432, then cargo test -- --ignored"]
async fn order_cancelled_refunds_once_even_when_redelivered_on_postgres() {
    let pool = database().await;
    let app = pg_app(&pool).await;
    let (order, user) = (OrderId::new(), UserId::new());
    app.bus.publish(reserved(order, user, 2500)).await.unwrap();
    app.bus.settled().await;
    let cancel = cancelled(order, user);
    deliver_twice(&app.bus, &cancel).await;
    // A second cancellation of the order (a new envelope) finds nothing left to refund.
    app.bus.publish(cancelled(order, user)).await.unwrap();
    app.bus.settled().await;

    assert_eq!(refunds_of(&pool, order).await, 1);
    assert_eq!(
        outbox_topics(&pool).await,
        [topics::PAYMENT_SUCCEEDED, topics::PAYMENT_REFUNDED]
    );
    assert_eq!(
        count_rows(
            &pool,
            "SELECT count(*) FROM processed_events \
             WHERE consumer = 'payment-service' AND event_id = $1",
            cancel.event_id.0,
        )
        .await,
        1,
        "the cancellation is in the inbox"
    );
    assert!(app.bus.dead_letters().is_empty());
    let refunded: Vec<shared_events::PaymentRefunded> = {
        // The relay publishes the outbox on the bus.
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                let refunded: Vec<shared_events::PaymentRefunded> = testing::bus::decoded(&app.bus);
                if !refunded.is_empty() {
                    return refunded;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("the relay publishes payment.refunded")
    };
    assert_eq!(refunded.len(), 1);
    assert_eq!(refunded[0].amount, usd(2500));
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set TEST_DATABASE_URL or run one on 127.0.0.1:5432, then cargo test -- --ignored"]
async fn an_order_cancelled_before_its_charge_is_never_charged_on_postgres() {
    let pool = database().await;
    let app = pg_app(&pool).await;
    let (order, user) = (OrderId::new(), UserId::new());
    app.bus.publish(cancelled(order, user)).await.unwrap();
    app.bus.publish(reserved(order, user, 2500)).await.unwrap();
    app.bus.settled().await;
    assert_eq!(app.provider.calls(), 0);
    assert_eq!(payments_of(&pool, order).await, 0);
    assert!(outbox_topics(&pool).await.is_empty());
    let late = pg_service(app.provider.clone(), &pool, &Settings::default())
        .charge_order(reservation(order, user, 2500))
        .await;
    assert!(
        matches!(late, Err(ChargeError::OrderCancelled(_))),
        "{late:?}"
    );
    assert_eq!(app.provider.calls(), 0);
}

/// Inserts a payment of 49.98 USD for `order` and `user` under `key`, pending since `age_secs`
/// seconds ago: what a replica that crashed while asking the provider leaves behind.
async fn insert_pending(
    pool: &sqlx::PgPool,
    key: &str,
    order: OrderId,
    user: UserId,
    age_secs: i64,
) -> uuid::Uuid {
    let id = uuid::Uuid::new_v4();
    sqlx::query(
        "INSERT INTO payments (id, order_id, user_id, amount_minor, currency, status, \
         idempotency_key, created_at, updated_at, claimed_at) \
         VALUES ($1, $2, $3, 4998, 'USD', 'pending', $4, now() - $5::bigint * interval '1 second', \
         now() - $5::bigint * interval '1 second', now() - $5::bigint * interval '1 second')",
    )
    .bind(id)
    .bind(order.0)
    .bind(user.0)
    .bind(key)
    .bind(age_secs)
    .execute(pool)
    .await
    .unwrap();
    id
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set TEST_DATABASE_URL or run one on 127.0.0.1:5432, then cargo test -- --ignored"]
async fn a_stale_pending_payment_is_settled_by_the_next_charge_with_its_key_on_postgres() {
    let pool = database().await;
    let provider = CountingProvider::new(Duration::ZERO);
    let service = pg_service(provider.clone(), &pool, &Settings::default());
    let (order, user) = (OrderId::new(), UserId::new());
    // Pending for a minute: older than the 30 s lease.
    let id = insert_pending(&pool, &order.to_string(), order, user, 60).await;

    let taken = service
        .charge_order(reservation(order, user, 4998))
        .await
        .unwrap();
    assert_eq!(taken.payment.id.0, id, "the same payment, taken over");
    assert_eq!(taken.payment.status.name(), "succeeded");
    assert!(taken.fresh, "the taker charged, so it announces");
    assert_eq!(provider.calls(), 1, "the provider was asked again");
    assert_eq!(payments_of(&pool, order).await, 1);
    let status: String = sqlx::query_scalar("SELECT status FROM payments WHERE id = $1")
        .bind(id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(status, "succeeded");
    assert_eq!(outbox_topics(&pool).await, [topics::PAYMENT_SUCCEEDED]);

    let again = service
        .charge_order(reservation(order, user, 4998))
        .await
        .unwrap();
    assert!(!again.fresh);
    assert_eq!(provider.calls(), 1, "a settled payment is not asked again");
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set TEST_DATABASE_URL or run one on 127.0.0.1:5432, then cargo test -- --ignored"]
async fn a_fresh_pending_payment_is_not_taken_over_on_postgres() {
    let pool = database().await;
    let settings = Settings {
        duplicate_wait: Duration::from_millis(300),
        ..Settings::default()
    };
    let provider = CountingProvider::new(Duration::ZERO);
    let service = pg_service(provider.clone(), &pool, &settings);
    let (order, user) = (OrderId::new(), UserId::new());
    // Pending for a second: another replica is still asking the provider.
    let id = insert_pending(&pool, &order.to_string(), order, user, 1).await;

    let busy = service.charge_order(reservation(order, user, 4998)).await;
    assert!(matches!(busy, Err(ChargeError::InProgress(_))), "{busy:?}");
    assert_eq!(provider.calls(), 0, "the provider was not asked");
    let status: String = sqlx::query_scalar("SELECT status FROM payments WHERE id = $1")
        .bind(id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(status, "pending");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL: set TEST_DATABASE_URL or run one on 127.0.0.1:5432, then cargo test -- --ignored"]
async fn a_charge_in_flight_when_its_order_is_cancelled_is_refunded_when_it_succeeds_on_postgres() {
    let pool = database().await;
    let app = pg_app_with(CountingProvider::new(Duration::from_millis(300)), &pool).await;
    let (order, user) = (OrderId::new(), UserId::new());
    app.bus.publish(reserved(order, user, 2500)).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), async {
        while app.provider.calls() == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the provider is asked");
    // The charge is at the provider: the cancellation is handled without waiting for it.
    let started = std::time::Instant::now();
    let repo = PostgresPaymentRepository::new(pool.clone());
    repo.mark_order_cancelled(order).await.unwrap();
    assert!(
        repo.refund_order(order, chrono::Utc::now(), None)
            .await
            .unwrap()
            .is_empty(),
        "nothing has succeeded yet"
    );
    assert!(
        started.elapsed() < Duration::from_millis(250),
        "it did not wait"
    );
    app.bus.settled().await;

    assert_eq!(payments_of(&pool, order).await, 1);
    assert_eq!(
        refunds_of(&pool, order).await,
        1,
        "the late success is refunded"
    );
    let status: String = sqlx::query_scalar("SELECT status FROM payments WHERE order_id = $1")
        .bind(order.0)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(status, "refunded");
    assert_eq!(
        outbox_topics(&pool).await,
        [topics::PAYMENT_SUCCEEDED, topics::PAYMENT_REFUNDED]
    );
    assert!(app.bus.dead_letters().is_empty());
}
