//! The payment service through its HTTP API and its consumers.

mod common;

use std::time::Duration;

use axum::http::StatusCode;
use common::{LIMIT_MINOR, app, app_with_latency, pay};
use shared_events::{
    InventoryReserved, OrderCancelled, PaymentFailed, PaymentRefunded, PaymentSucceeded, topics,
};
use shared_types::{Currency, Money, OrderId, PaymentId, UserId};
use testing::TestClient;
use testing::bus::{count, decoded, publish};
use testing::tokens::{admin, customer};

fn usd(minor: i64) -> Money {
    Money::new(minor, Currency::Usd)
}

/// The payments of `order`, read as `token`'s holder.
async fn payments_of(client: &TestClient, token: &str, order: OrderId) -> serde_json::Value {
    client
        .get_as(token, &format!("/api/v1/payments?order_id={order}"))
        .await
        .json()
}

fn reserved(order: OrderId, user: UserId, amount_minor: i64) -> InventoryReserved {
    InventoryReserved {
        order_id: order,
        user_id: user,
        total: usd(amount_minor),
    }
}

fn cancelled(order: OrderId, user: UserId, reason: &str) -> OrderCancelled {
    OrderCancelled {
        order_id: order,
        user_id: user,
        reason: reason.into(),
    }
}

#[tokio::test]
async fn same_idempotency_key_never_charges_twice() {
    let app = app_with_latency(Duration::from_millis(150)).await;
    let (_, token) = customer();
    let order = OrderId::new();
    let (a, b) = tokio::join!(
        pay(&app.client, &token, Some("pay-once"), order, 4998).send(),
        pay(&app.client, &token, Some("pay-once"), order, 4998).send(),
    );
    assert_eq!(app.provider.calls(), 1, "the provider is asked once");
    assert_eq!(a.status, StatusCode::CREATED);
    assert_eq!(b.status, StatusCode::CREATED);
    let (a, b) = (a.json(), b.json());
    assert_eq!(a, b, "both callers see the same payment");
    assert_eq!(a["status"], "succeeded");

    // A later retry is answered from the record, too.
    let later = pay(&app.client, &token, Some("pay-once"), order, 4998)
        .send()
        .await;
    assert_eq!(later.status, StatusCode::CREATED);
    assert_eq!(later.headers["idempotent-replayed"], "true");
    assert_eq!(later.json(), a);
    assert_eq!(app.provider.calls(), 1);
}

#[tokio::test]
async fn a_payment_is_created_and_readable_by_its_payer_and_admins_only() {
    let app = app().await;
    let (user, token) = customer();
    let (_, stranger) = customer();
    let order = OrderId::new();
    let (status, payment) = pay(&app.client, &token, Some("k"), order, 1250)
        .send()
        .await
        .status_and_json();
    assert_eq!(status, StatusCode::CREATED, "{payment}");
    assert_eq!(payment["user_id"], user.to_string());
    assert_eq!(payment["order_id"], order.to_string());
    assert_eq!(payment["amount"]["amount_minor"], 1250);
    assert_eq!(payment["idempotency_key"], "k");
    let path = format!("/api/v1/payments/{}", payment["id"].as_str().unwrap());

    let (status, body) = app.client.get_as(&token, &path).await.status_and_json();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, payment);
    assert_eq!(
        app.client.get_as(&admin(), &path).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.client.get_as(&stranger, &path).await.status,
        StatusCode::FORBIDDEN
    );

    let by_order = format!("/api/v1/payments?order_id={order}");
    let (status, list) = app.client.get_as(&token, &by_order).await.status_and_json();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list, serde_json::json!([payment]));
    assert_eq!(
        app.client.get_as(&stranger, &by_order).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.client.get_as(&token, "/api/v1/payments").await.status,
        StatusCode::BAD_REQUEST,
        "order_id is required"
    );
}

