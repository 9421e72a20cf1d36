//! Whole-platform journeys: every service and the gateway running in this process on
//! ephemeral ports, one in-memory event bus, and a client that only speaks HTTP to the gateway.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use devstack::{Devstack, Options};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use testing::stub;
use tokio::task::JoinSet;
use tokio::time::Instant;

mod common;
use common::{assert_saga, statuses};

/// How long a saga may take to settle before a test gives up.
const SAGA_DEADLINE: Duration = Duration::from_secs(10);
const PASSWORD: &str = "correct-horse-battery";

/// A client of the gateway.
#[derive(Clone)]
struct Client {
    http: reqwest::Client,
    gateway: String,
}

/// A logged-in user.
#[derive(Clone)]
struct User {
    id: String,
    token: String,
}

impl Client {
    fn of(stack: &Devstack) -> Self {
        Self {
            http: stub::http_client(Some(Duration::from_secs(5))),
            gateway: stack.gateway_url.clone(),
        }
    }

    /// Sends `method path` with an optional token and JSON body; answers status and JSON.
    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        idempotency_key: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.gateway));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        if let Some(key) = idempotency_key {
            request = request.header("idempotency-key", key);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|err| panic!("{method} {path}: {err}"));
        let status = response.status();
        let text = response.text().await.unwrap();
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)
                .unwrap_or_else(|err| panic!("{method} {path}: not JSON ({err}): {text}"))
        };
        (status, value)
    }

    /// `call`, insisting on `expected`.
    async fn expect(
        &self,
        expected: StatusCode,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Value {
        let (status, value) = self.call(method.clone(), path, token, body, None).await;
        assert_eq!(status, expected, "{method} {path} answered {value}");
        value
    }

    async fn get(&self, path: &str, token: &str) -> Value {
        self.expect(StatusCode::OK, Method::GET, path, Some(token), None)
            .await
    }

    /// Registers `email` and logs in.
    async fn sign_up(&self, email: &str, name: &str) -> User {
        self.expect(
            StatusCode::CREATED,
            Method::POST,
            "/api/v1/auth/register",
            None,
            Some(json!({ "email": email, "password": PASSWORD, "name": name })),
        )
        .await;
        self.log_in(email).await
    }

    /// Logs `email` in with [`PASSWORD`].
    async fn log_in(&self, email: &str) -> User {
        let tokens = self
            .expect(
                StatusCode::OK,
                Method::POST,
                "/api/v1/auth/login",
                None,
                Some(json!({ "email": email, "password": PASSWORD })),
            )
            .await;
        let token = tokens["access_token"].as_str().unwrap().to_owned();
        let me = self.get("/api/v1/users/me", &token).await;
        User {
            id: me["id"].as_str().unwrap().to_owned(),
            token,
        }
    }

    /// The first page of the public catalogue.
    async fn products(&self) -> Vec<Value> {
        let page = self
            .expect(StatusCode::OK, Method::GET, "/api/v1/products", None, None)
            .await;
        page["items"].as_array().unwrap().clone()
    }

    /// (available, reserved) units of `product`.
    async fn stock(&self, product: &str, token: &str) -> (u64, u64) {
        let level = self
            .get(&format!("/api/v1/inventory/{product}"), token)
            .await;
        (
            level["available"].as_u64().unwrap(),
            level["reserved"].as_u64().unwrap(),
        )
    }

    async fn add_to_cart(&self, user: &User, product: &str, quantity: u32) -> Value {
        self.expect(
            StatusCode::OK,
            Method::POST,
            "/api/v1/cart/items",
            Some(&user.token),
            Some(json!({ "product_id": product, "quantity": quantity })),
        )
        .await
    }

    /// `POST /api/v1/orders` with `key`; answers status and body.
    async fn checkout(&self, user: &User, key: &str) -> (StatusCode, Value) {
        self.call(
            Method::POST,
            "/api/v1/orders",
            Some(&user.token),
            None,
            Some(key),
        )
        .await
    }

    /// Checks out, insisting on 202; answers the order id.
    async fn place_order(&self, user: &User) -> String {
        let key = uuid::Uuid::new_v4().to_string();
        let (status, body) = self.checkout(user, &key).await;
        assert_eq!(status, StatusCode::ACCEPTED, "checkout answered {body}");
        assert_eq!(body["status"], "pending");
        body["order_id"].as_str().unwrap().to_owned()
    }

    /// Polls the order until it is confirmed or cancelled.
    async fn settled_order(&self, user: &User, order_id: &str) -> Value {
        let deadline = Instant::now() + SAGA_DEADLINE;
        loop {
            let order = self
                .get(&format!("/api/v1/orders/{order_id}"), &user.token)
                .await;
            if order["status"] == "confirmed" || order["status"] == "cancelled" {
                return order;
            }
            assert!(
                Instant::now() < deadline,
                "order {order_id} still {} after {SAGA_DEADLINE:?}",
                order["status"]
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The subjects of the user's notifications.
    async fn notification_subjects(&self, user: &User) -> Vec<String> {
        let page = self
            .get("/api/v1/notifications?per_page=100", &user.token)
            .await;
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["subject"].as_str().unwrap().to_owned())
            .collect()
    }
}

fn minor(money: &Value) -> i64 {
    money["amount_minor"].as_i64().unwrap()
}

fn short_ref(order_id: &str) -> &str {
    &order_id[..8]
}

/// Waits until every outbox is published and every event handled.
async fn settle(stack: &Devstack) {
    tokio::time::timeout(SAGA_DEADLINE, stack.settled())
        .await
        .expect("the saga settles")
        .expect("the outboxes can be read");
    assert!(
        stack.bus.dead_letters().is_empty(),
        "no event is dead-lettered: {:?}",
        stack.bus.dead_letters()
    );
}

/// The stack of the `PostgreSQL` journeys: every service that supports it on fresh databases
/// of the test server, carts in the test Redis.
fn on_postgres_and_redis(options: Options) -> Options {
    options
        .with_postgres(&testing::pg::server_url())
        .with_redis(&testing::redis::url())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_registers_browses_buys_and_is_notified() {
    purchase_journey(Options::for_tests()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL and Redis: set TEST_DATABASE_URL and TEST_REDIS_URL or run them on 127.0.0.1:5432 and 127.0.0.1:6379, then cargo test -- --ignored"]
async fn a_customer_buys_on_postgres_and_redis() {
    purchase_journey(on_postgres_and_redis(Options::for_tests())).await;
}

async fn purchase_journey(options: Options) {
    let on_postgres = matches!(options.storage, devstack::Storage::Postgres(_));
    let stack = devstack::start(options).await.unwrap();
    if on_postgres {
        assert!(
            stack.databases.contains_key("inventory-service"),
            "{:?}",
            stack.databases
        );
    }
    let client = Client::of(&stack);

    let ada = client.sign_up("ada@example.com", "Ada").await;
    let products = client.products().await;
    assert!(
        products.len() >= 2,
        "the demo catalogue is seeded: {products:?}"
    );
    let (first, second) = (&products[0], &products[1]);
    let (first_id, second_id) = (
        first["id"].as_str().unwrap(),
        second["id"].as_str().unwrap(),
    );
    let first_before = client.stock(first_id, &ada.token).await;
    let second_before = client.stock(second_id, &ada.token).await;

    client.add_to_cart(&ada, first_id, 2).await;
    client.add_to_cart(&ada, second_id, 1).await;
    let cart = client.get("/api/v1/cart", &ada.token).await;
    let expected_total = 2 * minor(&first["price"]) + minor(&second["price"]);
    assert_eq!(cart["items"].as_array().unwrap().len(), 2);
    assert_eq!(minor(&cart["total"]), expected_total);

    let order_id = client.place_order(&ada).await;
    let order = client.settled_order(&ada, &order_id).await;
    assert_eq!(order["status"], "confirmed", "{order}");
    assert_saga(&order, "confirmed");
    assert_eq!(minor(&order["total"]), expected_total);
    assert_eq!(order["user_id"], ada.id.as_str());

    settle(&stack).await;
    let cart = client.get("/api/v1/cart", &ada.token).await;
    assert!(
        cart["items"].as_array().unwrap().is_empty(),
        "the cart is cleared: {cart}"
    );
    assert_eq!(minor(&cart["total"]), 0);
    assert_eq!(
        client.stock(first_id, &ada.token).await,
        (first_before.0 - 2, first_before.1),
        "two units of the first product are sold"
    );
    assert_eq!(
        client.stock(second_id, &ada.token).await,
        (second_before.0 - 1, second_before.1),
        "one unit of the second product is sold"
    );

    let subjects = client.notification_subjects(&ada).await;
    assert!(
        subjects.iter().any(|s| s.contains("Welcome")),
        "{subjects:?}"
    );
    assert!(
        subjects
            .iter()
            .any(|s| s.contains(short_ref(&order_id)) && s.contains("confirmed")),
        "{subjects:?}"
    );

    stack.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_payment_cancels_order_and_restores_stock() {
    failed_payment_journey(Options::for_tests()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL and Redis: set TEST_DATABASE_URL and TEST_REDIS_URL or run them on 127.0.0.1:5432 and 127.0.0.1:6379, then cargo test -- --ignored"]
async fn failed_payment_is_compensated_on_postgres_and_redis() {
    failed_payment_journey(on_postgres_and_redis(Options::for_tests())).await;
}

async fn failed_payment_journey(options: Options) {
    let stack = devstack::start(options.with_payment_failure_rate(1.0))
        .await
        .unwrap();
    let client = Client::of(&stack);

    let bob = client.sign_up("bob@example.com", "Bob").await;
    let product = client.products().await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = client.stock(&product, &bob.token).await;
    client.add_to_cart(&bob, &product, 3).await;

    let order_id = client.place_order(&bob).await;
    let order = client.settled_order(&bob, &order_id).await;
    assert_eq!(order["status"], "cancelled", "{order}");
    assert_saga(&order, "cancelled");
    let reason = order["status_history"]
        .as_array()
        .and_then(|history| history.last())
        .and_then(|change| change["reason"].as_str())
        .unwrap();
    assert!(reason.starts_with("payment failed"), "{reason}");

    settle(&stack).await;
    assert_eq!(
        client.stock(&product, &bob.token).await,
        before,
        "the held units are back on sale"
    );
    let subjects = client.notification_subjects(&bob).await;
    assert!(
        subjects
            .iter()
            .any(|s| s.contains("Payment failed") && s.contains(short_ref(&order_id))),
        "{subjects:?}"
    );
    let cart = client.get("/api/v1/cart", &bob.token).await;
    assert_eq!(
        cart["items"].as_array().unwrap().len(),
        1,
        "a cancelled order leaves the cart for another try: {cart}"
    );

    stack.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_checkouts_for_the_last_units_confirm_exactly_that_many() {
    const STOCK: u64 = 3;
    const BUYERS: usize = 10;
    let options = Options::for_tests()
        .with_admin("ops@example.com", PASSWORD)
        .unwrap();
    let stack = devstack::start(options).await.unwrap();
    let client = Client::of(&stack);

    let admin = client.log_in("ops@example.com").await;
    let product = client.products().await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut buyers = Vec::new();
    for i in 0..BUYERS {
        let buyer = client
            .sign_up(&format!("buyer{i}@example.com"), &format!("Buyer {i}"))
            .await;
        client.add_to_cart(&buyer, &product, 1).await;
        buyers.push(buyer);
    }
    let level = client
        .expect(
            StatusCode::OK,
            Method::PUT,
            &format!("/api/v1/inventory/{product}"),
            Some(&admin.token),
            Some(json!({ "available": STOCK })),
        )
        .await;
    assert_eq!(level["available"], STOCK);

    // Watch the stock while the buyers race: never more held or sold than there was.
    let watching = Arc::new(AtomicBool::new(true));
    let watcher = {
        let (client, token, product, watching) = (
            client.clone(),
            admin.token.clone(),
            product.clone(),
            watching.clone(),
        );
        tokio::spawn(async move {
            let mut seen = Vec::new();
            while watching.load(Ordering::SeqCst) {
                seen.push(client.stock(&product, &token).await);
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            seen
        })
    };

    let mut checkouts = JoinSet::new();
    for buyer in buyers.clone() {
        let client = client.clone();
        checkouts.spawn(async move {
            let order_id = client.place_order(&buyer).await;
            client.settled_order(&buyer, &order_id).await
        });
    }
    let orders: Vec<Value> = checkouts.join_all().await;
    settle(&stack).await;
    watching.store(false, Ordering::SeqCst);
    let seen = watcher.await.unwrap();

    let confirmed = orders.iter().filter(|o| o["status"] == "confirmed").count();
    let cancelled: Vec<&Value> = orders
        .iter()
        .filter(|o| o["status"] == "cancelled")
        .collect();
    assert_eq!(confirmed, usize::try_from(STOCK).unwrap());
    assert_eq!(cancelled.len(), BUYERS - confirmed);
    for order in &cancelled {
        assert_eq!(statuses(order), ["pending", "cancelled"], "{order}");
        let reason = order["status_history"][1]["reason"].as_str().unwrap();
        assert!(reason.starts_with("reservation failed"), "{reason}");
    }
    assert_eq!(
        client.stock(&product, &admin.token).await,
        (0, 0),
        "every unit is sold, none held"
    );
    assert!(!seen.is_empty());
    for (available, reserved) in seen {
        assert!(
            available + reserved <= STOCK,
            "{available} available + {reserved} reserved exceeds the {STOCK} units in stock"
        );
    }

    stack.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_idempotency_key_sent_twice_concurrently_creates_one_order_and_one_charge() {
    let stack = devstack::start(Options::for_tests()).await.unwrap();
    let client = Client::of(&stack);

    let cleo = client.sign_up("cleo@example.com", "Cleo").await;
    let product = client.products().await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let cart = client.add_to_cart(&cleo, &product, 2).await;

    let key = uuid::Uuid::new_v4().to_string();
    let (first, second) = tokio::join!(client.checkout(&cleo, &key), client.checkout(&cleo, &key));
    assert_eq!(first.0, StatusCode::ACCEPTED, "{}", first.1);
    assert_eq!(first, second, "both requests get the same answer");
    let order_id = first.1["order_id"].as_str().unwrap().to_owned();

    let order = client.settled_order(&cleo, &order_id).await;
    assert_eq!(order["status"], "confirmed", "{order}");
    settle(&stack).await;

    let orders = client.get("/api/v1/orders", &cleo.token).await;
    assert_eq!(orders["total"], 1, "{orders}");
    assert_eq!(orders["items"][0]["id"], order_id.as_str());
    let payments = client
        .get(
            &format!("/api/v1/payments?order_id={order_id}"),
            &cleo.token,
        )
        .await;
    let payments = payments.as_array().unwrap();
    assert_eq!(payments.len(), 1, "{payments:?}");
    assert_eq!(payments[0]["status"], "succeeded");
    assert_eq!(minor(&payments[0]["amount"]), minor(&cart["total"]));

    stack.shutdown().await.unwrap();
}
