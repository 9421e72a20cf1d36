//! The order service through its HTTP API and its consumers.

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use common::{FakeCart, TestApp, app, app_with, item, place};
use order_service::Settings;
use order_service::service::LineStatus;
use platform::health::Readiness;
use platform::{ServiceConfig, topology};
use serde_json::{Value, json};
use shared_events::{
    InMemoryEventBus, InventoryReservationFailed, InventoryReserved, OrderCancelled,
    OrderConfirmed, OrderCreated, PaymentFailed, PaymentSucceeded, topics,
};
use shared_types::{Currency, Money, OrderId, PaymentId, UserId};
use testing::bus::{count, decoded, publish};
use testing::tokens::{admin, customer};
use testing::{TestClient, stub};

async fn place_one(app: &TestApp, token: &str) -> OrderId {
    let (status, body) = place(&app.client, token, Some(&uuid_key()), "")
        .send()
        .await
        .status_and_json();
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    body["order_id"].as_str().unwrap().parse().unwrap()
}

fn uuid_key() -> String {
    uuid::Uuid::new_v4().to_string()
}

async fn order_json(app: &TestApp, token: &str, id: OrderId) -> Value {
    let (status, body) = app
        .client
        .get_as(token, &format!("/api/v1/orders/{id}"))
        .await
        .status_and_json();
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

fn total() -> Money {
    Money::new(4998, Currency::Usd)
}

fn reserved(id: OrderId, user: UserId) -> InventoryReserved {
    InventoryReserved {
        order_id: id,
        user_id: user,
        total: total(),
    }
}

fn paid(id: OrderId, user: UserId) -> PaymentSucceeded {
    PaymentSucceeded {
        order_id: id,
        user_id: user,
        payment_id: PaymentId::new(),
        amount: total(),
    }
}

#[tokio::test]
async fn placing_an_order_answers_202_with_its_location_and_publishes_order_created() {
    let app = app().await;
    let (user, token) = customer();
    let response = place(&app.client, &token, Some("checkout-1"), "")
        .send()
        .await;
    assert_eq!(response.status, StatusCode::ACCEPTED);
    let location = response.headers["location"].to_str().unwrap().to_owned();
    assert!(response.headers.get("idempotent-replayed").is_none());
    let body = response.json();
    let id: OrderId = body["order_id"].as_str().unwrap().parse().unwrap();
    assert_eq!(body["status"], "pending");
    assert_eq!(location, format!("/api/v1/orders/{id}"));

    let created: Vec<OrderCreated> = decoded(&app.bus);
    assert_eq!(created.len(), 1);
    assert_eq!(created[0].order_id, id);
    assert_eq!(created[0].user_id, user);
    assert_eq!(created[0].total, total());
    assert_eq!(created[0].lines.len(), 2);

    let order = order_json(&app, &token, id).await;
    assert_eq!(order["status"], "pending");
    assert_eq!(order["total"]["amount_minor"], 4998);
    assert_eq!(order["status_history"][0]["status"], "pending");
}

#[tokio::test]
async fn a_missing_idempotency_key_is_a_400_that_names_the_header() {
    let app = app().await;
    let (_, token) = customer();
    let response = place(&app.client, &token, None, "").send().await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    let body = response.problem();
    assert!(body["detail"].as_str().unwrap().contains("Idempotency-Key"));
    let response = place(&app.client, &token, Some(&"k".repeat(256)), "")
        .send()
        .await;
    assert_eq!(
        response.status,
        StatusCode::BAD_REQUEST,
        "keys are at most 255 characters"
    );
    assert_eq!(app.cart.calls(), 0);
    assert!(app.bus.published().is_empty());
}

#[tokio::test]
async fn a_repeated_key_replays_the_same_response_and_creates_one_order() {
    let app = app().await;
    let (_, token) = customer();
    let first = place(&app.client, &token, Some("same"), "").send().await;
    let second = place(&app.client, &token, Some("same"), "").send().await;
    assert_eq!(second.status, first.status);
    assert_eq!(second.headers["idempotent-replayed"], "true");
    assert_eq!(second.headers["location"], first.headers["location"]);
    assert_eq!(second.json(), first.json());

    let list = app.client.get_as(&token, "/api/v1/orders").await.json();
    assert_eq!(list["total"], 1);
    assert_eq!(count(&app.bus, topics::ORDER_CREATED), 1);
    assert_eq!(
        app.cart.calls(),
        1,
        "the replay does not read the cart again"
    );
}

#[tokio::test]
async fn concurrent_duplicates_create_one_order_and_get_identical_responses() {
    let app = app().await;
    *app.cart.delay.lock().unwrap() = Duration::from_millis(150);
    let (_, token) = customer();
    let (a, b) = tokio::join!(
        place(&app.client, &token, Some("race"), "").send(),
        place(&app.client, &token, Some("race"), "").send(),
    );
    assert_eq!(a.status, StatusCode::ACCEPTED);
    assert_eq!(b.status, a.status);
    let replayed = [&a, &b]
        .iter()
        .filter(|r| r.headers.get("idempotent-replayed").is_some())
        .count();
    assert_eq!(replayed, 1, "exactly one of them is the replay");
    assert_eq!(a.json(), b.json());
    assert_eq!(app.cart.calls(), 1);
    assert_eq!(count(&app.bus, topics::ORDER_CREATED), 1);
    let list = app.client.get_as(&token, "/api/v1/orders").await.json();
    assert_eq!(list["total"], 1);
}

#[tokio::test]
async fn the_same_key_with_a_different_body_is_refused_with_422() {
    let app = app().await;
    let (_, token) = customer();
    let response = place(&app.client, &token, Some("k1"), "").send().await;
    assert_eq!(response.status, StatusCode::ACCEPTED);
    let other = json!({ "expected_total": { "amount_minor": 4998, "currency": "USD" } });
    let (status, body) = place(&app.client, &token, Some("k1"), &other.to_string())
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
    assert_eq!(count(&app.bus, topics::ORDER_CREATED), 1);
}

#[tokio::test]
async fn keys_belong_to_their_user() {
    let app = app().await;
    let (_, alice) = customer();
    let (_, bob) = customer();
    let a = place(&app.client, &alice, Some("shared"), "").send().await;
    let b = place(&app.client, &bob, Some("shared"), "").send().await;
    assert_eq!(
        (a.status, b.status),
        (StatusCode::ACCEPTED, StatusCode::ACCEPTED)
    );
    assert!(b.json().get("order_id").is_some());
    assert_eq!(count(&app.bus, topics::ORDER_CREATED), 2);
}

#[tokio::test]
async fn an_empty_cart_is_422_and_the_key_stays_usable() {
    let app = app_with(FakeCart::with_items(vec![]), InMemoryEventBus::default()).await;
    let (_, token) = customer();
    let (status, body) = place(&app.client, &token, Some("k"), "")
        .send()
        .await
        .status_and_json();
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["detail"], "the cart is empty");
    assert!(app.bus.published().is_empty());

    *app.cart.items.lock().unwrap() = vec![item(500, 1)];
    let response = place(&app.client, &token, Some("k"), "").send().await;
    assert_eq!(response.status, StatusCode::ACCEPTED);
}