#[tokio::test]
async fn a_decline_is_402_and_a_repeat_replays_it_without_asking_the_provider() {
    let app = app().await;
    let (_, token) = customer();
    let order = OrderId::new();
    let response = pay(&app.client, &token, Some("big"), order, LIMIT_MINOR + 1)
        .send()
        .await;
    assert_eq!(response.status, StatusCode::PAYMENT_REQUIRED);
    let first = response.problem();
    assert!(first["detail"].as_str().unwrap().contains("declined"));

    let (status, again) = pay(&app.client, &token, Some("big"), order, LIMIT_MINOR + 1)
        .send()
        .await
        .status_and_json();
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED);
    assert_eq!(again, first);
    assert_eq!(app.provider.calls(), 1);

    let list = payments_of(&app.client, &token, order).await;
    assert_eq!(list[0]["status"], "failed");
    assert!(list[0]["reason"].as_str().unwrap().contains("card limit"));
}

#[tokio::test]
async fn a_key_reused_for_a_different_charge_is_422() {
    let app = app().await;
    let (_, token) = customer();
    let (_, other) = customer();
    let order = OrderId::new();
    let status = |token: &str, amount_minor: i64| {
        let request = pay(&app.client, token, Some("k"), order, amount_minor);
        async move { request.send().await.status }
    };
    assert_eq!(status(&token, 100).await, StatusCode::CREATED);
    assert_eq!(status(&token, 200).await, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        status(&other, 100).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "another user's key is not theirs"
    );
    assert_eq!(app.provider.calls(), 1);
}

#[tokio::test]
async fn requests_need_a_token_an_idempotency_key_and_a_valid_body() {
    let app = app().await;
    let (_, token) = customer();
    let response = pay(&app.client, "garbage", Some("k"), OrderId::new(), 100)
        .send()
        .await;
    assert_eq!(response.status, StatusCode::UNAUTHORIZED);
    let (status, body) = pay(&app.client, &token, None, OrderId::new(), 100)
        .send()
        .await
        .status_and_json();
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["detail"].as_str().unwrap().contains("Idempotency-Key"));
    let response = pay(&app.client, &token, Some("k"), OrderId::new(), -5)
        .send()
        .await;
    assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY);
    let unknown = format!("/api/v1/payments/{}", PaymentId::new());
    for (path, expected) in [
        ("/api/v1/payments/nope", StatusCode::BAD_REQUEST),
        (unknown.as_str(), StatusCode::NOT_FOUND),
    ] {
        let response = app.client.get_as(&token, path).await;
        assert_eq!(response.status, expected, "{path}");
    }
    assert_eq!(app.provider.calls(), 0);
}

