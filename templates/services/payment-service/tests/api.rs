//! The payment service through its HTTP API and its consumers.

mod common;

use std::time::Duration;

use axum::http::StatusCode;
use common::{
    LIMIT_MINOR, admin, app, app_with_latency, call, customer, get, json, pay, post, send,
};
use shared_events::{
    EventBus, EventEnvelope, InMemoryEventBus, InventoryReserved, OrderCancelled, PaymentFailed,
    PaymentRefunded, PaymentSucceeded, topics,
};
use shared_types::{Currency, Money, OrderId, PaymentId, UserId};

fn count(bus: &InMemoryEventBus, topic: &str) -> usize {
    bus.published()
        .iter()
        .filter(|e| e.topic() == topic)
        .count()
}

fn decoded<E: shared_events::Event>(bus: &InMemoryEventBus) -> Vec<E> {
    bus.published()
        .iter()
        .filter_map(|e| e.decode().ok())
        .collect()
}

async fn publish<E: shared_events::Event>(bus: &InMemoryEventBus, event: &E) {
    bus.publish(EventEnvelope::wrap(event)).await.unwrap();
}

fn usd(minor: i64) -> Money {
    Money::new(minor, Currency::Usd)
}

#[tokio::test]
async fn same_idempotency_key_never_charges_twice() {
    let app = app_with_latency(Duration::from_millis(150)).await;
    let (_, token) = customer();
    let order = OrderId::new();
    let (a, b) = tokio::join!(
        send(&app.router, pay(&token, Some("pay-once"), order, 4998)),
        send(&app.router, pay(&token, Some("pay-once"), order, 4998)),
    );
    assert_eq!(app.provider.calls(), 1, "the provider is asked once");
    assert_eq!(a.status(), StatusCode::CREATED);
    assert_eq!(b.status(), StatusCode::CREATED);
    let (a, b) = (json(a).await, json(b).await);
    assert_eq!(a, b, "both callers see the same payment");
    assert_eq!(a["status"], "succeeded");

    // A later retry is answered from the record, too.
    let later = send(&app.router, pay(&token, Some("pay-once"), order, 4998)).await;
    assert_eq!(later.status(), StatusCode::CREATED);
    assert_eq!(later.headers()["idempotent-replayed"], "true");
    assert_eq!(json(later).await, a);
    assert_eq!(app.provider.calls(), 1);
}

