//! The gateway in front of fake upstreams listening on ephemeral ports.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use api_gateway::config::{Cors, RateLimitSettings, SharedLimits, Upstream};
use api_gateway::{Routers, Settings, routers, start_with};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use platform::ServiceConfig;
use platform::auth::Role;
use platform::health::Readiness;
use platform::topology::{self, API_GATEWAY};
use serde_json::json;
use shared_events::InMemoryEventBus;
use shared_types::UserId;
use testing::{TestClient, TestRequest, TestResponse, stub, tokens};

/// What a fake upstream saw.
#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    uri: String,
    headers: HeaderMap,
    body: Bytes,
}

/// A fake upstream: counts and records requests; answers 503 while `failures_left` > 0,
/// after `delay_ms`, else 200 with a JSON echo.
#[derive(Clone, Default)]
struct Fake {
    name: &'static str,
    hits: Arc<AtomicUsize>,
    failures_left: Arc<AtomicUsize>,
    delay_ms: Arc<AtomicU64>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Fake {
    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
    fn fail_next(&self, times: usize) {
        self.failures_left.store(times, Ordering::SeqCst);
    }
    fn last(&self) -> Seen {
        self.seen
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("a request")
    }
}

async fn fake_handler(State(fake): State<Fake>, request: Request) -> Response {
    fake.hits.fetch_add(1, Ordering::SeqCst);
    let (parts, body) = request.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    fake.seen.lock().unwrap().push(Seen {
        method: parts.method.clone(),
        uri: parts.uri.to_string(),
        headers: parts.headers.clone(),
        body,
    });
    let delay = fake.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let failing = fake
        .failures_left
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if failing {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CONTENT_TYPE, "application/problem+json")],
            json!({"type": "about:blank", "title": "Service Unavailable", "status": 503,
                   "detail": format!("{} is failing", fake.name)})
            .to_string(),
        )
            .into_response();
    }
    (
        StatusCode::OK,
        [("x-upstream", fake.name)],
        axum::Json(json!({"upstream": fake.name, "uri": parts.uri.to_string()})),
    )
        .into_response()
}

async fn spawn_fake(name: &'static str) -> (String, Fake) {
    let fake = Fake {
        name,
        ..Fake::default()
    };
    let app = Router::new()
        .fallback(fake_handler)
        .with_state(fake.clone());
    let (url, _server) = stub::serve(app).await;
    (url, fake)
}

struct Fixture {
    client: TestClient,
    fakes: Vec<Fake>,
}

impl Fixture {
    async fn new(tweak: impl FnOnce(&mut Settings)) -> Self {
        let mut fakes = Vec::new();
        let mut upstreams = Vec::new();
        for unit in topology::SERVICES {
            let (url, fake) = spawn_fake(unit.name).await;
            fakes.push(fake);
            upstreams.push(Upstream::for_unit(*unit, url));
        }
        let mut settings = Settings {
            upstreams,
            ..Settings::default()
        };
        for upstream in &mut settings.upstreams {
            upstream.read.backoff = Duration::from_millis(1);
        }
        settings.breaker.failure_threshold = 100;
        let lifted = RateLimitSettings {
            per_second: 1000.0,
            burst: 1000,
        };
        settings.rate_limit = lifted;
        settings.credential_rate_limit = lifted;
        settings.account_rate_limit = lifted;
        tweak(&mut settings);
        let gateway = start_with(
            ServiceConfig::for_tests(API_GATEWAY),
            settings,
            Arc::new(InMemoryEventBus::default()),
            Readiness::default(),
        )
        .await
        .unwrap();
        Self {
            client: TestClient::new(gateway),
            fakes,
        }
    }

    fn fake(&self, name: &str) -> &Fake {
        self.fakes.iter().find(|f| f.name == name).unwrap()
    }

    fn total_hits(&self) -> usize {
        self.fakes.iter().map(Fake::hits).sum()
    }

    async fn send(&self, request: Request) -> TestResponse {
        self.client.send(request).await
    }

    /// A request with a valid token of a new customer.
    fn authed(&self, method: Method, uri: &str) -> TestRequest {
        self.client
            .request(method, uri)
            .bearer(&tokens::customer().1)
    }

    /// An authenticated `GET`.
    async fn get(&self, uri: &str) -> TestResponse {
        self.authed(Method::GET, uri).send().await
    }

    /// An authenticated `POST` of `{}`.
    async fn post(&self, uri: &str) -> TestResponse {
        self.authed(Method::POST, uri).json_text("{}").send().await
    }
}

/// `method path` with `body`, arriving from `peer` with `x-forwarded-for` set to `forwarded`.
fn arriving(
    method: Method,
    path: &str,
    body: &str,
    peer: &str,
    forwarded: Option<&str>,
) -> Request {
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(forwarded) = forwarded {
        request = request.header("x-forwarded-for", forwarded);
    }
    let mut request = request.body(Body::from(body.to_owned())).unwrap();
    let addr: SocketAddr = format!("{peer}:40000").parse().unwrap();
    request.extensions_mut().insert(ConnectInfo(addr));
    request
}

