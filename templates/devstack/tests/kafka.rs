//! The checkout saga end to end over Kafka: every unit in this process on `PostgreSQL` and Redis,
//! publishing through their outboxes onto one Kafka bus (topics and groups under a namespace of
//! this test), and a client that only speaks HTTP to the gateway. Without `TEST_KAFKA_BROKERS`, or
//! with a broker that does not answer, the tests fail rather than pass.

use std::time::Duration;

use devstack::{Devstack, Options};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use testing::stub;
use tokio::time::Instant;

mod common;
use common::assert_saga;

/// How long the saga may take over the broker (consumer groups join first).
const SAGA_DEADLINE: Duration = Duration::from_secs(60);
const PASSWORD: &str = "correct-horse-battery";

fn brokers() -> String {
    match std::env::var("TEST_KAFKA_BROKERS") {
        Ok(brokers) if !brokers.trim().is_empty() => brokers.trim().to_owned(),
        _ => panic!(
            "needs Kafka: set TEST_KAFKA_BROKERS (e.g. 127.0.0.1:9092); this test fails rather than pass without a broker"
        ),
    }
}

async fn stack(payment_failure_rate: f64) -> Devstack {
    let options = Options::for_tests()
        .with_postgres(&testing::pg::server_url())
        .with_redis(&testing::redis::url())
        .with_kafka(&brokers())
        .with_payment_failure_rate(payment_failure_rate);
    devstack::start(options)
        .await
        .unwrap_or_else(|err| panic!("the stack starts on Kafka at {}: {err:#}", brokers()))
}

struct Client {
    http: reqwest::Client,
    gateway: String,
    token: String,
}

