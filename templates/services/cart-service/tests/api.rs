//! The cart service through its HTTP API and its consumer.

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{Method, StatusCode};
use cart_service::config::Settings;
use common::{ALMOST_TTL, TestApp, app, send, token_for};
use platform::ServiceConfig;
use platform::health::Readiness;
use platform::topology::CART_SERVICE;
use serde_json::{Value, json};
use shared_events::{EventBus, EventEnvelope, InMemoryEventBus, OrderConfirmed};
use shared_types::{Currency, Money, OrderId, ProductId, UserId};

async fn add(app: &Router, token: &str, product: ProductId, quantity: u32) -> (StatusCode, Value) {
    send(
        app,
        Method::POST,
        "/api/v1/cart/items",
        Some(token),
        Some(json!({ "product_id": product, "quantity": quantity })),
    )
    .await
}

async fn cart(app: &Router, token: &str) -> Value {
    let (status, body) = send(app, Method::GET, "/api/v1/cart", Some(token), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

fn quantities(cart: &Value) -> Vec<u64> {
    cart["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|line| line["quantity"].as_u64().unwrap())
        .collect()
}

async fn confirm(bus: &InMemoryEventBus, user: UserId) -> EventEnvelope {
    let event = EventEnvelope::wrap(&OrderConfirmed {
        order_id: OrderId::new(),
        user_id: user,
        total: Money::new(100, Currency::Usd),
    });
    bus.publish(event.clone()).await.unwrap();
    bus.settled().await;
    event
}

#[tokio::test]
async fn the_cart_shows_line_totals_and_the_total_in_minor_units() {
    let TestApp {
        router, catalog, ..
    } = app().await;
    let user = UserId::new();
    let token = token_for(user);
    let pen = catalog.add("Pen", 1_999, true);
    let pad = catalog.add("Pad", 501, true);
    add(&router, &token, pen, 2).await;
    let (status, body) = add(&router, &token, pad, 1).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, cart(&router, &token).await);
    assert_eq!(body["user_id"], user.to_string());
    let lines = body["items"].as_array().unwrap();
    assert_eq!(lines[0]["name"], "Pen");
    assert_eq!(lines[0]["unit_price"]["amount_minor"], 1_999);
    assert_eq!(lines[0]["line_total"]["amount_minor"], 3_998);
    assert_eq!(lines[1]["line_total"]["amount_minor"], 501);
    assert_eq!(
        body["total"],
        json!({ "amount_minor": 4_499, "currency": "USD" })
    );
}

#[tokio::test]
async fn an_empty_cart_totals_zero() {
    let TestApp { router, .. } = app().await;
    let body = cart(&router, &token_for(UserId::new())).await;
    assert_eq!(body["items"], json!([]));
    assert_eq!(body["total"]["amount_minor"], 0);
}

#[tokio::test]
async fn adding_a_product_already_in_the_cart_increases_its_quantity() {
    let TestApp {
        router, catalog, ..
    } = app().await;
    let token = token_for(UserId::new());
    let pen = catalog.add("Pen", 100, true);
    add(&router, &token, pen, 2).await;
    let (_, body) = add(&router, &token, pen, 3).await;
    assert_eq!(quantities(&body), [5]);
    assert_eq!(body["total"]["amount_minor"], 500);
}

#[tokio::test]
async fn quantities_stay_between_1_and_99_per_line() {
    let TestApp {
        router, catalog, ..
    } = app().await;
    let token = token_for(UserId::new());
    let pen = catalog.add("Pen", 100, true);
    for quantity in [0, 100] {
        let (status, _) = add(&router, &token, pen, quantity).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{quantity}");
    }
    assert_eq!(add(&router, &token, pen, 99).await.0, StatusCode::OK);
    let (status, problem) = add(&router, &token, pen, 1).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(problem["detail"].as_str().unwrap().contains("99"));
    let uri = format!("/api/v1/cart/items/{pen}");
    let (status, _) = send(
        &router,
        Method::PUT,
        &uri,
        Some(&token),
        Some(json!({ "quantity": 100 })),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = send(
        &router,
        Method::PUT,
        &uri,
        Some(&token),
        Some(json!({ "quantity": -1 })),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(quantities(&cart(&router, &token).await), [99]);
}

#[tokio::test]
async fn setting_a_quantity_changes_the_line_and_zero_removes_it() {
    let TestApp {
        router, catalog, ..
    } = app().await;
    let token = token_for(UserId::new());
    let pen = catalog.add("Pen", 100, true);
    let pad = catalog.add("Pad", 300, true);
    add(&router, &token, pen, 1).await;
    add(&router, &token, pad, 1).await;
    let (status, body) = send(
        &router,
        Method::PUT,
        &format!("/api/v1/cart/items/{pen}"),
        Some(&token),
        Some(json!({ "quantity": 4 })),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(quantities(&body), [4, 1]);
    assert_eq!(body["total"]["amount_minor"], 700);
    let (_, body) = send(
        &router,
        Method::PUT,
        &format!("/api/v1/cart/items/{pen}"),
        Some(&token),
        Some(json!({ "quantity": 0 })),
    )
    .await;
    assert_eq!(quantities(&body), [1]);
    assert_eq!(body["items"][0]["product_id"], pad.to_string());
}

#[tokio::test]
async fn removing_an_item_and_clearing_the_cart() {
    let TestApp {
        router, catalog, ..
    } = app().await;
    let token = token_for(UserId::new());
    let pen = catalog.add("Pen", 100, true);
    let pad = catalog.add("Pad", 300, true);
    add(&router, &token, pen, 1).await;
    add(&router, &token, pad, 2).await;
    let (status, body) = send(
        &router,
        Method::DELETE,
        &format!("/api/v1/cart/items/{pen}"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["total"]["amount_minor"], 600);
    let (status, _) = send(
        &router,
        Method::DELETE,
        &format!("/api/v1/cart/items/{pen}"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "no longer in the cart");
    let (status, _) = send(&router, Method::DELETE, "/api/v1/cart", Some(&token), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(cart(&router, &token).await["items"], json!([]));
    let (status, _) = send(
        &router,
        Method::DELETE,
        "/api/v1/cart/items/not-a-uuid",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn an_unknown_product_is_a_404_and_an_inactive_one_a_422() {
    let TestApp {
        router, catalog, ..
    } = app().await;
    let token = token_for(UserId::new());
    let (status, problem) = add(&router, &token, ProductId::new(), 1).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(problem["status"], 404);
    let retired = catalog.add("Fax Machine", 9_900, false);
    let (status, problem) = add(&router, &token, retired, 1).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(problem["detail"].as_str().unwrap().contains("not on sale"));
    assert_eq!(cart(&router, &token).await["items"], json!([]));
}

#[tokio::test]
async fn adding_while_the_catalogue_is_down_is_a_503_and_the_cart_still_reads() {
    let TestApp {
        router, catalog, ..
    } = app().await;
    let token = token_for(UserId::new());
    let pen = catalog.add("Pen", 100, true);
    add(&router, &token, pen, 1).await;
    catalog.set_down(true);
    let (status, _) = add(&router, &token, pen, 1).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(quantities(&cart(&router, &token).await), [1]);
}

#[tokio::test]
async fn the_http_catalogue_answers_503_when_product_service_is_unreachable() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let nowhere = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let router = cart_service::start_with(
        ServiceConfig::for_tests(CART_SERVICE),
        Settings {
            product_url: nowhere,
            ..Settings::default()
        },
        Arc::new(InMemoryEventBus::default()),
        Readiness::default(),
    )
    .await
    .unwrap();
    let (status, problem) = add(&router, &token_for(UserId::new()), ProductId::new(), 1).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("product-service")
    );
}

#[tokio::test]
async fn a_confirmed_order_clears_its_buyers_cart_once() {
    let TestApp {
        router,
        bus,
        catalog,
        ..
    } = app().await;
    let buyer = UserId::new();
    let other = UserId::new();
    let (buyer_token, other_token) = (token_for(buyer), token_for(other));
    let pen = catalog.add("Pen", 100, true);
    add(&router, &buyer_token, pen, 2).await;
    add(&router, &other_token, pen, 1).await;
    let confirmed = confirm(&bus, buyer).await;
    assert_eq!(cart(&router, &buyer_token).await["items"], json!([]));
    assert_eq!(quantities(&cart(&router, &other_token).await), [1]);

    // The buyer starts a new cart; a redelivery of the same confirmation leaves it alone.
    add(&router, &buyer_token, pen, 3).await;
    bus.publish(confirmed).await.unwrap();
    bus.settled().await;
    assert_eq!(quantities(&cart(&router, &buyer_token).await), [3]);
    assert!(bus.dead_letters().is_empty());
}

#[tokio::test]
async fn a_cart_expires_a_ttl_after_its_last_change() {
    let TestApp {
        router,
        catalog,
        clock,
        ..
    } = app().await;
    let token = token_for(UserId::new());
    let pen = catalog.add("Pen", 100, true);
    add(&router, &token, pen, 1).await;
    clock.advance(ALMOST_TTL);
    assert_eq!(
        quantities(&cart(&router, &token).await),
        [1],
        "reads do not extend it"
    );
    add(&router, &token, pen, 1).await;
    clock.advance(ALMOST_TTL);
    assert_eq!(
        quantities(&cart(&router, &token).await),
        [2],
        "the change restarted it"
    );
    clock.advance(Duration::from_secs(1));
    let expired = cart(&router, &token).await;
    assert_eq!(expired["items"], json!([]));
    assert_eq!(expired["total"]["amount_minor"], 0);
}

#[tokio::test]
async fn one_user_cannot_see_or_change_another_users_cart() {
    let TestApp {
        router, catalog, ..
    } = app().await;
    let alice = token_for(UserId::new());
    let bob = token_for(UserId::new());
    let pen = catalog.add("Pen", 100, true);
    add(&router, &alice, pen, 2).await;
    assert_eq!(cart(&router, &bob).await["items"], json!([]));
    let (status, _) = send(
        &router,
        Method::DELETE,
        &format!("/api/v1/cart/items/{pen}"),
        Some(&bob),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    send(&router, Method::DELETE, "/api/v1/cart", Some(&bob), None).await;
    assert_eq!(quantities(&cart(&router, &alice).await), [2]);
}

#[tokio::test]
async fn every_cart_route_needs_a_bearer_token() {
    let TestApp { router, .. } = app().await;
    let product = ProductId::new();
    let routes = [
        (Method::GET, "/api/v1/cart".to_owned(), None),
        (Method::DELETE, "/api/v1/cart".to_owned(), None),
        (
            Method::POST,
            "/api/v1/cart/items".to_owned(),
            Some(json!({ "product_id": product, "quantity": 1 })),
        ),
        (
            Method::PUT,
            format!("/api/v1/cart/items/{product}"),
            Some(json!({ "quantity": 1 })),
        ),
        (
            Method::DELETE,
            format!("/api/v1/cart/items/{product}"),
            None,
        ),
    ];
    for (method, uri, body) in routes {
        let (status, _) = send(&router, method.clone(), &uri, None, body.clone()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {uri}");
        let (status, _) = send(&router, method.clone(), &uri, Some("not-a-jwt"), body).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {uri}");
    }
}