#[tokio::test]
async fn an_unreachable_cart_releases_the_key_so_a_retry_succeeds() {
    let app = app().await;
    app.cart
        .failures_left
        .store(1, std::sync::atomic::Ordering::SeqCst);
    let (_, token) = customer();
    let response = place(&app.client, &token, Some("retry"), "").send().await;
    assert_eq!(response.status, StatusCode::SERVICE_UNAVAILABLE);
    let response = place(&app.client, &token, Some("retry"), "").send().await;
    assert_eq!(response.status, StatusCode::ACCEPTED);
    assert!(
        response.headers.get("idempotent-replayed").is_none(),
        "the retry did the work"
    );
    assert_eq!(count(&app.bus, topics::ORDER_CREATED), 1);
}

#[tokio::test]
async fn a_changed_cart_total_is_refused_when_the_client_states_what_it_expected() {
    let app = app().await;
    let (_, token) = customer();
    let stale = json!({ "expected_total": { "amount_minor": 4000, "currency": "USD" } });
    let (status, body) = place(&app.client, &token, Some("a"), &stale.to_string())
        .send()
        .await
        .status_and_json();
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body["detail"].as_str().unwrap().contains("49.98 USD"));
    let fresh = json!({ "expected_total": { "amount_minor": 4998, "currency": "USD" } });
    let response = place(&app.client, &token, Some("b"), &fresh.to_string())
        .send()
        .await;
    assert_eq!(response.status, StatusCode::ACCEPTED);
}