impl Client {
    /// Registers a new customer on `stack` and logs in.
    async fn sign_up(stack: &Devstack) -> Self {
        let mut client = Self {
            http: stub::http_client(Some(Duration::from_secs(5))),
            gateway: stack.gateway_url.clone(),
            token: String::new(),
        };
        let email = format!("{}@example.com", uuid::Uuid::new_v4().simple());
        let body = json!({ "email": email, "password": PASSWORD, "name": "Ada" });
        client
            .expect(
                StatusCode::CREATED,
                Method::POST,
                "/api/v1/auth/register",
                Some(body),
                None,
            )
            .await;
        let body = json!({ "email": email, "password": PASSWORD });
        let tokens = client
            .expect(
                StatusCode::OK,
                Method::POST,
                "/api/v1/auth/login",
                Some(body),
                None,
            )
            .await;
        tokens["access_token"]
            .as_str()
            .unwrap()
            .clone_into(&mut client.token);
        client
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        idempotency_key: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.gateway))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        if let Some(key) = idempotency_key {
            request = request.header("idempotency-key", key);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn expect(
        &self,
        status: StatusCode,
        method: Method,
        path: &str,
        body: Option<Value>,
        idempotency_key: Option<&str>,
    ) -> Value {
        let (got, body) = self.call(method.clone(), path, body, idempotency_key).await;
        assert_eq!(got, status, "{method} {path} answered {body}");
        body
    }

    async fn get(&self, path: &str) -> Value {
        self.expect(StatusCode::OK, Method::GET, path, None, None)
            .await
    }

    /// (available, reserved) units of `product`.
    async fn stock(&self, product: &str) -> (u64, u64) {
        let level = self.get(&format!("/api/v1/inventory/{product}")).await;
        (
            level["available"].as_u64().unwrap(),
            level["reserved"].as_u64().unwrap(),
        )
    }

    async fn first_product(&self) -> String {
        let page = self.get("/api/v1/products").await;
        page["items"][0]["id"].as_str().unwrap().to_owned()
    }

    /// Puts two units of `product` in the cart and checks out; answers the order id.
    async fn buy_two(&self, product: &str) -> String {
        self.expect(
            StatusCode::OK,
            Method::POST,
            "/api/v1/cart/items",
            Some(json!({ "product_id": product, "quantity": 2 })),
            None,
        )
        .await;
        let key = uuid::Uuid::new_v4().to_string();
        let order = self
            .expect(
                StatusCode::ACCEPTED,
                Method::POST,
                "/api/v1/orders",
                None,
                Some(&key),
            )
            .await;
        order["order_id"].as_str().unwrap().to_owned()
    }

    /// Polls the order until the saga confirmed or cancelled it.
    async fn settled_order(&self, order_id: &str) -> Value {
        self.eventually(
            &format!("/api/v1/orders/{order_id}"),
            "the order is settled",
            |o| o["status"] == "confirmed" || o["status"] == "cancelled",
        )
        .await
    }

    /// Polls `path` until `done` holds for its body, failing after [`SAGA_DEADLINE`].
    /// Waits until `product`'s (available, reserved) stock is `expected`.
    async fn stock_becomes(&self, product: &str, what: &str, expected: (u64, u64)) {
        self.eventually(&format!("/api/v1/inventory/{product}"), what, |level| {
            (level["available"].as_u64(), level["reserved"].as_u64())
                == (Some(expected.0), Some(expected.1))
        })
        .await;
    }

    async fn eventually(&self, path: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + SAGA_DEADLINE;
        loop {
            let body = self.get(path).await;
            if done(&body) {
                return body;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: still not after {SAGA_DEADLINE:?}: {body}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn notified_about(&self, order_id: &str, word: &str) {
        let short = &order_id[..8];
        self.eventually(
            "/api/v1/notifications?per_page=100",
            &format!("a notification that order {short} is {word}"),
            |page| {
                page["items"].as_array().unwrap().iter().any(|n| {
                    let subject = n["subject"].as_str().unwrap_or_default();
                    subject.contains(short) && subject.contains(word)
                })
            },
        )
        .await;
    }
}

/// A new customer's purchase of two units of the first product, settled.
struct Checkout {
    stack: Devstack,
    client: Client,
    product: String,
    /// The product's (available, reserved) stock before the order.
    before: (u64, u64),
    order_id: String,
}

/// Signs up on a stack whose payments fail at `payment_failure_rate`, buys two units, and
/// checks that the saga settled the order as `outcome` after reserving its stock.
async fn checkout(payment_failure_rate: f64, outcome: &str) -> Checkout {
    let stack = stack(payment_failure_rate).await;
    let client = Client::sign_up(&stack).await;
    let product = client.first_product().await;
    let before = client.stock(&product).await;
    let order_id = client.buy_two(&product).await;
    let order = client.settled_order(&order_id).await;
    assert_saga(&order, outcome);
    Checkout {
        stack,
        client,
        product,
        before,
        order_id,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL, Redis and Kafka: set TEST_DATABASE_URL, TEST_REDIS_URL and TEST_KAFKA_BROKERS (e.g. 127.0.0.1:9092)"]
async fn a_purchase_is_confirmed_over_kafka() {
    let Checkout {
        stack,
        client,
        product,
        before,
        order_id,
    } = checkout(0.0, "confirmed").await;
    client
        .eventually("/api/v1/cart", "the cart is cleared", |cart| {
            cart["items"].as_array().is_some_and(Vec::is_empty)
        })
        .await;
    // Inventory turns the reservation into a sale when it handles order.confirmed, which
    // arrives over Kafka after the order shows confirmed.
    client
        .stock_becomes(&product, "two units are sold", (before.0 - 2, before.1))
        .await;
    client.notified_about(&order_id, "confirmed").await;
    stack.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL, Redis and Kafka: set TEST_DATABASE_URL, TEST_REDIS_URL and TEST_KAFKA_BROKERS (e.g. 127.0.0.1:9092)"]
async fn a_declined_payment_is_compensated_over_kafka() {
    let Checkout {
        stack,
        client,
        product,
        before,
        order_id,
    } = checkout(1.0, "cancelled").await;
    client
        .stock_becomes(&product, "the held units are back on sale", before)
        .await;
    client.notified_about(&order_id, "Payment failed").await;
    stack.shutdown().await.unwrap();
}
