//! The cart service through its HTTP API and its consumer.

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::http::{Method, StatusCode};
use cart_service::config::Settings;
use common::{ALMOST_TTL, TestApp, app};
use platform::ServiceConfig;
use platform::auth::Role;
use platform::health::Readiness;
use platform::topology::CART_SERVICE;
use serde_json::{Value, json};
use shared_events::{
    EventBus, EventEnvelope, InMemoryEventBus, OrderConfirmed, OrderLine, ProductUpdated,
};
use shared_types::{Currency, Money, OrderId, ProductId, UserId};
use testing::{TestClient, stub, tokens};

/// A token for a new customer.
fn someone() -> String {
    tokens::customer().1
}

/// The app with a pen (1.00 USD) and a pad (3.00 USD) on sale, and a new customer's token.
struct Shop {
    app: TestApp,
    token: String,
    pen: ProductId,
    pad: ProductId,
}

async fn shop() -> Shop {
    let app = app().await;
    let pen = app.catalog.add("Pen", 100, true);
    let pad = app.catalog.add("Pad", 300, true);
    Shop {
        app,
        token: someone(),
        pen,
        pad,
    }
}

async fn add(
    client: &TestClient,
    token: &str,
    product: ProductId,
    quantity: u32,
) -> (StatusCode, Value) {
    client
        .post("/api/v1/cart/items")
        .bearer(token)
        .json(&json!({ "product_id": product, "quantity": quantity }))
        .send()
        .await
        .status_and_json()
}

/// `PUT /api/v1/cart/items/{product}` with `quantity` (any JSON value).
async fn set_quantity(
    client: &TestClient,
    token: &str,
    product: ProductId,
    quantity: Value,
) -> (StatusCode, Value) {
    client
        .put(&format!("/api/v1/cart/items/{product}"))
        .bearer(token)
        .json(&json!({ "quantity": quantity }))
        .send()
        .await
        .status_and_json()
}

/// `DELETE` of `path` as the holder of `token`; answers the status and body.
async fn delete(client: &TestClient, token: &str, path: &str) -> (StatusCode, Value) {
    client
        .delete(path)
        .bearer(token)
        .send()
        .await
        .status_and_json()
}

