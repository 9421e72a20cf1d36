//! The payment service through its HTTP API and its consumers.

mod common;

use std::time::Duration;

use axum::http::StatusCode;
use common::{LIMIT_MINOR, app, app_with_latency, reservation};
use payment_service::service::ChargeError;
use platform::auth::Role;
use serde_json::{Value, json};
use shared_events::{
    InventoryReserved, OrderCancelled, PaymentFailed, PaymentRefunded, PaymentSucceeded, topics,
};
use shared_types::{Currency, Money, OrderId, PaymentId, UserId};
use testing::TestClient;
use testing::bus::{count, decoded, publish};
use testing::tokens::{admin, customer, for_user};

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

/// Charges `order` of `user` through the saga (an `inventory.reserved`) and answers the
/// payment as its owner's listing shows it.
async fn charged(app: &common::TestApp, order: OrderId, user: UserId, minor: i64) -> Value {
    publish(&app.bus, &reserved(order, user, minor)).await;
    app.bus.settled().await;
    let list = payments_of(&app.client, &for_user(user, Role::Customer), order).await;
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    list[0].clone()
}

#[tokio::test]
async fn same_idempotency_key_never_charges_twice() {
    let provider = common::CountingProvider::new(Duration::from_millis(150));
    let service = common::memory_service(provider.clone());
    let request = reservation(OrderId::new(), UserId::new(), 4998);
    let (a, b) = tokio::join!(
        service.charge_order(request.clone()),
        service.charge_order(request.clone()),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(provider.calls(), 1, "the provider is asked once");
    assert_eq!(a.payment, b.payment, "both deliveries see the same payment");
    assert_eq!(a.payment.status.name(), "succeeded");
    assert!(
        a.fresh != b.fresh,
        "exactly one of them charged (and announces)"
    );

    let later = service.charge_order(request).await.unwrap();
    assert!(!later.fresh);
    assert_eq!(later.payment, a.payment);
    assert_eq!(provider.calls(), 1);
}

#[tokio::test]
async fn a_reservation_of_the_same_order_with_another_total_is_refused() {
    let provider = common::CountingProvider::new(Duration::ZERO);
    let service = common::memory_service(provider.clone());
    let (order, user) = (OrderId::new(), UserId::new());
    service
        .charge_order(reservation(order, user, 100))
        .await
        .unwrap();
    for other in [
        reservation(order, user, 200),
        reservation(order, UserId::new(), 100),
    ] {
        let err = service.charge_order(other).await.unwrap_err();
        assert!(matches!(err, ChargeError::KeyReused(_)), "{err}");
    }
    assert_eq!(provider.calls(), 1);
}

#[tokio::test]
async fn nobody_can_charge_through_the_api() {
    let app = app().await;
    let (user, token) = customer();
    let order = OrderId::new();
    // What froze a checkout when charging was public: a payment posted under the order's id
    // (the saga's key) before the saga charged it.
    for caller in [token.clone(), admin()] {
        let response = app
            .client
            .post("/api/v1/payments")
            .bearer(&caller)
            .idempotency_key(&order.to_string())
            .json(&json!({"order_id": order, "amount": {"amount_minor": 0, "currency": "USD"}}))
            .send()
            .await;
        assert_eq!(response.status, StatusCode::METHOD_NOT_ALLOWED);
    }
    assert_eq!(app.provider.calls(), 0);

    let payment = charged(&app, order, user, 4998).await;
    assert_eq!(
        payment["status"], "succeeded",
        "the saga's charge goes through"
    );
    assert_eq!(payment["amount"]["amount_minor"], 4998);
    assert!(app.bus.dead_letters().is_empty());
}

#[tokio::test]
async fn a_payment_is_readable_by_its_payer_and_admins_only() {
    let app = app().await;
    let (user, token) = customer();
    let (_, stranger) = customer();
    let order = OrderId::new();
    let payment = charged(&app, order, user, 1250).await;
    assert_eq!(payment["user_id"], user.to_string());
    assert_eq!(payment["order_id"], order.to_string());
    assert_eq!(payment["amount"]["amount_minor"], 1250);
    assert_eq!(payment["idempotency_key"], order.to_string());
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
async fn reads_need_a_token_and_well_formed_ids() {
    let app = app().await;
    let (_, token) = customer();
    let listing = format!("/api/v1/payments?order_id={}", OrderId::new());
    let response = app.client.get_as("garbage", &listing).await;
    assert_eq!(response.status, StatusCode::UNAUTHORIZED);
    let unknown = format!("/api/v1/payments/{}", PaymentId::new());
    for (path, expected) in [
        ("/api/v1/payments/nope", StatusCode::BAD_REQUEST),
        ("/api/v1/payments?order_id=nope", StatusCode::BAD_REQUEST),
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
    let payment = charged(&app, OrderId::new(), user, 700).await;
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
    let payment = charged(&app, OrderId::new(), UserId::new(), LIMIT_MINOR * 2).await;
    assert_eq!(payment["status"], "failed");
    let path = format!(
        "/api/v1/payments/{}/refund",
        payment["id"].as_str().unwrap()
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