/// An anonymous catalogue read from `peer`, with `x-forwarded-for: forwarded`.
fn browse(peer: &str, forwarded: Option<&str>) -> Request {
    arriving(Method::GET, "/api/v1/products", "", peer, forwarded)
}

/// A sign-in attempt for `email` from `peer`.
fn login(email: &str, peer: &str) -> Request {
    let body = json!({ "email": email, "password": "guess" }).to_string();
    arriving(Method::POST, "/api/v1/auth/login", &body, peer, None)
}

/// A limit of `burst` requests, then one per 1000 s: no test waits for a refill.
fn tight(burst: u32) -> RateLimitSettings {
    RateLimitSettings {
        per_second: 0.001,
        burst,
    }
}

/// Every upstream allows `attempts` attempts of a read.
fn read_attempts(settings: &mut Settings, attempts: u32) {
    for upstream in &mut settings.upstreams {
        upstream.read.attempts = attempts;
    }
}

#[tokio::test]
async fn each_prefix_reaches_its_owning_service() {
    let f = Fixture::new(|_| {}).await;
    let cases = [
        ("/api/v1/users/me", "user-service"),
        ("/api/v1/auth/login", "user-service"),
        ("/api/v1/products/42", "product-service"),
        ("/api/v1/inventory", "inventory-service"),
        ("/api/v1/cart/items", "cart-service"),
        ("/api/v1/orders", "order-service"),
        ("/api/v1/payments/7", "payment-service"),
        ("/api/v1/notifications", "notification-service"),
    ];
    for (path, owner) in cases {
        let response = f.get(path).await;
        assert_eq!(response.status, StatusCode::OK, "{path}");
        assert_eq!(response.headers["x-upstream"], owner, "{path}");
        assert_eq!(response.json()["uri"], path);
    }
    assert_eq!(f.total_hits(), cases.len());
}

