//! The product service through its HTTP API.

mod common;

use axum::http::StatusCode;
use common::{app_with, inventory_stub};
use product_service::config::Settings;
use product_service::seed;
use serde_json::{Value, json};
use shared_events::{InMemoryEventBus, ProductUpdated, topics};
use shared_types::{Currency, Money, ProductId};
use testing::tokens::{admin, customer};
use testing::{TestClient, stub};

/// The service with the demo catalogue, its stock looked up at `inventory_url`.
async fn seeded(inventory_url: String) -> (TestClient, InMemoryEventBus) {
    app_with(Settings {
        seed: true,
        inventory_url,
        database: None,
    })
    .await
}

/// The service with an empty catalogue and no inventory.
async fn empty() -> (TestClient, InMemoryEventBus) {
    app_with(Settings {
        seed: false,
        inventory_url: stub::unreachable_url().await,
        database: None,
    })
    .await
}

async fn create(app: &TestClient, name: &str, description: &str, category: &str) -> Value {
    let (status, body) = app
        .post("/api/v1/products")
        .bearer(&admin())
        .json(&json!({
            "name": name,
            "description": description,
            "category": category,
            "price": { "amount_minor": 1_500, "currency": "USD" },
        }))
        .send()
        .await
        .status_and_json();
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

async fn get_ok(app: &TestClient, uri: &str) -> Value {
    let (status, body) = app.get(uri).send().await.status_and_json();
    assert_eq!(status, StatusCode::OK, "{uri}: {body}");
    body
}

/// `PATCH /api/v1/products/{id}` as `token`'s holder; answers the status and body.
async fn patch(app: &TestClient, token: &str, id: &str, body: &Value) -> (StatusCode, Value) {
    app.patch(&format!("/api/v1/products/{id}"))
        .bearer(token)
        .json(body)
        .send()
        .await
        .status_and_json()
}

fn names(page: &Value) -> Vec<&str> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn the_listing_is_sorted_by_name_and_paginated() {
    let (app, _bus) = seeded(stub::unreachable_url().await).await;
    let first = get_ok(&app, "/api/v1/products?per_page=4").await;
    assert_eq!(
        names(&first),
        [
            "27-inch 4K Monitor",
            "Dotted Notebook",
            "LED Desk Lamp",
            "Mechanical Keyboard"
        ]
    );
    assert_eq!(first["total"], 6);
    assert_eq!(first["page"], 1);
    let second = get_ok(&app, "/api/v1/products?page=2&per_page=4").await;
    assert_eq!(names(&second), ["USB-C Hub", "Wireless Mouse"]);
    let past_the_end = get_ok(&app, "/api/v1/products?page=3&per_page=4").await;
    assert!(names(&past_the_end).is_empty());
    assert_eq!(past_the_end["total"], 6);
    let default = get_ok(&app, "/api/v1/products").await;
    assert_eq!(default["per_page"], 20);
    assert_eq!(names(&default).len(), 6);
    let largest = get_ok(&app, "/api/v1/products?per_page=100").await;
    assert_eq!(names(&largest).len(), 6);
    let smallest = get_ok(&app, "/api/v1/products?per_page=1&page=6").await;
    assert_eq!(names(&smallest), ["Wireless Mouse"]);
}

#[tokio::test]
async fn out_of_range_pagination_is_a_400_problem() {
    let (app, _bus) = seeded(stub::unreachable_url().await).await;
    for query in ["per_page=0", "per_page=101", "page=0", "page=abc"] {
        let (status, problem) = app
            .get(&format!("/api/v1/products?{query}"))
            .send()
            .await
            .status_and_json();
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(problem["status"], 400);
    }
}

#[tokio::test]
async fn the_category_filter_is_case_insensitive() {
    let (app, _bus) = seeded(stub::unreachable_url().await).await;
    let page = get_ok(&app, "/api/v1/products?category=Peripherals").await;
    assert_eq!(names(&page), ["Mechanical Keyboard", "Wireless Mouse"]);
    assert_eq!(page["total"], 2);
    let none = get_ok(&app, "/api/v1/products?category=garden").await;
    assert_eq!(none["total"], 0);
}

#[tokio::test]
async fn search_ranks_name_matches_before_description_matches() {
    let (app, _bus) = empty().await;
    create(&app, "Reading Light", "Clip-on lamp for books", "office").await;
    create(&app, "Lamp Shade", "Linen", "home").await;
    create(&app, "Floor LAMP", "Tall", "home").await;
    create(&app, "Stapler", "Heavy duty", "office").await;
    let page = get_ok(&app, "/api/v1/products/search?q=LaMp").await;
    assert_eq!(names(&page), ["Lamp Shade", "Floor LAMP", "Reading Light"]);
    assert_eq!(page["total"], 3);
    let response = app.get("/api/v1/products/search?q=%20").send().await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn an_inactive_product_is_hidden_from_listings_and_search_but_readable_by_id() {
    let (app, _bus) = empty().await;
    let product = create(&app, "Desk Fan", "Quiet", "office").await;
    let id = product["id"].as_str().unwrap();
    let (status, patched) = patch(&app, &admin(), id, &json!({ "active": false })).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(patched["active"], false);
    assert_eq!(get_ok(&app, "/api/v1/products").await["total"], 0);
    assert_eq!(
        get_ok(&app, "/api/v1/products/search?q=fan").await["total"],
        0
    );
    let detail = get_ok(&app, &format!("/api/v1/products/{id}")).await;
    assert_eq!(detail["active"], false);
}

#[tokio::test]
async fn creating_and_changing_products_needs_an_admin() {
    let (app, bus) = empty().await;
    let body = json!({
        "name": "Pen",
        "category": "stationery",
        "price": { "amount_minor": 199, "currency": "USD" },
    });
    let create = || app.post("/api/v1/products").json(&body);
    assert_eq!(create().send().await.status, StatusCode::UNAUTHORIZED);
    let (_, customer) = customer();
    let (status, problem) = create().bearer(&customer).send().await.status_and_json();
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(problem["status"], 403);
    let mouse = seed::MOUSE.to_string();
    let (status, _) = patch(&app, &customer, &mouse, &json!({ "active": false })).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(bus.published().is_empty());
}

#[tokio::test]
async fn an_invalid_product_is_a_422_problem() {
    let (app, bus) = empty().await;
    for (name, amount) in [("  ", 100), ("Pen", 0), ("Pen", -5)] {
        let (status, problem) = app
            .post("/api/v1/products")
            .bearer(&admin())
            .json(&json!({
                "name": name,
                "category": "stationery",
                "price": { "amount_minor": amount, "currency": "USD" },
            }))
            .send()
            .await
            .status_and_json();
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{name} {amount}");
        assert!(problem["detail"].is_string());
    }
    let product = create(&app, "Pen", "", "stationery").await;
    let id = product["id"].as_str().unwrap();
    let (status, _) = patch(&app, &admin(), id, &json!({ "name": "" })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bus.published().len(), 1, "only the valid create");
}

#[tokio::test]
async fn creating_updating_and_deactivating_publish_product_updated_with_the_version() {
    let (app, bus) = empty().await;
    let product = create(&app, "Pen", "Blue ink", "stationery").await;
    assert_eq!(product["version"], 1);
    let id: ProductId = product["id"].as_str().unwrap().parse().unwrap();
    let price = json!({ "price": { "amount_minor": 249, "currency": "USD" } });
    let (status, repriced) = patch(&app, &admin(), &id.to_string(), &price).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(repriced["version"], 2);
    let retire = json!({ "active": false });
    let (status, retired) = patch(&app, &admin(), &id.to_string(), &retire).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(retired["version"], 3);
    let events: Vec<ProductUpdated> = bus
        .published()
        .iter()
        .filter(|e| e.topic() == topics::PRODUCT_UPDATED)
        .map(|e| e.decode().unwrap())
        .collect();
    assert_eq!(
        events,
        [
            ProductUpdated {
                product_id: id,
                name: "Pen".to_owned(),
                price: Money::new(1_500, Currency::Usd),
                active: true,
                version: 1,
            },
            ProductUpdated {
                product_id: id,
                name: "Pen".to_owned(),
                price: Money::new(249, Currency::Usd),
                active: true,
                version: 2,
            },
            ProductUpdated {
                product_id: id,
                name: "Pen".to_owned(),
                price: Money::new(249, Currency::Usd),
                active: false,
                version: 3,
            },
        ]
    );
}

#[tokio::test]
async fn an_unknown_product_is_a_404_and_a_malformed_id_a_400() {
    let (app, _bus) = empty().await;
    let response = app
        .get(&format!("/api/v1/products/{}", ProductId::new()))
        .send()
        .await;
    assert_eq!(response.status, StatusCode::NOT_FOUND);
    let unknown = ProductId::new().to_string();
    let (status, _) = patch(&app, &admin(), &unknown, &json!({ "active": true })).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let response = app.get("/api/v1/products/42").send().await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_product_shows_its_stock_from_inventory() {
    let untracked = seed::NOTEBOOK;
    let (app, _bus) = seeded(inventory_stub(7, untracked).await).await;
    let detail = get_ok(&app, &format!("/api/v1/products/{}", seed::KEYBOARD)).await;
    assert_eq!(detail["name"], "Mechanical Keyboard");
    assert_eq!(detail["price"]["amount_minor"], 8_999);
    assert_eq!(detail["stock"], json!({ "available": 7 }));
    let detail = get_ok(&app, &format!("/api/v1/products/{untracked}")).await;
    assert_eq!(
        detail["stock"],
        json!({ "available": 0 }),
        "no stock entry, nothing to sell"
    );
}

#[tokio::test]
async fn a_product_is_served_without_stock_when_inventory_is_down() {
    let (app, _bus) = seeded(stub::unreachable_url().await).await;
    let detail = get_ok(&app, &format!("/api/v1/products/{}", seed::MONITOR)).await;
    assert_eq!(detail["id"], seed::MONITOR.to_string());
    assert_eq!(detail["stock"], Value::Null);
}

#[tokio::test]
async fn the_demo_catalogue_uses_the_ids_inventory_stocks() {
    let (app, _bus) = seeded(stub::unreachable_url().await).await;
    let expected = [
        (seed::KEYBOARD, "5eed0000-0000-4000-8000-000000000001"),
        (seed::MOUSE, "5eed0000-0000-4000-8000-000000000002"),
        (seed::MONITOR, "5eed0000-0000-4000-8000-000000000003"),
        (seed::USB_C_HUB, "5eed0000-0000-4000-8000-000000000004"),
        (seed::DESK_LAMP, "5eed0000-0000-4000-8000-000000000005"),
        (seed::NOTEBOOK, "5eed0000-0000-4000-8000-000000000006"),
    ];
    for (id, text) in expected {
        assert_eq!(id.to_string(), text);
        let detail = get_ok(&app, &format!("/api/v1/products/{text}")).await;
        assert_eq!(detail["active"], true);
    }
    let (empty, _bus) = empty().await;
    assert_eq!(get_ok(&empty, "/api/v1/products").await["total"], 0);
}