#[tokio::test]
async fn an_admin_refunds_a_payment_once() {
    let app = app().await;
    let (user, token) = customer();
    let payment = pay(&app.client, &token, Some("k"), OrderId::new(), 700)
        .send()
        .await
        .json();
    let path = format!(
        "/api/v1/payments/{}/refund",
        payment["id"].as_str().unwrap()
    );

    let response = app.client.post_as(&token, &path).await;
    assert_eq!(
        response.status,
        StatusCode::FORBIDDEN,
        "customers cannot refund"
    );
    let (status, refunded) = app.client.post_as(&admin(), &path).await.status_and_json();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(refunded["status"], "refunded");
    let response = app.client.post_as(&admin(), &path).await;
    assert_eq!(response.status, StatusCode::CONFLICT);

    let events: Vec<PaymentRefunded> = decoded(&app.bus);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].user_id, user);
    assert_eq!(events[0].amount, usd(700));
    let unknown = format!("/api/v1/payments/{}/refund", PaymentId::new());
    let response = app.client.post_as(&admin(), &unknown).await;
    assert_eq!(response.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_declined_payment_cannot_be_refunded() {
    let app = app().await;
    let (_, token) = customer();
    let order = OrderId::new();
    let response = pay(&app.client, &token, Some("k"), order, LIMIT_MINOR * 2)
        .send()
        .await;
    assert_eq!(response.status, StatusCode::PAYMENT_REQUIRED);
    let list = payments_of(&app.client, &admin(), order).await;
    let path = format!(
        "/api/v1/payments/{}/refund",
        list[0]["id"].as_str().unwrap()
    );
    let (status, body) = app.client.post_as(&admin(), &path).await.status_and_json();
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
    let reserved = reserved(order, user, 4998);
    publish(&app.bus, &reserved).await;
    app.bus.settled().await;

    let succeeded: Vec<PaymentSucceeded> = decoded(&app.bus);
    assert_eq!(succeeded.len(), 1);
    assert_eq!(succeeded[0].order_id, order);
    assert_eq!(succeeded[0].user_id, user);
    assert_eq!(succeeded[0].amount, usd(4998));
    let list = payments_of(&app.client, &token, order).await;
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
    let reserved = reserved(order, user, LIMIT_MINOR + 1);
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
    let (order, user) = (OrderId::new(), UserId::new());
    publish(&app.bus, &reserved(order, user, 2500)).await;
    let cancelled = cancelled(order, user, "cancelled by customer");
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
    let payment = app.client.get_as(&admin(), &path).await.json();
    assert_eq!(payment["status"], "refunded");
    assert!(app.bus.dead_letters().is_empty());
}

/// Waits (bounded) until `provider` has been asked `calls` times.
async fn asked(provider: &common::CountingProvider, calls: u32) {
    tokio::time::timeout(Duration::from_secs(10), async {
        while provider.calls() < calls {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the provider is asked");
}

#[tokio::test]
async fn a_charge_in_flight_when_its_order_is_cancelled_is_refunded_when_it_succeeds() {
    let app = app_with_latency(Duration::from_millis(300)).await;
    let (order, user) = (OrderId::new(), UserId::new());
    publish(&app.bus, &reserved(order, user, 2500)).await;
    asked(&app.provider, 1).await;
    // The charge is at the provider; the cancellation does not wait for it.
    publish(&app.bus, &cancelled(order, user, "cancelled by customer")).await;
    app.bus.settled().await;

    let succeeded: Vec<PaymentSucceeded> = decoded(&app.bus);
    let refunded: Vec<PaymentRefunded> = decoded(&app.bus);
    assert_eq!(succeeded.len(), 1);
    assert_eq!(refunded.len(), 1, "the late success is refunded once");
    assert_eq!(refunded[0].payment_id, succeeded[0].payment_id);
    let path = format!("/api/v1/payments/{}", refunded[0].payment_id);
    let payment = app.client.get_as(&admin(), &path).await.json();
    assert_eq!(payment["status"], "refunded");
    assert!(app.bus.dead_letters().is_empty());
}

#[tokio::test]
async fn an_order_cancelled_before_its_charge_is_never_charged() {
    let app = app().await;
    let user = UserId::new();
    let order = OrderId::new();
    publish(&app.bus, &cancelled(order, user, "cancelled by customer")).await;
    publish(&app.bus, &reserved(order, user, 2500)).await;
    app.bus.settled().await;
    assert_eq!(app.provider.calls(), 0);
    for topic in [
        topics::PAYMENT_SUCCEEDED,
        topics::PAYMENT_FAILED,
        topics::PAYMENT_REFUNDED,
    ] {
        assert_eq!(count(&app.bus, topic), 0, "{topic}");
    }
    let (_, token) = customer();
    let response = pay(&app.client, &token, Some("late"), order, 2500)
        .send()
        .await;
    assert_eq!(
        response.status,
        StatusCode::CONFLICT,
        "the API refuses it too"
    );
}

#[tokio::test]
async fn a_cancellation_of_an_uncharged_or_declined_order_publishes_nothing() {
    let app = app().await;
    let (order, user) = (OrderId::new(), UserId::new());
    publish(&app.bus, &reserved(order, user, LIMIT_MINOR + 1)).await;
    publish(
        &app.bus,
        &cancelled(order, user, "payment failed: declined"),
    )
    .await;
    app.bus.settled().await;
    assert_eq!(count(&app.bus, topics::PAYMENT_FAILED), 1);
    assert_eq!(count(&app.bus, topics::PAYMENT_REFUNDED), 0);
    assert!(app.bus.dead_letters().is_empty());
}