#[tokio::test]
async fn a_line_no_longer_on_sale_blocks_checkout_with_a_422_naming_the_product() {
    let mut retired = item(300, 1);
    retired.name = "Fax Machine".to_owned();
    retired.status = LineStatus::Discontinued;
    let retired_id = retired.product_id;
    let app = app_with(
        FakeCart::with_items(vec![item(1999, 2), retired]),
        InMemoryEventBus::default(),
    )
    .await;
    let (_, token) = customer();
    let response = place(&app.client, &token, Some("k"), "").send().await;
    assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        response.headers["content-type"],
        platform::PROBLEM_JSON,
        "a problem+json answer"
    );
    let detail = response.json()["detail"].as_str().unwrap().to_owned();
    assert!(detail.contains("Fax Machine"), "{detail}");
    assert!(detail.contains(&retired_id.to_string()), "{detail}");
    assert!(detail.contains("no longer on sale"), "{detail}");
    assert!(app.bus.published().is_empty(), "no order was placed");

    // The customer removes the line; the same key now places the order.
    app.cart.items.lock().unwrap().pop();
    let response = place(&app.client, &token, Some("k"), "").send().await;
    assert_eq!(response.status, StatusCode::ACCEPTED);
}

#[tokio::test]
async fn requests_without_a_valid_token_are_401() {
    let app = app().await;
    let response = app.client.get("/api/v1/orders").send().await;
    assert_eq!(response.status, StatusCode::UNAUTHORIZED);
    let response = place(&app.client, "not-a-token", Some("k"), "")
        .send()
        .await;
    assert_eq!(response.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn another_customer_cannot_see_or_cancel_an_order_but_an_admin_can_see_it() {
    let app = app().await;
    let (_, owner) = customer();
    let (_, stranger) = customer();
    let id = place_one(&app, &owner).await;
    let path = format!("/api/v1/orders/{id}");
    let response = app.client.get_as(&stranger, &path).await;
    assert_eq!(response.status, StatusCode::FORBIDDEN);
    let response = app
        .client
        .post_as(&stranger, &format!("{path}/cancel"))
        .await;
    assert_eq!(response.status, StatusCode::FORBIDDEN);
    let (status, body) = app.client.get_as(&admin(), &path).await.status_and_json();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "pending");
    let list = app.client.get_as(&stranger, "/api/v1/orders").await.json();
    assert_eq!(list["total"], 0, "a listing shows only the caller's orders");
}

#[tokio::test]
async fn a_bad_order_id_is_400_and_an_unknown_one_404() {
    let app = app().await;
    let (_, token) = customer();
    let response = app.client.get_as(&token, "/api/v1/orders/not-an-id").await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    let path = format!("/api/v1/orders/{}", OrderId::new());
    let response = app.client.get_as(&token, &path).await;
    assert_eq!(response.status, StatusCode::NOT_FOUND);
    let response = app.client.post_as(&token, &format!("{path}/cancel")).await;
    assert_eq!(response.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_listing_is_newest_first_and_paginated() {
    let app = app().await;
    let (_, token) = customer();
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(place_one(&app, &token).await);
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let page = app
        .client
        .get_as(&token, "/api/v1/orders?page=1&per_page=2")
        .await
        .json();
    assert_eq!(page["total"], 3);
    assert_eq!(page["items"][0]["id"], ids[2].to_string());
    assert_eq!(page["items"][1]["id"], ids[1].to_string());
    let page = app
        .client
        .get_as(&token, "/api/v1/orders?page=2&per_page=2")
        .await
        .json();
    assert_eq!(page["items"][0]["id"], ids[0].to_string());
    for query in ["per_page=0", "page=x"] {
        let response = app
            .client
            .get_as(&token, &format!("/api/v1/orders?{query}"))
            .await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST, "{query}");
    }
}

#[tokio::test]
async fn reservation_then_payment_confirms_the_order_and_announces_it_once() {
    let app = app().await;
    let (user, token) = customer();
    let id = place_one(&app, &token).await;
    let reserved = reserved(id, user);
    let paid = paid(id, user);
    publish(&app.bus, &reserved).await;
    publish(&app.bus, &paid).await;
    app.bus.settled().await;

    let order = order_json(&app, &token, id).await;
    assert_eq!(order["status"], "confirmed");
    let history: Vec<&str> = order["status_history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["status"].as_str().unwrap())
        .collect();
    assert_eq!(history, ["pending", "reserved", "confirmed"]);
    let created: Vec<OrderCreated> = decoded(&app.bus);
    let confirmed: Vec<OrderConfirmed> = decoded(&app.bus);
    assert_eq!(
        confirmed,
        [OrderConfirmed {
            order_id: id,
            user_id: user,
            total: total(),
            lines: created[0].lines.clone(),
        }],
        "the confirmation says what was bought, so only that leaves the cart"
    );
    assert_eq!(confirmed[0].lines.len(), 2);

    // Redelivery of both events: no second effect.
    publish(&app.bus, &reserved).await;
    publish(&app.bus, &paid).await;
    app.bus.settled().await;
    let again = order_json(&app, &token, id).await;
    assert_eq!(again["status_history"], order["status_history"]);
    assert_eq!(count(&app.bus, topics::ORDER_CONFIRMED), 1);
    assert!(app.bus.dead_letters().is_empty());
}

#[tokio::test]
async fn a_failed_reservation_cancels_the_order_with_its_reason() {
    let app = app().await;
    let (user, token) = customer();
    let id = place_one(&app, &token).await;
    let failed = InventoryReservationFailed {
        order_id: id,
        user_id: user,
        reason: "not enough stock".into(),
    };
    publish(&app.bus, &failed).await;
    publish(&app.bus, &failed).await;
    app.bus.settled().await;
    let order = order_json(&app, &token, id).await;
    assert_eq!(order["status"], "cancelled");
    let cancelled: Vec<OrderCancelled> = decoded(&app.bus);
    assert_eq!(cancelled.len(), 1, "the redelivery published nothing");
    assert_eq!(cancelled[0].reason, "reservation failed: not enough stock");
    assert_eq!(
        order["status_history"][1]["reason"],
        "reservation failed: not enough stock"
    );
}

#[tokio::test]
async fn a_failed_payment_cancels_the_reserved_order() {
    let app = app().await;
    let (user, token) = customer();
    let id = place_one(&app, &token).await;
    publish(&app.bus, &reserved(id, user)).await;
    publish(
        &app.bus,
        &PaymentFailed {
            order_id: id,
            user_id: user,
            reason: "card declined".into(),
        },
    )
    .await;
    app.bus.settled().await;
    let order = order_json(&app, &token, id).await;
    assert_eq!(order["status"], "cancelled");
    let cancelled: Vec<OrderCancelled> = decoded(&app.bus);
    assert_eq!(cancelled.len(), 1);
    assert_eq!(cancelled[0].reason, "payment failed: card declined");
    assert_eq!(count(&app.bus, topics::ORDER_CONFIRMED), 0);
}

#[tokio::test]
async fn cancelling_a_confirmed_order_announces_it_and_a_second_cancel_is_409() {
    let app = app().await;
    let (user, token) = customer();
    let id = place_one(&app, &token).await;
    publish(&app.bus, &reserved(id, user)).await;
    publish(&app.bus, &paid(id, user)).await;
    app.bus.settled().await;

    let path = format!("/api/v1/orders/{id}/cancel");
    let (status, body) = app.client.post_as(&token, &path).await.status_and_json();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "cancelled");
    assert_eq!(body["status_history"][3]["reason"], "cancelled by customer");
    let cancelled: Vec<OrderCancelled> = decoded(&app.bus);
    assert_eq!(
        cancelled,
        [OrderCancelled {
            order_id: id,
            user_id: user,
            reason: "cancelled by customer".into()
        }]
    );

    let response = app.client.post_as(&token, &path).await;
    assert_eq!(response.status, StatusCode::CONFLICT);
    assert_eq!(count(&app.bus, topics::ORDER_CANCELLED), 1);
}

#[tokio::test]
async fn an_admin_may_cancel_a_customers_pending_order() {
    let app = app().await;
    let (_, token) = customer();
    let id = place_one(&app, &token).await;
    let (status, body) = app
        .client
        .post_as(&admin(), &format!("/api/v1/orders/{id}/cancel"))
        .await
        .status_and_json();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "cancelled");
    assert_eq!(count(&app.bus, topics::ORDER_CANCELLED), 1);
}

#[tokio::test]
async fn an_event_for_an_unknown_order_is_retried_then_dead_lettered() {
    let bus = InMemoryEventBus::new(2, Duration::from_millis(1));
    let app = app_with(FakeCart::with_items(vec![item(100, 1)]), bus).await;
    publish(&app.bus, &reserved(OrderId::new(), UserId::new())).await;
    app.bus.settled().await;
    let dead = app.bus.dead_letters();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].group, "order-service");
    assert!(dead[0].error.contains("not found"));
}