async fn cart(client: &TestClient, token: &str) -> Value {
    let (status, body) = client
        .get("/api/v1/cart")
        .bearer(token)
        .send()
        .await
        .status_and_json();
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

/// The statuses of the cart's lines.
fn statuses(cart: &Value) -> Vec<&str> {
    cart["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|line| line["status"].as_str().unwrap())
        .collect()
}

async fn deliver(bus: &InMemoryEventBus, event: EventEnvelope) {
    bus.publish(event).await.unwrap();
    bus.settled().await;
}

/// Publishes `order.confirmed` for `user`'s order of `bought` (product, units at 1.00 USD) and
/// waits until it is handled; answers the event, for redelivery.
async fn confirm(
    bus: &InMemoryEventBus,
    user: UserId,
    bought: &[(ProductId, u32)],
) -> EventEnvelope {
    let lines: Vec<OrderLine> = bought
        .iter()
        .map(|&(product_id, quantity)| OrderLine {
            product_id,
            quantity,
            unit_price: Money::new(100, Currency::Usd),
        })
        .collect();
    let units: i64 = bought
        .iter()
        .map(|&(_, quantity)| i64::from(quantity))
        .sum();
    let event = EventEnvelope::wrap(&OrderConfirmed {
        order_id: OrderId::new(),
        user_id: user,
        total: Money::new(100 * units, Currency::Usd),
        lines,
    });
    deliver(bus, event.clone()).await;
    event
}

/// Publishes what product-service announces when `product` changes: its terms at `version`.
async fn announce(
    bus: &InMemoryEventBus,
    product: ProductId,
    cents: i64,
    active: bool,
    version: u64,
) {
    let event = EventEnvelope::wrap(&ProductUpdated {
        product_id: product,
        name: "Pen".to_owned(),
        price: Money::new(cents, Currency::Usd),
        active,
        version,
    });
    deliver(bus, event).await;
}

#[tokio::test]
async fn the_cart_shows_line_totals_and_the_total_in_minor_units() {
    let TestApp {
        client, catalog, ..
    } = app().await;
    let user = UserId::new();
    let token = tokens::for_user(user, Role::Customer);
    let pen = catalog.add("Pen", 1_999, true);
    let pad = catalog.add("Pad", 501, true);
    add(&client, &token, pen, 2).await;
    let (status, body) = add(&client, &token, pad, 1).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, cart(&client, &token).await);
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
    let TestApp { client, .. } = app().await;
    let body = cart(&client, &someone()).await;
    assert_eq!(body["items"], json!([]));
    assert_eq!(body["total"]["amount_minor"], 0);
}

#[tokio::test]
async fn adding_a_product_already_in_the_cart_increases_its_quantity() {
    let Shop {
        app: TestApp { client, .. },
        token,
        pen,
        ..
    } = shop().await;
    add(&client, &token, pen, 2).await;
    let (_, body) = add(&client, &token, pen, 3).await;
    assert_eq!(quantities(&body), [5]);
    assert_eq!(body["total"]["amount_minor"], 500);
}

#[tokio::test]
async fn quantities_stay_between_1_and_99_per_line() {
    let Shop {
        app: TestApp { client, .. },
        token,
        pen,
        ..
    } = shop().await;
    for quantity in [0, 100] {
        let (status, _) = add(&client, &token, pen, quantity).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{quantity}");
    }
    assert_eq!(add(&client, &token, pen, 99).await.0, StatusCode::OK);
    let (status, problem) = add(&client, &token, pen, 1).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(problem["detail"].as_str().unwrap().contains("99"));
    for quantity in [100, -1] {
        let (status, _) = set_quantity(&client, &token, pen, json!(quantity)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{quantity}");
    }
    assert_eq!(quantities(&cart(&client, &token).await), [99]);
}

#[tokio::test]
async fn setting_a_quantity_changes_the_line_and_zero_removes_it() {
    let Shop {
        app: TestApp { client, .. },
        token,
        pen,
        pad,
    } = shop().await;
    add(&client, &token, pen, 1).await;
    add(&client, &token, pad, 1).await;
    let (status, body) = set_quantity(&client, &token, pen, json!(4)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(quantities(&body), [4, 1]);
    assert_eq!(body["total"]["amount_minor"], 700);
    let (_, body) = set_quantity(&client, &token, pen, json!(0)).await;
    assert_eq!(quantities(&body), [1]);
    assert_eq!(body["items"][0]["product_id"], pad.to_string());
}

#[tokio::test]
async fn removing_an_item_and_clearing_the_cart() {
    let Shop {
        app: TestApp { client, .. },
        token,
        pen,
        pad,
    } = shop().await;
    add(&client, &token, pen, 1).await;
    add(&client, &token, pad, 2).await;
    let pen_line = format!("/api/v1/cart/items/{pen}");
    let (status, body) = delete(&client, &token, &pen_line).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["total"]["amount_minor"], 600);
    let (status, _) = delete(&client, &token, &pen_line).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "no longer in the cart");
    let (status, _) = delete(&client, &token, "/api/v1/cart").await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(cart(&client, &token).await["items"], json!([]));
    let (status, _) = delete(&client, &token, "/api/v1/cart/items/not-a-uuid").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn an_unknown_product_is_a_404_and_an_inactive_one_a_422() {
    let TestApp {
        client, catalog, ..
    } = app().await;
    let token = someone();
    let (status, problem) = add(&client, &token, ProductId::new(), 1).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(problem["status"], 404);
    let retired = catalog.add("Fax Machine", 9_900, false);
    let (status, problem) = add(&client, &token, retired, 1).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(problem["detail"].as_str().unwrap().contains("not on sale"));
    assert_eq!(cart(&client, &token).await["items"], json!([]));
}

#[tokio::test]
async fn adding_while_the_catalogue_is_down_is_a_503_and_the_cart_still_reads() {
    let Shop {
        app: TestApp {
            client, catalog, ..
        },
        token,
        pen,
        ..
    } = shop().await;
    add(&client, &token, pen, 1).await;
    catalog.set_down(true);
    let (status, _) = add(&client, &token, pen, 1).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(quantities(&cart(&client, &token).await), [1]);
}

#[tokio::test]
async fn the_http_catalogue_answers_503_when_product_service_is_unreachable() {
    let router = cart_service::start_with(
        ServiceConfig::for_tests(CART_SERVICE),
        Settings {
            product_url: stub::unreachable_url().await,
            ..Settings::default()
        },
        Arc::new(InMemoryEventBus::default()),
        Readiness::default(),
    )
    .await
    .unwrap();
    let client = TestClient::new(router);
    let (status, problem) = add(&client, &someone(), ProductId::new(), 1).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("product-service")
    );
}

#[tokio::test]
async fn a_confirmed_order_takes_out_what_it_bought_and_items_added_since_stay() {
    let TestApp {
        client,
        bus,
        catalog,
        ..
    } = app().await;
    let buyer = UserId::new();
    let buyer_token = tokens::for_user(buyer, Role::Customer);
    let other_token = someone();
    let (pen, pad, ink) = (
        catalog.add("Pen", 100, true),
        catalog.add("Pad", 300, true),
        catalog.add("Ink", 50, true),
    );
    add(&client, &buyer_token, pen, 2).await;
    add(&client, &buyer_token, ink, 1).await;
    add(&client, &other_token, pen, 1).await;
    // Checkout read the cart (2 pens, 1 ink); before its confirmation arrives the buyer adds
    // a pad and another pen.
    add(&client, &buyer_token, pad, 1).await;
    add(&client, &buyer_token, pen, 1).await;
    let confirmed = confirm(&bus, buyer, &[(pen, 2), (ink, 1)]).await;
    let left = cart(&client, &buyer_token).await;
    let products: Vec<&str> = left["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|line| line["product_id"].as_str().unwrap())
        .collect();
    assert_eq!(products, [pen.to_string(), pad.to_string()]);
    assert_eq!(quantities(&left), [1, 1], "the units added after checkout");
    assert_eq!(quantities(&cart(&client, &other_token).await), [1]);

    // A redelivery of the same confirmation takes nothing more.
    deliver(&bus, confirmed).await;
    assert_eq!(quantities(&cart(&client, &buyer_token).await), [1, 1]);
    assert!(bus.dead_letters().is_empty());
}

#[tokio::test]
async fn a_confirmation_from_before_lines_were_listed_clears_the_cart_once() {
    let Shop {
        app: TestApp { client, bus, .. },
        pen,
        ..
    } = shop().await;
    let buyer = UserId::new();
    let token = tokens::for_user(buyer, Role::Customer);
    add(&client, &token, pen, 2).await;
    let confirmed = confirm(&bus, buyer, &[]).await;
    assert_eq!(cart(&client, &token).await["items"], json!([]));
    add(&client, &token, pen, 1).await;
    deliver(&bus, confirmed).await;
    assert_eq!(quantities(&cart(&client, &token).await), [1]);
}

#[tokio::test]
async fn a_repriced_product_is_shown_and_checked_out_at_its_new_price() {
    let Shop {
        app:
            TestApp {
                client,
                bus,
                catalog,
                ..
            },
        token,
        pen,
        pad,
    } = shop().await;
    add(&client, &token, pen, 2).await;
    add(&client, &token, pad, 1).await;
    catalog.set(pen, "Pen", 150, true, 2);
    announce(&bus, pen, 150, true, 2).await;

    // What order-service reads at checkout.
    let body = cart(&client, &token).await;
    assert_eq!(body["items"][0]["unit_price"]["amount_minor"], 150);
    assert_eq!(body["items"][0]["line_total"]["amount_minor"], 300);
    assert_eq!(statuses(&body), ["available", "available"]);
    assert_eq!(body["total"]["amount_minor"], 300 + 300);
    // Changes answer with the repriced cart too.
    let (_, body) = set_quantity(&client, &token, pad, json!(2)).await;
    assert_eq!(body["total"]["amount_minor"], 300 + 600);
    assert!(bus.dead_letters().is_empty());
}

#[tokio::test]
async fn a_product_taken_off_sale_is_marked_and_left_out_of_the_total_until_it_returns() {
    let Shop {
        app: TestApp { client, bus, .. },
        token,
        pen,
        pad,
    } = shop().await;
    add(&client, &token, pen, 1).await;
    add(&client, &token, pad, 1).await;
    announce(&bus, pad, 300, false, 2).await;
    let body = cart(&client, &token).await;
    assert_eq!(statuses(&body), ["available", "discontinued"]);
    assert_eq!(body["total"]["amount_minor"], 100);

    announce(&bus, pad, 300, true, 3).await;
    let body = cart(&client, &token).await;
    assert_eq!(statuses(&body), ["available", "available"]);
    assert_eq!(body["total"]["amount_minor"], 400);
}

#[tokio::test]
async fn the_newest_terms_win_whatever_order_announcements_and_adds_come_in() {
    let Shop {
        app:
            TestApp {
                client,
                bus,
                catalog,
                ..
            },
        token,
        pen,
        ..
    } = shop().await;
    add(&client, &token, pen, 1).await;
    announce(&bus, pen, 180, true, 3).await;
    announce(&bus, pen, 120, true, 2).await;
    let price = |cart: &Value| cart["items"][0]["unit_price"]["amount_minor"].clone();
    assert_eq!(
        price(&cart(&client, &token).await),
        180,
        "version 2 came late"
    );

    // The catalogue moved on to version 4 before its announcement arrived: an add sees it.
    catalog.set(pen, "Pen", 200, true, 4);
    let (_, body) = add(&client, &token, pen, 1).await;
    assert_eq!(price(&body), 200);
    assert_eq!(body["total"]["amount_minor"], 400);
}

#[tokio::test]
async fn a_cart_expires_a_ttl_after_its_last_change() {
    let Shop {
        app: TestApp { client, clock, .. },
        token,
        pen,
        ..
    } = shop().await;
    add(&client, &token, pen, 1).await;
    clock.advance(ALMOST_TTL);
    assert_eq!(
        quantities(&cart(&client, &token).await),
        [1],
        "reads do not extend it"
    );
    add(&client, &token, pen, 1).await;
    clock.advance(ALMOST_TTL);
    assert_eq!(
        quantities(&cart(&client, &token).await),
        [2],
        "the change restarted it"
    );
    clock.advance(Duration::from_secs(1));
    let expired = cart(&client, &token).await;
    assert_eq!(expired["items"], json!([]));
    assert_eq!(expired["total"]["amount_minor"], 0);
}

#[tokio::test]
async fn one_user_cannot_see_or_change_another_users_cart() {
    let Shop {
        app: TestApp { client, .. },
        token: alice,
        pen,
        ..
    } = shop().await;
    let bob = someone();
    add(&client, &alice, pen, 2).await;
    assert_eq!(cart(&client, &bob).await["items"], json!([]));
    let (status, _) = delete(&client, &bob, &format!("/api/v1/cart/items/{pen}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    delete(&client, &bob, "/api/v1/cart").await;
    assert_eq!(quantities(&cart(&client, &alice).await), [2]);
}

#[tokio::test]
async fn every_cart_route_needs_a_bearer_token() {
    let TestApp { client, .. } = app().await;
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
        for bearer in [None, Some("not-a-jwt")] {
            let response = client
                .request(method.clone(), &uri)
                .maybe_bearer(bearer)
                .maybe_json(body.as_ref())
                .send()
                .await;
            assert_eq!(response.status, StatusCode::UNAUTHORIZED, "{method} {uri}");
        }
    }
}
