//! `/ready` of a served unit against real dependencies: a database that cannot be reached makes
//! it answer 503 naming `database` within the check's bound, and a broker that went away is
//! named while the unit stays ready. The tests against a running `PostgreSQL` (on
//! `TEST_DATABASE_URL`) and Kafka (on `TEST_KAFKA_BROKERS`) are ignored unless run with
//! `cargo test -- --ignored`.

use std::time::{Duration, Instant};

use axum::Router;
use platform::chaos::ChaosConfig;
use platform::db::{self, Database};
use platform::health::{CHECK_TIMEOUT, Readiness};
use platform::{bus, server};
use serde_json::{Value, json};
use shared_events::KafkaConfig;
use sqlx::postgres::PgPoolOptions;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A unit with no routes of its own and `readiness`, served until the sender is used.
struct Unit {
    url: String,
    stop: oneshot::Sender<()>,
    server: JoinHandle<anyhow::Result<()>>,
}

impl Unit {
    async fn serve(readiness: Readiness) -> Self {
        let router = server::app(
            "readiness-test",
            Router::new(),
            ChaosConfig::default(),
            readiness.clone(),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(server::serve(
            "readiness-test",
            listener,
            router,
            readiness,
            async move {
                let _ = stopped.await;
            },
        ));
        Self { url, stop, server }
    }

    /// `/ready`'s status and body.
    async fn ready(&self) -> (u16, Value) {
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let response = http
            .get(format!("{}/ready", self.url))
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.json().await.unwrap())
    }

    async fn stop(self) {
        self.stop.send(()).unwrap();
        self.server.await.unwrap().unwrap();
    }
}

#[tokio::test]
async fn an_unreachable_database_makes_the_unit_not_ready_quickly_and_is_named_without_details() {
    // Port 1 on loopback: nothing listens there.
    let pool = PgPoolOptions::new()
        .acquire_timeout(Duration::from_secs(10))
        .connect_lazy("postgres://shop:s3cret@127.0.0.1:1/orders")
        .unwrap();
    let readiness = Readiness::default();
    readiness.add_check(db::readiness_check(&pool));
    let unit = Unit::serve(readiness).await;

    let asked = Instant::now();
    let (status, body) = unit.ready().await;
    assert!(
        asked.elapsed() < CHECK_TIMEOUT + Duration::from_millis(500),
        "took {:?}",
        asked.elapsed()
    );
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "not ready");
    let outcome = body["checks"]["database"].as_str().unwrap();
    assert!(["unreachable", "timeout"].contains(&outcome), "{body}");
    let text = body.to_string();
    for secret in ["127.0.0.1", "s3cret", "shop", "orders", "postgres"] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
    unit.stop().await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set TEST_DATABASE_URL or run one on 127.0.0.1:5432, then cargo test -- --ignored"]
async fn a_reachable_database_keeps_the_unit_ready() {
    let url = std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let pool = Database::new(url).connect().await.unwrap();
    let readiness = Readiness::default();
    readiness.add_check(db::readiness_check(&pool));
    let unit = Unit::serve(readiness).await;

    assert_eq!(
        unit.ready().await,
        (
            200,
            json!({ "status": "ready", "serving": true, "checks": { "database": "ok" } })
        )
    );
    unit.stop().await;
}

#[tokio::test]
async fn a_broker_that_went_away_is_named_while_the_unit_stays_ready() {
    let broker = krafka::testing::FakeBroker::start().await.unwrap();
    let mut config = KafkaConfig::new(broker.bootstrap_servers(), "readiness-test");
    config.connect_timeout = Duration::from_secs(2);
    let kafka = bus::connect(config).await.unwrap();
    // Every probe runs a new round, bounded well below the test's patience.
    let readiness = Readiness::with_limits(Duration::from_millis(500), Duration::ZERO);
    readiness.add_check(bus::readiness_check(&kafka));
    let unit = Unit::serve(readiness).await;
    assert_eq!(
        unit.ready().await,
        (
            200,
            json!({ "status": "ready", "serving": true, "checks": { "broker": "ok" } })
        )
    );

    drop(broker);
    let asked = Instant::now();
    let (status, body) = unit.ready().await;
    assert!(
        asked.elapsed() < Duration::from_secs(1),
        "took {:?}",
        asked.elapsed()
    );
    assert_eq!(status, 200, "the outbox waits for the broker: {body}");
    let outcome = body["checks"]["broker"].as_str().unwrap();
    assert!(["unreachable", "timeout"].contains(&outcome), "{body}");
    assert!(!body.to_string().contains("127.0.0.1"), "{body}");
    unit.stop().await;
}

#[tokio::test]
#[ignore = "needs Kafka: set TEST_KAFKA_BROKERS (e.g. 127.0.0.1:9092), then cargo test -- --ignored"]
async fn a_running_broker_answers_the_check() {
    let brokers = std::env::var("TEST_KAFKA_BROKERS")
        .expect("needs Kafka: set TEST_KAFKA_BROKERS (e.g. 127.0.0.1:9092)");
    let kafka = bus::connect(KafkaConfig::new(brokers, "readiness-test"))
        .await
        .unwrap();
    let readiness = Readiness::default();
    readiness.add_check(bus::readiness_check(&kafka));
    let unit = Unit::serve(readiness).await;

    let (status, body) = unit.ready().await;
    assert_eq!(
        (status, &body["checks"]["broker"]),
        (200, &json!("ok")),
        "{body}"
    );
    unit.stop().await;
    shared_events::EventBus::close(&kafka).await;
}
