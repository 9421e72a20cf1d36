//! The order service on `PostgreSQL`: idempotent checkout across replicas, the saga's
//! transitions through the consumers with the inbox, and the outbox. Each test runs on its own
//! fresh database; run them with `cargo test -p order-service -- --ignored`.

mod common;

use std::time::Duration;

use axum::http::StatusCode;
use common::{FakeCart, database, item, pg_app, pg_app_with, pg_app_with_settings, place, relayed};
use order_service::Settings;
use serde_json::{Value, json};
use shared_events::{
    EventBus, EventEnvelope, InMemoryEventBus, InventoryReservationFailed, InventoryReserved,
    OrderCancelled, OrderConfirmed, OrderLine, PaymentFailed, PaymentSucceeded, topics,
};
use shared_types::{Currency, Money, OrderId, PaymentId, UserId};
use testing::bus::decoded;
use testing::pg::{count_rows, outbox_topics};
use testing::tokens::customer;
use testing::{TestClient, TestResponse};

async fn place_one(client: &TestClient, token: &str) -> OrderId {
    let (status, body) = place(client, token, Some(&uuid::Uuid::new_v4().to_string()), "")
        .send()
        .await
        .status_and_json();
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    body["order_id"].as_str().unwrap().parse().unwrap()
}

async fn order_json(client: &TestClient, token: &str, id: OrderId) -> Value {
    let (status, body) = client
        .get_as(token, &format!("/api/v1/orders/{id}"))
        .await
        .status_and_json();
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

fn statuses(order: &Value) -> Vec<String> {
    order["status_history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|change| change["status"].as_str().unwrap().to_owned())
        .collect()
}

/// The lines of an order as the API shows them.
fn order_lines(order: &Value) -> Vec<OrderLine> {
    serde_json::from_value(order["lines"].clone()).unwrap()
}

fn total() -> Money {
    Money::new(4998, Currency::Usd)
}

/// Delivers `envelope` twice, as an at-least-once bus may, and waits for both.
async fn deliver_twice(bus: &InMemoryEventBus, envelope: &EventEnvelope) {
    bus.publish(envelope.clone()).await.unwrap();
    bus.publish(envelope.clone()).await.unwrap();
    bus.settled().await;
}

async fn orders_of(pool: &sqlx::PgPool, user: UserId) -> i64 {
    count_rows(
        pool,
        "SELECT count(*) FROM orders WHERE user_id = $1",
        user.0,
    )
    .await
}

async fn processed(pool: &sqlx::PgPool, event: &EventEnvelope) -> i64 {
    count_rows(
        pool,
        "SELECT count(*) FROM processed_events WHERE consumer = 'order-service' AND event_id = $1",
        event.event_id.0,
    )
    .await
}

fn replayed(response: &TestResponse) -> bool {
    response.headers.get("idempotent-replayed").is_some()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL: set TEST_DATABASE_URL or run one on 127.0.0.1:5432, then cargo test -- --ignored"]
async fn the_same_idempotency_key_sent_concurrently_creates_one_order_on_postgres() {
    let pool = database().await;
    // Two replicas over one database, sharing a slow cart so the requests overlap; neither
    // can see the other's in-process wake-ups, only the idempotency_keys row.
    let cart = FakeCart::with_items(vec![item(1999, 2), item(1000, 1)]);
    *cart.delay.lock().unwrap() = Duration::from_millis(200);
    let a = pg_app_with(cart.clone(), &pool, InMemoryEventBus::default()).await;
    let b = pg_app_with(cart.clone(), &pool, InMemoryEventBus::default()).await;
    let (user, token) = customer();
    let requests: Vec<_> = (0..10)
        .map(|n| {
            let client = if n % 2 == 0 { &a.client } else { &b.client };
            tokio::spawn(place(client, &token, Some("one-checkout"), "").send())
        })
        .collect();
    let mut responses = Vec::new();
    for request in requests {
        responses.push(request.await.unwrap());
    }

    let first = &responses[0];
    assert_eq!(first.status, StatusCode::ACCEPTED, "{:?}", first.json());
    for response in &responses {
        assert_eq!(response.status, first.status);
        assert_eq!(response.json(), first.json(), "identical bodies");
        assert_eq!(response.headers["location"], first.headers["location"]);
    }
    assert_eq!(
        responses.iter().filter(|r| !replayed(r)).count(),
        1,
        "one request did the work, nine replayed it"
    );
    assert_eq!(cart.calls(), 1, "the cart was read once");
    assert_eq!(orders_of(&pool, user).await, 1);
    assert_eq!(outbox_topics(&pool).await, [topics::ORDER_CREATED]);
    let id: OrderId = first.json()["order_id"].as_str().unwrap().parse().unwrap();
    let stored: (i16, Value) = sqlx::query_as(
        "SELECT response_status, response_body FROM idempotency_keys \
         WHERE user_id = $1 AND key = 'one-checkout'",
    )
    .bind(user.0)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(stored.0, 202);
    assert_eq!(stored.1["order_id"], id.to_string());
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set TEST_DATABASE_URL or run one on 127.0.0.1:5432, then cargo test -- --ignored"]
async fn a_completed_key_is_replayed_after_a_restart_and_refuses_another_body_on_postgres() {
    let pool = database().await;
    let (user, token) = customer();
    let first = place(&pg_app(&pool).await.client, &token, Some("k"), "")
        .send()
        .await;
    assert_eq!(first.status, StatusCode::ACCEPTED);

    // A new process over the same database: no memory of the first request but the row.
    let restarted = pg_app(&pool).await;
    let again = place(&restarted.client, &token, Some("k"), "").send().await;
    assert_eq!(again.status, StatusCode::ACCEPTED);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(again.headers["location"], first.headers["location"]);
    assert_eq!(again.json(), first.json());
    assert_eq!(restarted.cart.calls(), 0, "the replay reads no cart");

    let other = json!({ "expected_total": { "amount_minor": 4998, "currency": "USD" } });
    let (status, body) = place(&restarted.client, &token, Some("k"), &other.to_string())
        .send()
        .await
        .status_and_json();
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("different request body")
    );
    assert_eq!(orders_of(&pool, user).await, 1);
    assert_eq!(outbox_topics(&pool).await, [topics::ORDER_CREATED]);
}

/// Inserts an unanswered claim of `key` for the empty body, as a request that crashed after
/// claiming would have left it, made `age_secs` seconds ago.
async fn insert_unanswered_claim(pool: &sqlx::PgPool, user: UserId, key: &str, age_secs: i64) {
    let (_, fingerprint) = order_service::service::parse_body(b"").unwrap();
    sqlx::query(
        "INSERT INTO idempotency_keys (user_id, key, request_hash, claimed_at) \
         VALUES ($1, $2, $3, now() - $4::bigint * interval '1 second')",
    )
    .bind(user.0)
    .bind(key)
    .bind(fingerprint)
    .bind(age_secs)
    .execute(pool)
    .await
    .unwrap();
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set TEST_DATABASE_URL or run one on 127.0.0.1:5432, then cargo test -- --ignored"]
async fn a_stale_unanswered_claim_is_taken_over_on_postgres() {
    let pool = database().await;
    let app = pg_app(&pool).await;
    let (user, token) = customer();
    // Claimed a minute ago by a request that crashed: older than the 30 s lease.
    insert_unanswered_claim(&pool, user, "crashed", 60).await;

    let response = place(&app.client, &token, Some("crashed"), "").send().await;
    assert_eq!(
        response.status,
        StatusCode::ACCEPTED,
        "{:?}",
        response.json()
    );
    assert!(!replayed(&response), "the taker did the work");
    assert_eq!(orders_of(&pool, user).await, 1);
    let stored: i16 = sqlx::query_scalar(
        "SELECT response_status FROM idempotency_keys WHERE user_id = $1 AND key = 'crashed'",
    )
    .bind(user.0)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(stored, 202, "the taker's response is stored for replays");

    let again = place(&app.client, &token, Some("crashed"), "").send().await;
    assert_eq!(again.status, StatusCode::ACCEPTED);
    assert!(replayed(&again));
    assert_eq!(orders_of(&pool, user).await, 1);
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set TEST_DATABASE_URL or run one on 127.0.0.1:5432, then cargo test -- --ignored"]
async fn a_fresh_unanswered_claim_still_holds_its_key_on_postgres() {
    let pool = database().await;
    let settings = Settings {
        idempotency_wait: Duration::from_millis(300),
        ..Settings::default()
    };
    let app = pg_app_with_settings(
        FakeCart::with_items(vec![item(1999, 2)]),
        &pool,
        InMemoryEventBus::default(),
        settings,
    )
    .await;
    let (user, token) = customer();
    // Claimed a second ago by a request another replica is still working on.
    insert_unanswered_claim(&pool, user, "busy", 1).await;

    let response = place(&app.client, &token, Some("busy"), "").send().await;
    assert_eq!(
        response.status,
        StatusCode::CONFLICT,
        "{:?}",
        response.json()
    );
    assert_eq!(app.cart.calls(), 0, "the duplicate did no work");
    assert_eq!(orders_of(&pool, user).await, 0);
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set TEST_DATABASE_URL or run one on 127.0.0.1:5432, then cargo test -- --ignored"]
async fn a_failed_first_attempt_releases_the_key_on_postgres() {
    let pool = database().await;
    let app = pg_app(&pool).await;
    app.cart
        .failures_left
        .store(1, std::sync::atomic::Ordering::SeqCst);
    let (user, token) = customer();
    let response = place(&app.client, &token, Some("retry"), "").send().await;
    assert_eq!(response.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        count_rows(
            &pool,
            "SELECT count(*) FROM idempotency_keys WHERE user_id = $1",
            user.0
        )
        .await,
        0,
        "the claim was released"
    );
    assert!(outbox_topics(&pool).await.is_empty());

    let retry = place(&app.client, &token, Some("retry"), "").send().await;
    assert_eq!(retry.status, StatusCode::ACCEPTED);
    assert!(!replayed(&retry), "the retry did the work");
    assert_eq!(orders_of(&pool, user).await, 1);
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set TEST_DATABASE_URL or run one on 127.0.0.1:5432, then cargo test -- --ignored"]
async fn reservation_and_payment_confirm_the_order_once_through_the_consumers_on_postgres() {
    let pool = database().await;
    let app = pg_app(&pool).await;
    let (user, token) = customer();
    let id = place_one(&app.client, &token).await;

    let reserved = EventEnvelope::wrap(&InventoryReserved {
        order_id: id,
        user_id: user,
        total: total(),
    });
    let paid = PaymentSucceeded {
        order_id: id,
        user_id: user,
        payment_id: PaymentId::new(),
        amount: total(),
    };
    let paid_envelope = EventEnvelope::wrap(&paid);
    deliver_twice(&app.bus, &reserved).await;
    deliver_twice(&app.bus, &paid_envelope).await;
    // The same fact in a new envelope (a second publisher): the state machine's no-op.
    app.bus.publish(EventEnvelope::wrap(&paid)).await.unwrap();
    app.bus.settled().await;

    let order = order_json(&app.client, &token, id).await;
    assert_eq!(order["status"], "confirmed");
    assert_eq!(statuses(&order), ["pending", "reserved", "confirmed"]);
    assert_eq!(
        outbox_topics(&pool).await,
        [topics::ORDER_CREATED, topics::ORDER_CONFIRMED]
    );
    assert_eq!(processed(&pool, &reserved).await, 1);
    assert_eq!(processed(&pool, &paid_envelope).await, 1);
    assert!(app.bus.dead_letters().is_empty());

    relayed(&pool).await;
    let confirmed: Vec<OrderConfirmed> = decoded(&app.bus);
    assert_eq!(
        confirmed,
        [OrderConfirmed {
            order_id: id,
            user_id: user,
            total: total(),
            lines: order_lines(&order),
        }],
        "the relay published the outbox row once, with the lines the order bought"
    );
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set TEST_DATABASE_URL or run one on 127.0.0.1:5432, then cargo test -- --ignored"]
async fn a_failed_payment_cancels_the_order_once_through_the_consumers_on_postgres() {
    let pool = database().await;
    let app = pg_app(&pool).await;
    let (user, token) = customer();
    let id = place_one(&app.client, &token).await;
    deliver_twice(
        &app.bus,
        &EventEnvelope::wrap(&InventoryReserved {
            order_id: id,
            user_id: user,
            total: total(),
        }),
    )
    .await;
    let failed = EventEnvelope::wrap(&PaymentFailed {
        order_id: id,
        user_id: user,
        reason: "card declined".into(),
    });
    deliver_twice(&app.bus, &failed).await;

    let order = order_json(&app.client, &token, id).await;
    assert_eq!(order["status"], "cancelled");
    assert_eq!(statuses(&order), ["pending", "reserved", "cancelled"]);
    assert_eq!(
        order["status_history"][2]["reason"],
        "payment failed: card declined"
    );
    assert_eq!(
        outbox_topics(&pool).await,
        [topics::ORDER_CREATED, topics::ORDER_CANCELLED]
    );
    assert_eq!(processed(&pool, &failed).await, 1);

    // Cancelled is final: the customer's cancel is refused and writes nothing.
    let response = app
        .client
        .post_as(&token, &format!("/api/v1/orders/{id}/cancel"))
        .await;
    assert_eq!(response.status, StatusCode::CONFLICT);
    relayed(&pool).await;
    let cancelled: Vec<OrderCancelled> = decoded(&app.bus);
    assert_eq!(cancelled.len(), 1);
    assert_eq!(cancelled[0].reason, "payment failed: card declined");
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set TEST_DATABASE_URL or run one on 127.0.0.1:5432, then cargo test -- --ignored"]
async fn every_state_change_has_its_outbox_row_and_a_customer_cancel_is_one_of_them_on_postgres() {
    let pool = database().await;
    let app = pg_app(&pool).await;
    let (user, token) = customer();
    let id = place_one(&app.client, &token).await;
    for event in [
        EventEnvelope::wrap(&InventoryReserved {
            order_id: id,
            user_id: user,
            total: total(),
        }),
        EventEnvelope::wrap(&PaymentSucceeded {
            order_id: id,
            user_id: user,
            payment_id: PaymentId::new(),
            amount: total(),
        }),
    ] {
        app.bus.publish(event).await.unwrap();
    }
    app.bus.settled().await;
    let (status, body) = app
        .client
        .post_as(&token, &format!("/api/v1/orders/{id}/cancel"))
        .await
        .status_and_json();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        statuses(&body),
        ["pending", "reserved", "confirmed", "cancelled"]
    );

    let expected = [
        topics::ORDER_CREATED,
        topics::ORDER_CONFIRMED,
        topics::ORDER_CANCELLED,
    ];
    assert_eq!(outbox_topics(&pool).await, expected);
    let aggregates: Vec<String> = sqlx::query_scalar("SELECT aggregate_id FROM outbox")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert!(
        aggregates
            .iter()
            .all(|aggregate| *aggregate == id.to_string())
    );
    relayed(&pool).await;
    let published: Vec<String> = app
        .bus
        .published()
        .iter()
        .map(|event| event.topic().to_owned())
        .filter(|topic| topic.starts_with("order."))
        .collect();
    assert_eq!(published, expected, "published in the order they happened");
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set TEST_DATABASE_URL or run one on 127.0.0.1:5432, then cargo test -- --ignored"]
async fn an_event_that_fails_leaves_no_inbox_record_and_changes_nothing_on_postgres() {
    let pool = database().await;
    let bus = InMemoryEventBus::new(2, Duration::from_millis(1));
    let app = pg_app_with(FakeCart::with_items(vec![item(100, 1)]), &pool, bus).await;
    let (user, token) = customer();
    let id = place_one(&app.client, &token).await;
    app.bus
        .publish(EventEnvelope::wrap(&InventoryReserved {
            order_id: id,
            user_id: user,
            total: Money::new(100, Currency::Usd),
        }))
        .await
        .unwrap();
    app.bus.settled().await;
    // A reservation failing after it succeeded: an illegal transition, retried then
    // dead-lettered.
    let contradiction = EventEnvelope::wrap(&InventoryReservationFailed {
        order_id: id,
        user_id: user,
        reason: "gone".to_owned(),
    });
    app.bus.publish(contradiction.clone()).await.unwrap();
    app.bus.settled().await;
    assert_eq!(app.bus.dead_letters().len(), 1);
    assert_eq!(
        processed(&pool, &contradiction).await,
        0,
        "rolled back with the effect"
    );
    let order = order_json(&app.client, &token, id).await;
    assert_eq!(statuses(&order), ["pending", "reserved"]);
    assert_eq!(outbox_topics(&pool).await, [topics::ORDER_CREATED]);
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set TEST_DATABASE_URL or run one on 127.0.0.1:5432, then cargo test -- --ignored"]
async fn orders_read_back_whole_and_list_newest_first_on_postgres() {
    let pool = database().await;
    let app = pg_app(&pool).await;
    let (_, token) = customer();
    let (_, stranger) = customer();
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(place_one(&app.client, &token).await);
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let order = order_json(&app.client, &token, ids[0]).await;
    assert_eq!(order["total"]["amount_minor"], 4998);
    assert_eq!(order["lines"].as_array().unwrap().len(), 2);
    assert_eq!(order["lines"][0]["quantity"], 2);
    assert_eq!(order["lines"][0]["unit_price"]["amount_minor"], 1999);

    let page = app
        .client
        .get_as(&token, "/api/v1/orders?page=1&per_page=2")
        .await
        .json();
    assert_eq!(page["total"], 3);
    assert_eq!(page["items"][0]["id"], ids[2].to_string());
    assert_eq!(page["items"][1]["id"], ids[1].to_string());
    assert_eq!(
        page["items"][0],
        order_json(&app.client, &token, ids[2]).await
    );
    let page = app
        .client
        .get_as(&token, "/api/v1/orders?page=2&per_page=2")
        .await
        .json();
    assert_eq!(page["items"][0]["id"], ids[0].to_string());
    let others = app.client.get_as(&stranger, "/api/v1/orders").await.json();
    assert_eq!(others["total"], 0);
    let unknown = app
        .client
        .get_as(&token, &format!("/api/v1/orders/{}", OrderId::new()))
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set TEST_DATABASE_URL or run one on 127.0.0.1:5432, then cargo test -- --ignored"]
async fn the_saga_timeout_cancels_unsettled_orders_once_on_postgres() {
    let pool = database().await;
    let settings = Settings {
        order_timeout: Duration::from_millis(300),
        ..Settings::default()
    };
    // Two replicas time orders out over one database: each order is cancelled once.
    let cart = || FakeCart::with_items(vec![item(1999, 2), item(1000, 1)]);
    let a =
        pg_app_with_settings(cart(), &pool, InMemoryEventBus::default(), settings.clone()).await;
    let _b = pg_app_with_settings(cart(), &pool, InMemoryEventBus::default(), settings).await;
    let (_, token) = customer();
    let stuck = place_one(&a.client, &token).await;
    tokio::time::timeout(Duration::from_secs(10), async {
        while order_json(&a.client, &token, stuck).await["status"] != "cancelled" {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the order is cancelled after its timeout");
    relayed(&pool).await;
    assert_eq!(
        outbox_topics(&pool).await,
        [topics::ORDER_CREATED, topics::ORDER_CANCELLED],
        "cancelled once, announced once"
    );
    let order = order_json(&a.client, &token, stuck).await;
    assert_eq!(
        statuses(&order),
        ["pending", "cancelled"],
        "one cancellation in the history"
    );
}
