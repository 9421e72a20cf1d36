//! The inventory service through its HTTP API and its event consumers.

mod common;

use axum::http::StatusCode;
use common::stock::{set_stock, stock};
use common::{app, app_with};
use inventory_service::config::Settings;
use inventory_service::seed;
use serde_json::{Value, json};
use shared_events::{
    EventBus, EventEnvelope, InMemoryEventBus, InventoryReservationFailed, InventoryReserved,
    OrderCancelled, OrderConfirmed, OrderCreated, OrderLine, topics,
};
use shared_types::{Currency, Money, OrderId, ProductId, UserId};
use testing::tokens::{admin, customer};
use testing::{TestClient, TestResponse};

/// `POST /api/v1/inventory/reservations` as an admin.
async fn reserve(app: &TestClient, order: OrderId, lines: &[(ProductId, u32)]) -> TestResponse {
    app.post("/api/v1/inventory/reservations")
        .bearer(&admin())
        .json(&reserve_body(order, lines))
        .send()
        .await
}

/// `POST /api/v1/inventory/reservations/{order}/release` as an admin.
async fn release(app: &TestClient, order: OrderId) -> TestResponse {
    app.post(&format!("/api/v1/inventory/reservations/{order}/release"))
        .bearer(&admin())
        .send()
        .await
}

fn reserve_body(order: OrderId, lines: &[(ProductId, u32)]) -> Value {
    json!({
        "order_id": order,
        "lines": lines
            .iter()
            .map(|(product_id, quantity)| json!({ "product_id": product_id, "quantity": quantity }))
            .collect::<Vec<_>>(),
    })
}

fn order_created(lines: &[(ProductId, u32)]) -> OrderCreated {
    let price = Money::new(1_000, Currency::Usd);
    OrderCreated {
        order_id: OrderId::new(),
        user_id: UserId::new(),
        lines: lines
            .iter()
            .map(|&(product_id, quantity)| OrderLine {
                product_id,
                quantity,
                unit_price: price,
            })
            .collect(),
        total: price
            .checked_mul(lines.iter().map(|(_, q)| q).sum())
            .unwrap(),
    }
}

fn published_on(bus: &InMemoryEventBus, topic: &str) -> Vec<EventEnvelope> {
    bus.published()
        .into_iter()
        .filter(|event| event.topic() == topic)
        .collect()
}

async fn deliver(bus: &InMemoryEventBus, event: EventEnvelope) {
    bus.publish(event).await.unwrap();
    bus.settled().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_reservations_never_oversell() {
    let (app, _bus) = app().await;
    let product = ProductId::new();
    set_stock(&app, product, 10).await;
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move { reserve(&app, OrderId::new(), &[(product, 1)]).await.status })
        })
        .collect();
    let mut created = 0;
    let mut conflicts = 0;
    for task in tasks {
        match task.await.unwrap() {
            StatusCode::CREATED => created += 1,
            StatusCode::CONFLICT => conflicts += 1,
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(created, 10);
    assert_eq!(conflicts, 40);
    assert_eq!(stock(&app, product).await, (0, 10));
}

#[tokio::test]
async fn a_reservation_takes_every_line_or_none() {
    let (app, _bus) = app().await;
    let plenty = ProductId::new();
    let scarce = ProductId::new();
    set_stock(&app, plenty, 10).await;
    set_stock(&app, scarce, 1).await;
    let (status, problem) = reserve(&app, OrderId::new(), &[(plenty, 5), (scarce, 2)])
        .await
        .status_and_json();
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains(&scarce.to_string()),
        "{problem}"
    );
    assert_eq!(stock(&app, plenty).await, (10, 0), "nothing held");
    assert_eq!(stock(&app, scarce).await, (1, 0));

    let (status, reservation) = reserve(&app, OrderId::new(), &[(plenty, 5), (scarce, 1)])
        .await
        .status_and_json();
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(reservation["state"], "reserved");
    assert_eq!(stock(&app, plenty).await, (5, 5));
    assert_eq!(stock(&app, scarce).await, (0, 1));
}

#[tokio::test]
async fn reserving_the_same_order_twice_holds_stock_once() {
    let (app, _bus) = app().await;
    let product = ProductId::new();
    set_stock(&app, product, 5).await;
    let order = OrderId::new();
    for _ in 0..2 {
        let (status, body) = reserve(&app, order, &[(product, 2)])
            .await
            .status_and_json();
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(body["order_id"], order.to_string());
    }
    assert_eq!(stock(&app, product).await, (3, 2));
}