#[tokio::test]
async fn a_payment_before_its_reservation_confirms_the_order_and_the_late_reservation_changes_nothing()
 {
    let bus = InMemoryEventBus::new(2, Duration::from_millis(1));
    let app = app_with(FakeCart::with_items(vec![item(100, 1)]), bus).await;
    let (user, token) = customer();
    let id = place_one(&app, &token).await;
    publish(
        &app.bus,
        &PaymentSucceeded {
            amount: Money::new(100, Currency::Usd),
            ..paid(id, user)
        },
    )
    .await;
    app.bus.settled().await;
    assert!(
        app.bus.dead_letters().is_empty(),
        "judged by state, not retried"
    );
    let order = order_json(&app, &token, id).await;
    assert_eq!(order["status"], "confirmed");
    assert_eq!(count(&app.bus, topics::ORDER_CONFIRMED), 1);

    publish(&app.bus, &reserved(id, user)).await;
    app.bus.settled().await;
    assert!(app.bus.dead_letters().is_empty());
    let order = order_json(&app, &token, id).await;
    assert_eq!(order["status"], "confirmed");
    assert_eq!(
        count(&app.bus, topics::ORDER_CONFIRMED),
        1,
        "confirmed once"
    );
}

/// Order-service over HTTP against `cart_service` (a stub of its routes, served on a free port
/// until the test ends), with the bus it publishes to.
async fn against_cart_service(cart_service: axum::Router) -> (TestClient, InMemoryEventBus) {
    let (cart_service_url, _server) = stub::serve(cart_service).await;
    let bus = InMemoryEventBus::default();
    let router = order_service::start_with(
        ServiceConfig::for_tests(topology::ORDER_SERVICE),
        Settings {
            cart_service_url,
            ..Settings::default()
        },
        Arc::new(bus.clone()),
        Readiness::default(),
    )
    .await
    .unwrap();
    (TestClient::new(router), bus)
}