#[tokio::test]
async fn method_path_query_body_and_headers_are_forwarded() {
    let f = Fixture::new(|_| {}).await;
    let bearer = format!("Bearer {}", tokens::customer().1);
    let request = Request::builder()
        .method(Method::PATCH)
        .uri("/api/v1/orders/abc/items?page=2&sort=desc")
        .header(header::AUTHORIZATION, &bearer)
        .header(header::CONTENT_TYPE, "application/json")
        .header("idempotency-key", "key-123")
        .header(header::CONNECTION, "x-hop-secret")
        .header("x-hop-secret", "do not forward")
        .body(Body::from(r#"{"quantity":3}"#))
        .unwrap();
    let response = f.send(request).await;
    assert_eq!(response.status, StatusCode::OK);
    let seen = f.fake("order-service").last();
    assert_eq!(seen.method, Method::PATCH);
    assert_eq!(seen.uri, "/api/v1/orders/abc/items?page=2&sort=desc");
    assert_eq!(&seen.body[..], br#"{"quantity":3}"#);
    assert_eq!(seen.headers[header::AUTHORIZATION], bearer.as_str());
    assert_eq!(seen.headers[header::CONTENT_TYPE], "application/json");
    assert_eq!(seen.headers["idempotency-key"], "key-123");
    assert!(!seen.headers.contains_key("x-hop-secret"));
    assert_eq!(f.total_hits(), 1, "no other upstream was called");
}

#[tokio::test]
async fn the_request_id_is_propagated_or_created() {
    let f = Fixture::new(|_| {}).await;
    let response = f
        .authed(Method::GET, "/api/v1/cart")
        .header("x-request-id", "req-42")
        .send()
        .await;
    assert_eq!(response.headers["x-request-id"], "req-42");
    assert_eq!(
        f.fake("cart-service").last().headers["x-request-id"],
        "req-42"
    );

    let response = f.get("/api/v1/cart").await;
    let created = response.headers["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(!created.is_empty());
    assert_eq!(
        f.fake("cart-service").last().headers["x-request-id"],
        created.as_str()
    );
}

#[tokio::test]
async fn protected_routes_need_a_valid_token() {
    let f = Fixture::new(|_| {}).await;
    for request in [
        Request::get("/api/v1/orders").body(Body::empty()).unwrap(),
        Request::get("/api/v1/users/me")
            .header(header::AUTHORIZATION, "Bearer not-a-jwt")
            .body(Body::empty())
            .unwrap(),
        Request::post("/api/v1/auth/logout")
            .body(Body::empty())
            .unwrap(),
        Request::post("/api/v1/products")
            .body(Body::empty())
            .unwrap(),
        Request::get("/api/v1/notifications")
            .header(header::AUTHORIZATION, "Basic dXNlcjpwYXNz")
            .body(Body::empty())
            .unwrap(),
    ] {
        let label = format!("{} {}", request.method(), request.uri());
        let response = f.send(request).await;
        assert_eq!(response.status, StatusCode::UNAUTHORIZED, "{label}");
        assert_eq!(
            response.headers[header::CONTENT_TYPE],
            "application/problem+json"
        );
    }
    let expired = tokens::issued_at(
        UserId::new(),
        Role::Customer,
        chrono::Utc::now().timestamp() - 3600,
    );
    let response = f.client.get("/api/v1/orders").bearer(&expired).send().await;
    assert_eq!(response.status, StatusCode::UNAUTHORIZED);
    assert_eq!(f.total_hits(), 0, "nothing reached an upstream");
}

#[tokio::test]
async fn public_routes_pass_without_a_token() {
    let f = Fixture::new(|_| {}).await;
    for path in [
        "/api/v1/auth/register",
        "/api/v1/auth/login",
        "/api/v1/auth/refresh",
        "/api/v1/auth/password-reset",
        "/api/v1/auth/password-reset/confirm",
    ] {
        let response = f
            .send(Request::post(path).body(Body::from("{}")).unwrap())
            .await;
        assert_eq!(response.status, StatusCode::OK, "{path}");
    }
    for path in ["/api/v1/products", "/api/v1/products/42?q=shoes"] {
        let response = f
            .send(Request::get(path).body(Body::empty()).unwrap())
            .await;
        assert_eq!(response.status, StatusCode::OK, "{path}");
    }
    assert_eq!(f.fake("user-service").hits(), 5);
    assert_eq!(f.fake("product-service").hits(), 2);
}

#[tokio::test]
async fn an_unknown_route_is_a_404_problem() {
    let f = Fixture::new(|_| {}).await;
    for path in ["/api/v1/unknown", "/api/v1/cartel", "/elsewhere"] {
        let response = f.get(path).await;
        assert_eq!(response.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(
            response.headers[header::CONTENT_TYPE],
            "application/problem+json"
        );
    }
    assert_eq!(f.total_hits(), 0);
}

#[tokio::test]
async fn a_get_is_retried_on_transient_failures_until_it_succeeds() {
    let f = Fixture::new(|s| read_attempts(s, 3)).await;
    let products = f.fake("product-service");
    products.fail_next(2);
    let response = f.get("/api/v1/products/1").await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(products.hits(), 3);
}

#[tokio::test]
async fn a_get_gives_up_after_its_attempts_with_the_upstream_answer() {
    let f = Fixture::new(|s| read_attempts(s, 3)).await;
    let orders = f.fake("order-service");
    orders.fail_next(usize::MAX);
    let response = f.get("/api/v1/orders").await;
    assert_eq!(response.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(orders.hits(), 3);
    assert_eq!(response.json()["detail"], "order-service is failing");
}

#[tokio::test]
async fn retries_to_a_failing_upstream_stay_within_the_retry_budget() {
    let f = Fixture::new(|s| {
        read_attempts(s, 3);
        s.breaker.failure_threshold = u32::MAX;
    })
    .await;
    let orders = f.fake("order-service");
    orders.fail_next(usize::MAX);
    let requests = 600;
    let started = std::time::Instant::now();
    for _ in 0..requests {
        let response = f.get("/api/v1/orders").await;
        assert_eq!(response.status, StatusCode::SERVICE_UNAVAILABLE);
    }
    // Without a budget every request would be tried 3 times (1,800 hits). The budget allows
    // 20% of the requests, and 10 a second in each 10 s window the run spans.
    let windows = usize::try_from(started.elapsed().as_secs() / 10 + 1).unwrap();
    let budget = shared_events::topics::RETRY_BUDGET;
    let most = requests
        + requests * usize::try_from(budget.percent).unwrap() / 100
        + usize::try_from(budget.min_per_second).unwrap() * 10 * windows;
    assert!(
        (requests..=most).contains(&orders.hits()),
        "{} hits, at most {most}",
        orders.hits()
    );
    assert!(orders.hits() > requests, "some requests were retried");
}

#[tokio::test]
async fn post_patch_and_delete_are_never_retried() {
    let f = Fixture::new(|s| read_attempts(s, 5)).await;
    let orders = f.fake("order-service");
    orders.fail_next(usize::MAX);
    for method in [Method::POST, Method::PATCH, Method::DELETE] {
        let before = orders.hits();
        let response = f.authed(method.clone(), "/api/v1/orders").send().await;
        assert_eq!(response.status, StatusCode::SERVICE_UNAVAILABLE, "{method}");
        assert_eq!(orders.hits() - before, 1, "{method} sent once");
    }
}

#[tokio::test]
async fn the_breaker_opens_after_consecutive_failures_and_recovers_after_the_cool_down() {
    let f = Fixture::new(|s| {
        s.breaker.failure_threshold = 2;
        s.breaker.cool_down = Duration::from_millis(300);
    })
    .await;
    let payments = f.fake("payment-service");
    payments.fail_next(usize::MAX);
    for _ in 0..2 {
        let response = f.post("/api/v1/payments").await;
        assert_eq!(response.status, StatusCode::SERVICE_UNAVAILABLE);
    }
    assert_eq!(payments.hits(), 2);

    let response = f.post("/api/v1/payments").await;
    assert_eq!(response.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers.contains_key(header::RETRY_AFTER));
    let problem = response.json();
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .starts_with("payment-service is unavailable: circuit open"),
        "{problem}"
    );
    assert_eq!(payments.hits(), 2, "the open circuit spares the upstream");
    let response = f.get("/api/v1/orders").await;
    assert_eq!(
        response.status,
        StatusCode::OK,
        "other upstreams are unaffected"
    );

    payments.fail_next(0);
    tokio::time::sleep(Duration::from_millis(350)).await;
    let response = f.post("/api/v1/payments").await;
    assert_eq!(response.status, StatusCode::OK, "the trial succeeds");
    let response = f.post("/api/v1/payments").await;
    assert_eq!(response.status, StatusCode::OK, "and the circuit is closed");
    assert_eq!(payments.hits(), 4);
}

#[tokio::test]
async fn a_down_upstream_is_a_503_naming_it_but_not_its_address() {
    let dead = stub::unreachable_url().await;
    let f = Fixture::new(|s| {
        read_attempts(s, 2);
        for upstream in &mut s.upstreams {
            if upstream.name == "inventory-service" {
                upstream.base_url.clone_from(&dead);
            }
        }
    })
    .await;
    for response in [
        f.get("/api/v1/inventory/1").await,
        f.post("/api/v1/inventory").await,
    ] {
        assert_eq!(response.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            response.headers[header::CONTENT_TYPE],
            "application/problem+json"
        );
        let problem = response.json();
        assert_eq!(
            problem["detail"], "inventory-service is unavailable; retry later",
            "{problem}"
        );
        let body = problem.to_string();
        let address = dead.trim_start_matches("http://");
        assert!(
            !body.contains(address) && !body.contains("http://") && !body.contains("127.0.0.1"),
            "the upstream's address leaked: {body}"
        );
    }
}

#[tokio::test]
async fn a_slow_upstream_times_out_with_504() {
    let f = Fixture::new(|s| {
        for upstream in &mut s.upstreams {
            upstream.read.attempts = 1;
            upstream.read.timeout = Duration::from_millis(100);
        }
    })
    .await;
    f.fake("cart-service")
        .delay_ms
        .store(1000, Ordering::SeqCst);
    let response = f.get("/api/v1/cart").await;
    assert_eq!(response.status, StatusCode::GATEWAY_TIMEOUT);
    let problem = response.json();
    assert_eq!(
        problem["detail"],
        "cart-service did not answer within 100 ms"
    );
}

#[tokio::test]
async fn by_default_a_read_is_attempted_as_often_as_the_architecture_model_says() {
    let model = topology::call(API_GATEWAY, topology::PRODUCT_SERVICE, "GET").unwrap();
    let attempts = usize::try_from(model.attempts).unwrap();
    let f = Fixture::new(|_| {}).await;
    let products = f.fake("product-service");
    products.fail_next(attempts - 1);
    let response = f.get("/api/v1/products/1").await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(products.hits(), attempts);

    products.fail_next(usize::MAX);
    let response = f.get("/api/v1/products/1").await;
    assert_eq!(response.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(products.hits(), 2 * attempts);
}

#[tokio::test]
async fn a_slow_write_times_out_with_the_write_timeout_and_is_sent_once() {
    let f = Fixture::new(|s| {
        for upstream in &mut s.upstreams {
            upstream.read.attempts = 3;
            upstream.write_timeout = Duration::from_millis(100);
        }
    })
    .await;
    let cart = f.fake("cart-service");
    cart.delay_ms.store(1000, Ordering::SeqCst);
    let response = f.post("/api/v1/cart/items").await;
    assert_eq!(response.status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(
        response.json()["detail"],
        "cart-service did not answer within 100 ms"
    );
    assert_eq!(cart.hits(), 1);
}

#[tokio::test]
async fn served_on_a_socket_anonymous_clients_are_limited_by_their_peer_address() {
    let f = Fixture::new(|s| {
        s.rate_limit.per_second = 0.5;
        s.rate_limit.burst = 1;
    })
    .await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(platform::server::serve(
        API_GATEWAY.name,
        listener,
        f.client.router().clone(),
        Readiness::default(),
        async move {
            let _ = stopped.await;
        },
    ));
    let http = stub::http_client(None);
    let fetch = || http.get(format!("{url}/api/v1/products")).send();
    assert_eq!(fetch().await.unwrap().status(), reqwest::StatusCode::OK);
    assert_eq!(
        f.fake("product-service").last().headers["x-forwarded-for"],
        "127.0.0.1",
        "the peer address reached the gateway"
    );
    let limited = fetch().await.unwrap();
    assert_eq!(limited.status(), reqwest::StatusCode::TOO_MANY_REQUESTS);
    assert!(limited.headers().contains_key(header::RETRY_AFTER));
    assert_eq!(f.fake("product-service").hits(), 1);
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn an_authenticated_user_over_the_limit_gets_429_with_retry_after() {
    let f = Fixture::new(|s| {
        s.rate_limit.per_second = 0.5;
        s.rate_limit.burst = 2;
    })
    .await;
    let ada = tokens::customer().1;
    let as_ada = || f.client.get("/api/v1/cart").bearer(&ada).send();
    assert_eq!(as_ada().await.status, StatusCode::OK);
    assert_eq!(as_ada().await.status, StatusCode::OK);
    let limited = as_ada().await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.headers[header::RETRY_AFTER], "2");
    assert_eq!(
        limited.headers[header::CONTENT_TYPE],
        "application/problem+json"
    );
    assert_eq!(f.fake("cart-service").hits(), 2);
    assert_eq!(
        f.get("/api/v1/cart").await.status,
        StatusCode::OK,
        "another user has their own bucket"
    );
}

#[tokio::test]
async fn anonymous_clients_are_limited_by_address() {
    let f = Fixture::new(|s| {
        s.rate_limit.per_second = 0.5;
        s.rate_limit.burst = 1;
    })
    .await;
    let from = |ip: &str| {
        let mut request = Request::get("/api/v1/products")
            .body(Body::empty())
            .unwrap();
        let addr: SocketAddr = format!("{ip}:40000").parse().unwrap();
        request.extensions_mut().insert(ConnectInfo(addr));
        request
    };
    assert_eq!(f.send(from("192.0.2.1")).await.status, StatusCode::OK);
    assert_eq!(
        f.send(from("192.0.2.1")).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(f.send(from("192.0.2.2")).await.status, StatusCode::OK);
    let seen = f.fake("product-service").last();
    assert_eq!(
        seen.headers["x-forwarded-for"], "192.0.2.2",
        "the peer address is passed on"
    );
}

#[tokio::test]
async fn without_trusted_proxies_a_spoofed_forwarded_for_buys_no_new_bucket() {
    let f = Fixture::new(|s| s.rate_limit = tight(1)).await;
    assert_eq!(
        f.send(browse("192.0.2.1", Some("198.51.100.1")))
            .await
            .status,
        StatusCode::OK
    );
    let spoofed = f.send(browse("192.0.2.1", Some("198.51.100.2"))).await;
    assert_eq!(spoofed.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(spoofed.headers.contains_key(header::RETRY_AFTER));
    let seen = f.fake("product-service").last();
    assert_eq!(
        seen.headers["x-forwarded-for"], "198.51.100.1, 192.0.2.1",
        "the header is passed on with the peer appended"
    );
}

#[tokio::test]
async fn behind_a_trusted_proxy_a_client_cannot_pick_its_bucket() {
    let f = Fixture::new(|s| {
        s.trusted_proxy_hops = 1;
        s.rate_limit = tight(1);
    })
    .await;
    // The ingress (10.0.0.1) appends the address it received each request from.
    assert_eq!(
        f.send(browse("10.0.0.1", Some("203.0.113.7"))).await.status,
        StatusCode::OK
    );
    for spoofed in [
        "198.51.100.1, 203.0.113.7",
        "198.51.100.2, 198.51.100.3, 203.0.113.7",
    ] {
        let response = f.send(browse("10.0.0.1", Some(spoofed))).await;
        assert_eq!(
            response.status,
            StatusCode::TOO_MANY_REQUESTS,
            "{spoofed}: what the client wrote left of the proxy's entry is ignored"
        );
    }
    assert_eq!(f.fake("product-service").hits(), 1);
}

#[tokio::test]
async fn two_clients_behind_one_trusted_proxy_have_separate_buckets() {
    let f = Fixture::new(|s| {
        s.trusted_proxy_hops = 1;
        s.rate_limit = tight(1);
    })
    .await;
    let ada = || browse("10.0.0.1", Some("203.0.113.7"));
    let bob = || browse("10.0.0.1", Some("203.0.113.8"));
    assert_eq!(f.send(ada()).await.status, StatusCode::OK);
    assert_eq!(f.send(bob()).await.status, StatusCode::OK);
    assert_eq!(f.send(ada()).await.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(f.send(bob()).await.status, StatusCode::TOO_MANY_REQUESTS);
    // Two hops: a CDN appended the client, the ingress appended the CDN.
    let f = Fixture::new(|s| {
        s.trusted_proxy_hops = 2;
        s.rate_limit = tight(1);
    })
    .await;
    let via_cdn = |client: &str| browse("10.0.0.1", Some(&format!("{client}, 192.0.2.50")));
    assert_eq!(f.send(via_cdn("203.0.113.7")).await.status, StatusCode::OK);
    assert_eq!(f.send(via_cdn("203.0.113.8")).await.status, StatusCode::OK);
    assert_eq!(
        f.send(via_cdn("203.0.113.7")).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn sign_in_attempts_against_one_account_are_limited_per_address_and_never_lock_out_its_owner()
{
    let f = Fixture::new(|s| s.account_rate_limit = tight(3)).await;
    let attacker = "198.51.100.7";
    // The account is written differently each time: it is still one account.
    let spellings = ["ada@example.com", " Ada@Example.com", "ADA@EXAMPLE.COM  "];
    for email in spellings {
        let response = f.send(login(email, attacker)).await;
        assert_eq!(response.status, StatusCode::OK, "{email}");
    }
    for _ in 0..3 {
        let response = f.send(login("ada@example.com", attacker)).await;
        assert_eq!(response.status, StatusCode::TOO_MANY_REQUESTS);
        assert!(response.headers.contains_key(header::RETRY_AFTER));
        assert_eq!(
            response.headers[header::CONTENT_TYPE],
            "application/problem+json"
        );
        assert!(
            response.json()["detail"]
                .as_str()
                .unwrap()
                .contains("for this account from this address")
        );
    }
    assert_eq!(f.fake("user-service").hits(), 3);
    // Registering or recovering the same account from there draws on the same allowance.
    for path in ["/api/v1/auth/register", "/api/v1/auth/password-reset"] {
        let body = json!({ "email": "ada@example.com", "password": "x", "name": "A" });
        let request = arriving(Method::POST, path, &body.to_string(), attacker, None);
        assert_eq!(
            f.send(request).await.status,
            StatusCode::TOO_MANY_REQUESTS,
            "{path}"
        );
    }
    // Failing on purpose from one address does not lock the owner out elsewhere, and another
    // account is unaffected.
    assert_eq!(
        f.send(login("ada@example.com", "203.0.113.9")).await.status,
        StatusCode::OK,
        "the owner signs in from their own address"
    );
    assert_eq!(
        f.send(login("bob@example.com", attacker)).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_profile_change_that_can_check_the_password_is_held_to_the_sign_in_allowance() {
    let f = Fixture::new(|s| s.credential_rate_limit = tight(2)).await;
    let (user, token) = tokens::customer();
    let guess = |password: &str| {
        let body = json!({ "email": "new@example.com", "current_password": password });
        let mut request = arriving(
            Method::PATCH,
            &format!("/api/v1/users/{user}"),
            &body.to_string(),
            "192.0.2.44",
            None,
        );
        request.headers_mut().insert(
            header::AUTHORIZATION,
            format!("Bearer {token}").parse().unwrap(),
        );
        request
    };
    assert_eq!(f.send(guess("one")).await.status, StatusCode::OK);
    assert_eq!(f.send(guess("two")).await.status, StatusCode::OK);
    assert_eq!(
        f.send(guess("three")).await.status,
        StatusCode::TOO_MANY_REQUESTS,
        "guessing the current password runs at the sign-in rate, not the general one"
    );
}

#[tokio::test]
async fn one_address_trying_many_accounts_is_limited_tighter_than_its_other_traffic() {
    let f = Fixture::new(|s| s.credential_rate_limit = tight(2)).await;
    for user in ["ada", "bob"] {
        let response = f
            .send(login(&format!("{user}@example.com"), "192.0.2.1"))
            .await;
        assert_eq!(response.status, StatusCode::OK);
    }
    let response = f.send(login("cid@example.com", "192.0.2.1")).await;
    assert_eq!(response.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        response.json()["detail"]
            .as_str()
            .unwrap()
            .contains("from this address")
    );
    let confirm = arriving(
        Method::POST,
        "/api/v1/auth/password-reset/confirm",
        r#"{"token":"guess","new_password":"x"}"#,
        "192.0.2.1",
        None,
    );
    assert_eq!(
        f.send(confirm).await.status,
        StatusCode::TOO_MANY_REQUESTS,
        "guessing reset tokens counts too"
    );
    assert_eq!(
        f.send(login("cid@example.com", "192.0.2.2")).await.status,
        StatusCode::OK,
        "another address has its own allowance"
    );
    assert_eq!(
        f.send(browse("192.0.2.1", None)).await.status,
        StatusCode::OK,
        "the address's other requests are not held to the credential limit"
    );
    let refresh = arriving(
        Method::POST,
        "/api/v1/auth/refresh",
        r#"{"refresh_token":"t"}"#,
        "192.0.2.1",
        None,
    );
    assert_eq!(f.send(refresh).await.status, StatusCode::OK);
}

#[tokio::test]
async fn an_oversized_body_is_refused_with_413() {
    let f = Fixture::new(|s| s.max_body_bytes = 16).await;
    let response = f
        .authed(Method::POST, "/api/v1/orders")
        .body(vec![b'x'; 17])
        .send()
        .await;
    assert_eq!(response.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(f.total_hits(), 0);
}

#[tokio::test]
async fn cors_allows_listed_origins_only() {
    let f = Fixture::new(|s| s.cors = Cors::Origins(vec!["https://shop.example".to_owned()])).await;
    let allowed = f.send(preflight("https://shop.example")).await;
    assert_eq!(allowed.status, StatusCode::OK);
    assert_eq!(
        allowed.headers[header::ACCESS_CONTROL_ALLOW_ORIGIN],
        "https://shop.example"
    );
    let refused = f.send(preflight("https://evil.example")).await;
    assert!(
        !refused
            .headers
            .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN)
    );
    assert_eq!(f.total_hits(), 0, "preflights are answered by the gateway");
}

fn preflight(origin: &str) -> Request {
    Request::builder()
        .method(Method::OPTIONS)
        .uri("/api/v1/orders")
        .header(header::ORIGIN, origin)
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
        .header(
            header::ACCESS_CONTROL_REQUEST_HEADERS,
            "authorization,content-type",
        )
        .body(Body::empty())
        .unwrap()
}

#[tokio::test]
async fn by_default_no_other_origin_may_call_the_api_from_a_browser() {
    let f = Fixture::new(|_| {}).await;
    let refused = f.send(preflight("http://localhost:3000")).await;
    assert!(
        !refused
            .headers
            .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN)
    );
    let response = f
        .send(
            Request::get("/api/v1/products")
                .header(header::ORIGIN, "https://evil.example")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(
        response.status,
        StatusCode::OK,
        "same-origin use is unaffected"
    );
    assert!(
        !response
            .headers
            .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN)
    );
    assert_eq!(
        f.fake("order-service").hits(),
        0,
        "preflights are answered here"
    );
}

#[tokio::test]
async fn any_origin_is_allowed_only_when_asked_for() {
    let f = Fixture::new(|s| s.cors = Cors::AnyOrigin).await;
    let response = f
        .send(
            Request::get("/api/v1/products")
                .header(header::ORIGIN, "http://localhost:3000")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(response.headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
}

/// Both routers of a gateway with the default settings (no upstream is called).
async fn both_routers() -> Routers {
    routers(
        ServiceConfig::for_tests(API_GATEWAY),
        Settings::default(),
        Arc::new(InMemoryEventBus::default()),
        Readiness::default(),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn metrics_are_not_served_on_the_public_port() {
    let f = Fixture::new(|_| {}).await;
    for path in ["/metrics", "/metrics/"] {
        let response = f
            .send(Request::get(path).body(Body::empty()).unwrap())
            .await;
        assert_eq!(response.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(
            response.headers[header::CONTENT_TYPE],
            "application/problem+json"
        );
    }
    assert_eq!(f.get("/api/v1/products").await.status, StatusCode::OK);
}

#[tokio::test]
async fn metrics_of_the_public_traffic_are_served_on_the_internal_router_only() {
    let Routers { public, internal } = both_routers().await;
    let public = TestClient::new(public);
    let internal = TestClient::new(internal);
    assert_eq!(public.get("/health").send().await.status, StatusCode::OK);
    let metrics = internal.get("/metrics").send().await;
    assert_eq!(metrics.status, StatusCode::OK);
    let text = String::from_utf8(metrics.body.to_vec()).unwrap();
    assert!(
        text.contains("http_requests_total{service=\"api-gateway\",route=\"/health\""),
        "{text}"
    );
    for path in ["/health", "/api/v1/products"] {
        assert_eq!(
            internal.get(path).send().await.status,
            StatusCode::NOT_FOUND,
            "{path} is public only"
        );
    }
}

#[tokio::test]
async fn health_is_served_by_the_gateway_itself() {
    let f = Fixture::new(|_| {}).await;
    let response = f
        .send(Request::get("/health").body(Body::empty()).unwrap())
        .await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.json()["service"], "api-gateway");
}

/// Limits shared through the Redis at `redis_url`, under a key prefix no other test uses.
fn shared_limits(redis_url: String) -> SharedLimits {
    SharedLimits {
        redis_url,
        key_prefix: testing::redis::unique_prefix("gateway"),
    }
}

#[tokio::test]
#[ignore = "needs Redis: set TEST_REDIS_URL or run one on 127.0.0.1:6379, then cargo test -- --ignored"]
async fn two_gateways_sharing_a_redis_share_every_limit() {
    let shared = Some(shared_limits(testing::redis::url()));
    let settings = |s: &mut Settings| {
        s.shared_limits.clone_from(&shared);
        s.rate_limit = tight(2);
        s.account_rate_limit = tight(1);
    };
    // Two replicas; a request reaches either.
    let one = Fixture::new(settings).await;
    let two = Fixture::new(settings).await;
    assert_eq!(
        one.send(browse("192.0.2.1", None)).await.status,
        StatusCode::OK
    );
    assert_eq!(
        two.send(browse("192.0.2.1", None)).await.status,
        StatusCode::OK
    );
    for replica in [&one, &two] {
        let refused = replica.send(browse("192.0.2.1", None)).await;
        assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
        let wait: u64 = refused.headers[header::RETRY_AFTER]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((900..=1000).contains(&wait), "retry-after {wait}");
    }
    assert_eq!(
        two.send(browse("192.0.2.2", None)).await.status,
        StatusCode::OK,
        "another client has its own allowance"
    );

    assert_eq!(
        one.send(login("ada@example.com", "198.51.100.1"))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        two.send(login(" ADA@example.com", "198.51.100.1"))
            .await
            .status,
        StatusCode::TOO_MANY_REQUESTS,
        "the account's allowance from that address is spent on every replica"
    );
    assert_eq!(
        two.send(login("ada@example.com", "198.51.100.2"))
            .await
            .status,
        StatusCode::OK,
        "and the owner elsewhere is not locked out"
    );
    assert_eq!(
        one.fake("user-service").hits() + two.fake("user-service").hits(),
        2
    );
}

/// A TCP relay to the test Redis that can stop passing bytes on: a Redis that hangs.
struct Relay {
    url: String,
    stalled: Arc<AtomicBool>,
}

impl Relay {
    async fn to_test_redis() -> Self {
        let target = testing::redis::url();
        let info = redis::Client::open(target.as_str())
            .expect("TEST_REDIS_URL is a Redis URL")
            .get_connection_info()
            .clone();
        let redis::ConnectionAddr::Tcp(host, port) = info.addr else {
            panic!("TEST_REDIS_URL must be a redis:// URL");
        };
        let authority = format!("{host}:{port}");
        assert!(
            target.contains(&authority),
            "write TEST_REDIS_URL with its port, e.g. redis://127.0.0.1:6379"
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = target.replacen(&authority, &listener.local_addr().unwrap().to_string(), 1);
        let stalled = Arc::new(AtomicBool::new(false));
        let flag = stalled.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let server = tokio::net::TcpStream::connect(&authority).await.unwrap();
                let (client_read, client_write) = client.into_split();
                let (server_read, server_write) = server.into_split();
                tokio::spawn(pipe(client_read, server_write, flag.clone()));
                tokio::spawn(pipe(server_read, client_write, flag.clone()));
            }
        });
        Self { url, stalled }
    }

    fn stall(&self) {
        self.stalled.store(true, Ordering::SeqCst);
    }
}

/// Copies `from` to `to`, holding the bytes while `stalled`.
async fn pipe(
    from: tokio::net::tcp::OwnedReadHalf,
    to: tokio::net::tcp::OwnedWriteHalf,
    stalled: Arc<AtomicBool>,
) {
    let mut buf = vec![0_u8; 16 * 1024];
    loop {
        if from.readable().await.is_err() {
            return;
        }
        let read = match from.try_read(&mut buf) {
            Ok(0) => return,
            Ok(read) => read,
            Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(_) => return,
        };
        while stalled.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let mut written = 0;
        while written < read {
            if to.writable().await.is_err() {
                return;
            }
            match to.try_write(&buf[written..read]) {
                Ok(n) => written += n,
                Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => return,
            }
        }
    }
}

#[tokio::test]
#[ignore = "needs Redis: set TEST_REDIS_URL or run one on 127.0.0.1:6379, then cargo test -- --ignored"]
async fn when_the_shared_redis_hangs_each_gateway_limits_on_its_own() {
    let relay = Relay::to_test_redis().await;
    let f = Fixture::new(|s| {
        s.shared_limits = Some(shared_limits(relay.url.clone()));
        s.rate_limit = tight(1);
    })
    .await;
    assert_eq!(
        f.send(browse("192.0.2.1", None)).await.status,
        StatusCode::OK
    );
    assert_eq!(
        f.send(browse("192.0.2.1", None)).await.status,
        StatusCode::TOO_MANY_REQUESTS,
        "Redis judged"
    );

    relay.stall();
    let started = std::time::Instant::now();
    assert_eq!(
        f.send(browse("192.0.2.1", None)).await.status,
        StatusCode::OK,
        "not fail-closed: this replica's own limiter has room for the client"
    );
    assert!(
        started.elapsed() < api_gateway::rate_limit::REDIS_BUDGET * 4,
        "a hanging Redis delays a request by its budget only: {:?}",
        started.elapsed()
    );
    assert_eq!(
        f.send(browse("192.0.2.1", None)).await.status,
        StatusCode::TOO_MANY_REQUESTS,
        "not fail-open: this replica's own limiter counts"
    );
}