#[tokio::test]
async fn an_unknown_product_is_a_404_and_a_malformed_id_a_400() {
    let (app, _bus) = app().await;
    let (status, problem) = app
        .get(&format!("/api/v1/inventory/{}", ProductId::new()))
        .send()
        .await
        .status_and_json();
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(problem["status"], 404);
    let response = app.get("/api/v1/inventory/not-a-uuid").send().await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_negative_stock_count_is_rejected_with_422() {
    let (app, _bus) = app().await;
    let product = ProductId::new();
    set_stock(&app, product, 3).await;
    let (status, problem) = app
        .put(&format!("/api/v1/inventory/{product}"))
        .bearer(&admin())
        .json(&json!({ "available": -1 }))
        .send()
        .await
        .status_and_json();
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(problem["detail"].as_str().unwrap().contains("-1"));
    assert_eq!(stock(&app, product).await, (3, 0));
}

#[tokio::test]
async fn changing_stock_and_reserving_need_an_admin() {
    let (app, _bus) = app().await;
    let product = ProductId::new();
    let set_five = || {
        app.put(&format!("/api/v1/inventory/{product}"))
            .json(&json!({ "available": 5 }))
    };
    assert_eq!(set_five().send().await.status, StatusCode::UNAUTHORIZED);
    let (_, customer) = customer();
    assert_eq!(
        set_five().bearer(&customer).send().await.status,
        StatusCode::FORBIDDEN
    );
    let response = app
        .post("/api/v1/inventory/reservations")
        .bearer(&customer)
        .json(&reserve_body(OrderId::new(), &[(product, 1)]))
        .send()
        .await;
    assert_eq!(response.status, StatusCode::FORBIDDEN);
    let response = app
        .post(&format!(
            "/api/v1/inventory/reservations/{}/release",
            OrderId::new()
        ))
        .send()
        .await;
    assert_eq!(response.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_reservation_without_lines_or_with_zero_quantity_is_a_422() {
    let (app, _bus) = app().await;
    let product = ProductId::new();
    set_stock(&app, product, 5).await;
    for lines in [vec![], vec![(product, 0)]] {
        let response = reserve(&app, OrderId::new(), &lines).await;
        assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY);
    }
}

#[tokio::test]
async fn order_created_reserves_and_publishes_inventory_reserved_with_user_and_total() {
    let (app, bus) = app().await;
    let product = ProductId::new();
    set_stock(&app, product, 5).await;
    let order = order_created(&[(product, 2)]);
    deliver(&bus, EventEnvelope::wrap(&order)).await;
    assert_eq!(stock(&app, product).await, (3, 2));
    let reserved = published_on(&bus, topics::INVENTORY_RESERVED);
    assert_eq!(reserved.len(), 1);
    assert_eq!(
        reserved[0].decode::<InventoryReserved>().unwrap(),
        InventoryReserved {
            order_id: order.order_id,
            user_id: order.user_id,
            total: order.total,
        }
    );
}

#[tokio::test]
async fn a_redelivered_order_created_reserves_once() {
    let (app, bus) = app().await;
    let product = ProductId::new();
    set_stock(&app, product, 5).await;
    let order = order_created(&[(product, 2)]);
    let envelope = EventEnvelope::wrap(&order);
    deliver(&bus, envelope.clone()).await;
    deliver(&bus, envelope).await;
    assert_eq!(published_on(&bus, topics::INVENTORY_RESERVED).len(), 1);
    // The same order published again under a new event id still holds stock only once.
    deliver(&bus, EventEnvelope::wrap(&order)).await;
    assert_eq!(stock(&app, product).await, (3, 2));
    assert!(bus.dead_letters().is_empty());
}

#[tokio::test]
async fn order_created_without_enough_stock_publishes_a_failure_naming_the_product() {
    let (app, bus) = app().await;
    let plenty = ProductId::new();
    let scarce = ProductId::new();
    set_stock(&app, plenty, 5).await;
    set_stock(&app, scarce, 1).await;
    let order = order_created(&[(plenty, 1), (scarce, 3)]);
    deliver(&bus, EventEnvelope::wrap(&order)).await;
    let failed = published_on(&bus, topics::INVENTORY_RESERVATION_FAILED);
    assert_eq!(failed.len(), 1);
    let failed = failed[0].decode::<InventoryReservationFailed>().unwrap();
    assert_eq!(failed.order_id, order.order_id);
    assert_eq!(failed.user_id, order.user_id);
    assert!(
        failed.reason.contains(&scarce.to_string()),
        "{}",
        failed.reason
    );
    assert!(published_on(&bus, topics::INVENTORY_RESERVED).is_empty());
    assert_eq!(stock(&app, plenty).await, (5, 0));
}

#[tokio::test]
async fn a_confirmed_order_sells_its_units_and_a_later_cancel_restocks_them() {
    let (app, bus) = app().await;
    let product = ProductId::new();
    set_stock(&app, product, 5).await;
    let order = order_created(&[(product, 2)]);
    deliver(&bus, EventEnvelope::wrap(&order)).await;
    let confirmed = EventEnvelope::wrap(&OrderConfirmed {
        order_id: order.order_id,
        user_id: order.user_id,
        total: order.total,
        lines: Vec::new(),
    });
    deliver(&bus, confirmed.clone()).await;
    deliver(&bus, confirmed).await;
    assert_eq!(stock(&app, product).await, (3, 0), "sold, not held");

    deliver(
        &bus,
        EventEnvelope::wrap(&OrderCancelled {
            order_id: order.order_id,
            user_id: order.user_id,
            reason: "refunded".to_owned(),
        }),
    )
    .await;
    assert_eq!(stock(&app, product).await, (5, 0), "restocked");
    assert_eq!(published_on(&bus, topics::INVENTORY_RELEASED).len(), 1);
}

#[tokio::test]
async fn a_cancel_that_overtakes_order_created_leaves_nothing_held_and_publishes_a_failure() {
    let (app, bus) = app().await;
    let product = ProductId::new();
    set_stock(&app, product, 5).await;
    let order = order_created(&[(product, 2)]);
    deliver(
        &bus,
        EventEnvelope::wrap(&OrderCancelled {
            order_id: order.order_id,
            user_id: order.user_id,
            reason: "cancelled by the customer".to_owned(),
        }),
    )
    .await;
    deliver(&bus, EventEnvelope::wrap(&order)).await;

    assert_eq!(stock(&app, product).await, (5, 0), "nothing held");
    assert!(published_on(&bus, topics::INVENTORY_RESERVED).is_empty());
    assert!(published_on(&bus, topics::INVENTORY_RELEASED).is_empty());
    let failed = published_on(&bus, topics::INVENTORY_RESERVATION_FAILED);
    assert_eq!(failed.len(), 1);
    let failed = failed[0].decode::<InventoryReservationFailed>().unwrap();
    assert_eq!(failed.order_id, order.order_id);
    assert_eq!(failed.user_id, order.user_id);
    assert_eq!(failed.reason, "order was cancelled");
    // Over HTTP too: the cancelled order cannot hold stock.
    let response = reserve(&app, order.order_id, &[(product, 1)]).await;
    assert_eq!(response.status, StatusCode::CONFLICT);
    assert_eq!(stock(&app, product).await, (5, 0));
}

#[tokio::test]
async fn releasing_twice_returns_stock_once_and_publishes_once() {
    let (app, bus) = app().await;
    let product = ProductId::new();
    set_stock(&app, product, 5).await;
    let order = order_created(&[(product, 4)]);
    deliver(&bus, EventEnvelope::wrap(&order)).await;
    assert_eq!(stock(&app, product).await, (1, 4));

    let cancelled = OrderCancelled {
        order_id: order.order_id,
        user_id: order.user_id,
        reason: "payment declined".to_owned(),
    };
    deliver(&bus, EventEnvelope::wrap(&cancelled)).await;
    deliver(&bus, EventEnvelope::wrap(&cancelled)).await;
    let (status, body) = release(&app, order.order_id).await.status_and_json();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["released"], false);
    assert_eq!(body["reservation"]["state"], "released");

    assert_eq!(stock(&app, product).await, (5, 0));
    assert_eq!(published_on(&bus, topics::INVENTORY_RELEASED).len(), 1);
}

#[tokio::test]
async fn releasing_over_http_returns_held_units_and_an_unknown_order_is_a_no_op() {
    let (app, bus) = app().await;
    let product = ProductId::new();
    set_stock(&app, product, 5).await;
    let order = OrderId::new();
    let response = reserve(&app, order, &[(product, 3)]).await;
    assert_eq!(response.status, StatusCode::CREATED);
    let (status, body) = release(&app, order).await.status_and_json();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["released"], true);
    assert_eq!(stock(&app, product).await, (5, 0));

    let (status, body) = release(&app, OrderId::new()).await.status_and_json();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["released"], false);
    assert_eq!(body["reservation"], Value::Null);
    bus.settled().await;
    assert_eq!(published_on(&bus, topics::INVENTORY_RELEASED).len(), 1);
}

#[tokio::test]
async fn the_demo_catalogue_is_stocked_when_seeding_is_on() {
    let (seeded, _bus) = app_with(Settings {
        seed: true,
        ..Settings::default()
    })
    .await;
    for (product, available) in seed::DEMO_STOCK {
        assert_eq!(stock(&seeded, product).await, (u64::from(available), 0));
    }
    let (empty, _bus) = app().await;
    let response = empty
        .get(&format!("/api/v1/inventory/{}", seed::KEYBOARD))
        .send()
        .await;
    assert_eq!(response.status, StatusCode::NOT_FOUND);
}