#[tokio::test]
async fn the_cart_is_read_from_cart_service_with_the_callers_token() {
    let (user, token) = customer();
    let expected = format!("Bearer {token}");
    let product = shared_types::ProductId::new();
    let cart_service = axum::Router::new().route(
        "/api/v1/cart",
        get(move |headers: HeaderMap| {
            let expected = expected.clone();
            async move {
                if headers["authorization"] != expected.as_str() {
                    return Err(StatusCode::UNAUTHORIZED);
                }
                Ok(Json(json!({
                    "user_id": user,
                    "items": [{
                        "product_id": product,
                        "quantity": 3,
                        "unit_price": { "amount_minor": 250, "currency": "USD" }
                    }]
                })))
            }
        }),
    );
    let (client, bus) = against_cart_service(cart_service).await;
    let (status, body) = place(&client, &token, Some("http"), "")
        .send()
        .await
        .status_and_json();
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let created: OrderCreated = bus.published()[0].decode().unwrap();
    assert_eq!(created.lines[0].product_id, product);
    assert_eq!(created.lines[0].quantity, 3);
    assert_eq!(created.total, Money::new(750, Currency::Usd));
}

#[tokio::test]
async fn a_line_cart_service_reports_discontinued_is_refused_and_current_prices_are_charged() {
    let (user, token) = customer();
    let (pen, fax) = (
        shared_types::ProductId::new(),
        shared_types::ProductId::new(),
    );
    let fax_on_sale = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let on_sale = fax_on_sale.clone();
    // cart-service's `GET /api/v1/cart`: the pen repriced to 1.50 since it was added at 1.00,
    // the fax machine taken off sale (until the flag says otherwise).
    let cart_service = axum::Router::new().route(
        "/api/v1/cart",
        get(move || {
            let status = if on_sale.load(std::sync::atomic::Ordering::SeqCst) {
                "available"
            } else {
                "discontinued"
            };
            async move {
                Json(json!({
                    "user_id": user,
                    "items": [
                        {
                            "product_id": pen, "name": "Pen", "quantity": 2,
                            "unit_price": { "amount_minor": 150, "currency": "USD" },
                            "line_total": { "amount_minor": 300, "currency": "USD" },
                            "status": "available"
                        },
                        {
                            "product_id": fax, "name": "Fax Machine", "quantity": 1,
                            "unit_price": { "amount_minor": 9900, "currency": "USD" },
                            "line_total": { "amount_minor": 9900, "currency": "USD" },
                            "status": status
                        }
                    ],
                    "total": { "amount_minor": 300, "currency": "USD" }
                }))
            }
        }),
    );
    let (client, bus) = against_cart_service(cart_service).await;

    let (status, problem) = place(&client, &token, Some("first"), "")
        .send()
        .await
        .status_and_json();
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains("Fax Machine") && detail.contains(&fax.to_string()),
        "{detail}"
    );
    assert!(!detail.contains(&pen.to_string()), "{detail}");
    assert!(bus.published().is_empty());

    fax_on_sale.store(true, std::sync::atomic::Ordering::SeqCst);
    let (status, body) = place(&client, &token, Some("second"), "")
        .send()
        .await
        .status_and_json();
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let created: OrderCreated = bus.published()[0].decode().unwrap();
    assert_eq!(
        created.lines[0].unit_price,
        Money::new(150, Currency::Usd),
        "the price the cart is priced at now"
    );
    assert_eq!(created.total, Money::new(10_200, Currency::Usd));
}

