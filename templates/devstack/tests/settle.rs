//! `Devstack::settled` gives up at its deadline and names the service whose outbox is stuck.

use std::time::Duration;

use devstack::Options;
use platform::outbox::{self, MAX_ATTEMPTS};
use shared_events::{EventEnvelope, OrderCancelled};
use shared_types::{OrderId, UserId};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_in_memory_stack_is_settled_at_once() {
    let stack = devstack::start(Options::for_tests()).await.unwrap();
    stack
        .settled_within(Duration::from_secs(2))
        .await
        .expect("nothing to wait for");
    stack.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set TEST_DATABASE_URL or run one on 127.0.0.1:5432, then cargo test -- --ignored"]
async fn settled_gives_up_at_its_deadline_naming_the_service_with_a_parked_outbox_row() {
    let stack = devstack::start(Options::for_tests().with_postgres(&testing::pg::server_url()))
        .await
        .unwrap();
    stack.settled().await.expect("a fresh stack settles");

    // A poison event in the order service's outbox: it failed MAX_ATTEMPTS times, parked.
    let pool = stack.databases["order-service"].connect().await.unwrap();
    let event = EventEnvelope::wrap(&OrderCancelled {
        order_id: OrderId::new(),
        user_id: UserId::new(),
        reason: "poison".to_owned(),
    });
    let mut tx = pool.begin().await.unwrap();
    outbox::enqueue(&mut tx, &event).await.unwrap();
    sqlx::query("UPDATE outbox SET attempts = $2 WHERE event_id = $1")
        .bind(event.event_id.0)
        .bind(MAX_ATTEMPTS)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let started = tokio::time::Instant::now();
    let err = stack
        .settled_within(Duration::from_millis(500))
        .await
        .expect_err("a parked row never drains");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "it gave up at its deadline"
    );
    let message = format!("{err:#}");
    assert!(message.contains("order-service"), "{message}");
    assert!(message.contains("1 unpublished"), "{message}");
    assert!(!message.contains("inventory-service"), "{message}");
    pool.close().await;
    stack.shutdown().await.unwrap();
}