#[tokio::test]
async fn a_payment_is_created_and_readable_by_its_payer_and_admins_only() {
    let app = app().await;
    let (user, token) = customer();
    let (_, stranger) = customer();
    let order = OrderId::new();
    let (status, payment) = call(&app.router, pay(&token, Some("k"), order, 1250)).await;
    assert_eq!(status, StatusCode::CREATED, "{payment}");
    assert_eq!(payment["user_id"], user.to_string());
    assert_eq!(payment["order_id"], order.to_string());
    assert_eq!(payment["amount"]["amount_minor"], 1250);
    assert_eq!(payment["idempotency_key"], "k");
    let path = format!("/api/v1/payments/{}", payment["id"].as_str().unwrap());

    let (status, body) = call(&app.router, get(&token, &path)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, payment);
    let (status, _) = call(&app.router, get(&admin(), &path)).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(&app.router, get(&stranger, &path)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let by_order = format!("/api/v1/payments?order_id={order}");
    let (status, list) = call(&app.router, get(&token, &by_order)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list, serde_json::json!([payment]));
    let (status, _) = call(&app.router, get(&stranger, &by_order)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = call(&app.router, get(&token, "/api/v1/payments")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "order_id is required");
}

#[tokio::test]
async fn a_decline_is_402_and_a_repeat_replays_it_without_asking_the_provider() {
    let app = app().await;
    let (_, token) = customer();
    let order = OrderId::new();
    let response = send(
        &app.router,
        pay(&token, Some("big"), order, LIMIT_MINOR + 1),
    )
    .await;
    assert_eq!(response.status(), StatusCode::PAYMENT_REQUIRED);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let first = json(response).await;
    assert!(first["detail"].as_str().unwrap().contains("declined"));

    let (status, again) = call(
        &app.router,
        pay(&token, Some("big"), order, LIMIT_MINOR + 1),
    )
    .await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED);
    assert_eq!(again, first);
    assert_eq!(app.provider.calls(), 1);

    let (_, list) = call(
        &app.router,
        get(&token, &format!("/api/v1/payments?order_id={order}")),
    )
    .await;
    assert_eq!(list[0]["status"], "failed");
    assert!(list[0]["reason"].as_str().unwrap().contains("card limit"));
}

#[tokio::test]
async fn a_key_reused_for_a_different_charge_is_422() {
    let app = app().await;
    let (_, token) = customer();
    let order = OrderId::new();
    let (status, _) = call(&app.router, pay(&token, Some("k"), order, 100)).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = call(&app.router, pay(&token, Some("k"), order, 200)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (_, other) = customer();
    let (status, _) = call(&app.router, pay(&other, Some("k"), order, 100)).await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "another user's key is not theirs"
    );
    assert_eq!(app.provider.calls(), 1);
}

#[tokio::test]
async fn requests_need_a_token_an_idempotency_key_and_a_valid_body() {
    let app = app().await;
    let (_, token) = customer();
    let (status, _) = call(&app.router, pay("garbage", Some("k"), OrderId::new(), 100)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = call(&app.router, pay(&token, None, OrderId::new(), 100)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["detail"].as_str().unwrap().contains("Idempotency-Key"));
    let (status, _) = call(&app.router, pay(&token, Some("k"), OrderId::new(), -5)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = call(&app.router, get(&token, "/api/v1/payments/nope")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let path = format!("/api/v1/payments/{}", PaymentId::new());
    let (status, _) = call(&app.router, get(&token, &path)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(app.provider.calls(), 0);
}

#[tokio::test]
async fn an_admin_refunds_a_payment_once() {
    let app = app().await;
    let (user, token) = customer();
    let (_, payment) = call(&app.router, pay(&token, Some("k"), OrderId::new(), 700)).await;
    let path = format!(
        "/api/v1/payments/{}/refund",
        payment["id"].as_str().unwrap()
    );

    let (status, _) = call(&app.router, post(&token, &path)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "customers cannot refund");
    let (status, refunded) = call(&app.router, post(&admin(), &path)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(refunded["status"], "refunded");
    let (status, _) = call(&app.router, post(&admin(), &path)).await;
    assert_eq!(status, StatusCode::CONFLICT);

    let events: Vec<PaymentRefunded> = decoded(&app.bus);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].user_id, user);
    assert_eq!(events[0].amount, usd(700));
    let unknown = format!("/api/v1/payments/{}/refund", PaymentId::new());
    let (status, _) = call(&app.router, post(&admin(), &unknown)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_declined_payment_cannot_be_refunded() {
    let app = app().await;
    let (_, token) = customer();
    let order = OrderId::new();
    let (status, _) = call(&app.router, pay(&token, Some("k"), order, LIMIT_MINOR * 2)).await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED);
    let (_, list) = call(
        &app.router,
        get(&admin(), &format!("/api/v1/payments?order_id={order}")),
    )
    .await;
    let path = format!(
        "/api/v1/payments/{}/refund",
        list[0]["id"].as_str().unwrap()
    );
    let (status, body) = call(&app.router, post(&admin(), &path)).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("only a succeeded payment")
    );
    assert_eq!(count(&app.bus, topics::PAYMENT_REFUNDED), 0);
}

#[tokio::test]
async fn a_reservation_charges_the_order_and_a_redelivery_charges_and_announces_nothing_more() {
    let app = app().await;
    let (user, token) = customer();
    let order = OrderId::new();
    let reserved = InventoryReserved {
        order_id: order,
        user_id: user,
        total: usd(4998),
    };
    publish(&app.bus, &reserved).await;
    app.bus.settled().await;

    let succeeded: Vec<PaymentSucceeded> = decoded(&app.bus);
    assert_eq!(succeeded.len(), 1);
    assert_eq!(succeeded[0].order_id, order);
    assert_eq!(succeeded[0].user_id, user);
    assert_eq!(succeeded[0].amount, usd(4998));
    let (_, list) = call(
        &app.router,
        get(&token, &format!("/api/v1/payments?order_id={order}")),
    )
    .await;
    assert_eq!(list[0]["id"], succeeded[0].payment_id.to_string());
    assert_eq!(list[0]["idempotency_key"], order.to_string());

    publish(&app.bus, &reserved).await;
    app.bus.settled().await;
    assert_eq!(app.provider.calls(), 1);
    assert_eq!(count(&app.bus, topics::PAYMENT_SUCCEEDED), 1);
    assert!(app.bus.dead_letters().is_empty());
}

#[tokio::test]
async fn a_declined_reservation_charge_announces_payment_failed_once() {
    let app = app().await;
    let user = UserId::new();
    let order = OrderId::new();
    let reserved = InventoryReserved {
        order_id: order,
        user_id: user,
        total: usd(LIMIT_MINOR + 1),
    };
    publish(&app.bus, &reserved).await;
    publish(&app.bus, &reserved).await;
    app.bus.settled().await;
    let failed: Vec<PaymentFailed> = decoded(&app.bus);
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].order_id, order);
    assert_eq!(failed[0].user_id, user);
    assert!(failed[0].reason.contains("card limit"));
    assert_eq!(count(&app.bus, topics::PAYMENT_SUCCEEDED), 0);
    assert_eq!(app.provider.calls(), 1);
}

#[tokio::test]
async fn a_cancelled_order_is_refunded_once() {
    let app = app().await;
    let user = UserId::new();
    let order = OrderId::new();
    publish(
        &app.bus,
        &InventoryReserved {
            order_id: order,
            user_id: user,
            total: usd(2500),
        },
    )
    .await;
    let cancelled = OrderCancelled {
        order_id: order,
        user_id: user,
        reason: "cancelled by customer".into(),
    };
    publish(&app.bus, &cancelled).await;
    publish(&app.bus, &cancelled).await;
    app.bus.settled().await;

    let refunded: Vec<PaymentRefunded> = decoded(&app.bus);
    let succeeded: Vec<PaymentSucceeded> = decoded(&app.bus);
    assert_eq!(
        refunded.len(),
        1,
        "the redelivered cancellation refunds nothing"
    );
    assert_eq!(refunded[0].payment_id, succeeded[0].payment_id);
    assert_eq!(refunded[0].amount, usd(2500));
    let path = format!("/api/v1/payments/{}", refunded[0].payment_id);
    let (_, payment) = call(&app.router, get(&admin(), &path)).await;
    assert_eq!(payment["status"], "refunded");
    assert!(app.bus.dead_letters().is_empty());
}

#[tokio::test]
async fn an_order_cancelled_before_its_charge_is_never_charged() {
    let app = app().await;
    let user = UserId::new();
    let order = OrderId::new();
    publish(
        &app.bus,
        &OrderCancelled {
            order_id: order,
            user_id: user,
            reason: "cancelled by customer".into(),
        },
    )
    .await;
    publish(
        &app.bus,
        &InventoryReserved {
            order_id: order,
            user_id: user,
            total: usd(2500),
        },
    )
    .await;
    app.bus.settled().await;
    assert_eq!(app.provider.calls(), 0);
    assert_eq!(count(&app.bus, topics::PAYMENT_SUCCEEDED), 0);
    assert_eq!(count(&app.bus, topics::PAYMENT_FAILED), 0);
    assert_eq!(count(&app.bus, topics::PAYMENT_REFUNDED), 0);
    let (_, token) = customer();
    let (status, _) = call(&app.router, pay(&token, Some("late"), order, 2500)).await;
    assert_eq!(status, StatusCode::CONFLICT, "the API refuses it too");
}

#[tokio::test]
async fn a_cancellation_of_an_uncharged_or_declined_order_publishes_nothing() {
    let app = app().await;
    let user = UserId::new();
    let order = OrderId::new();
    publish(
        &app.bus,
        &InventoryReserved {
            order_id: order,
            user_id: user,
            total: usd(LIMIT_MINOR + 1),
        },
    )
    .await;
    publish(
        &app.bus,
        &OrderCancelled {
            order_id: order,
            user_id: user,
            reason: "payment failed: declined".into(),
        },
    )
    .await;
    app.bus.settled().await;
    assert_eq!(count(&app.bus, topics::PAYMENT_FAILED), 1);
    assert_eq!(count(&app.bus, topics::PAYMENT_REFUNDED), 0);
    assert!(app.bus.dead_letters().is_empty());
}