/// Waits (bounded) until order `id` has `status`, answering it.
async fn status_becomes(app: &TestApp, token: &str, id: OrderId, status: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let order = order_json(app, token, id).await;
        if order["status"] == status {
            return order;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "order {id} stayed {} instead of becoming {status}",
            order["status"]
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn an_order_without_an_outcome_is_cancelled_when_the_saga_times_out() {
    let settings = Settings {
        order_timeout: Duration::from_millis(300),
        ..Settings::default()
    };
    let app = common::app_with_settings(
        FakeCart::with_items(vec![item(1999, 2), item(1000, 1)]),
        InMemoryEventBus::default(),
        settings,
    )
    .await;
    let (user, token) = customer();
    // One order hears nothing (its reservation was lost), one is reserved and its payment is
    // lost, one is paid in time.
    let silent = place_one(&app, &token).await;
    let reserved_only = place_one(&app, &token).await;
    publish(&app.bus, &reserved(reserved_only, user)).await;
    let paid_in_time = place_one(&app, &token).await;
    publish(&app.bus, &reserved(paid_in_time, user)).await;
    publish(&app.bus, &paid(paid_in_time, user)).await;

    for id in [silent, reserved_only] {
        let order = status_becomes(&app, &token, id, "cancelled").await;
        let history = order["status_history"].as_array().unwrap();
        assert_eq!(
            history.last().unwrap()["reason"],
            order_service::models::TIMED_OUT,
            "{order}"
        );
    }
    let cancelled: Vec<OrderCancelled> = decoded(&app.bus);
    let mut ids: Vec<OrderId> = cancelled.iter().map(|event| event.order_id).collect();
    ids.sort();
    let mut expected = vec![silent, reserved_only];
    expected.sort();
    assert_eq!(
        ids, expected,
        "stock is released and charges refunded for exactly these"
    );
    assert_eq!(
        order_json(&app, &token, paid_in_time).await["status"],
        "confirmed",
        "an order that finished in time stays confirmed"
    );
    // A payment that arrives after the timeout finds the order cancelled; payment refunds it.
    publish(&app.bus, &paid(reserved_only, user)).await;
    app.bus.settled().await;
    assert_eq!(
        order_json(&app, &token, reserved_only).await["status"],
        "cancelled"
    );
    assert!(app.bus.dead_letters().is_empty());
}
