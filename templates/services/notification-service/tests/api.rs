//! Consuming events and listing notifications, through the bus and the router.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use axum::http::StatusCode;
use notification_service::api::{self, AppState};
use notification_service::models::Notification;
use notification_service::repository::InMemoryNotificationRepository;
use notification_service::service::{NotificationSender, NotificationService, SendError};
use notification_service::{Settings, events, start_with};
use platform::ServiceConfig;
use platform::auth::{JwtKeys, Role};
use platform::health::Readiness;
use serde_json::Value;
use shared_events::{
    EventBus, EventEnvelope, InMemoryEventBus, OrderCancelled, OrderConfirmed, PaymentFailed,
    PaymentRefunded, PaymentSucceeded, UserRegistered,
};
use shared_types::{Currency, Money, OrderId, PaymentId, UserId};
use testing::TestClient;
use testing::tokens::for_user as token;

/// Counts sends; fails them all when `failing`.
#[derive(Default)]
struct CountingSender {
    sent: AtomicUsize,
    failing: bool,
}

#[async_trait]
impl NotificationSender for CountingSender {
    async fn send(&self, _: &Notification) -> Result<(), SendError> {
        self.sent.fetch_add(1, Ordering::SeqCst);
        if self.failing {
            Err(SendError("provider down".to_owned()))
        } else {
            Ok(())
        }
    }
}

struct Harness {
    bus: InMemoryEventBus,
    sender: Arc<CountingSender>,
    client: TestClient,
}

async fn harness_with(sender: CountingSender) -> Harness {
    let bus = InMemoryEventBus::default();
    let sender = Arc::new(sender);
    let service = NotificationService::new(
        Arc::new(InMemoryNotificationRepository::default()),
        sender.clone(),
    );
    events::subscribe(&bus, "notification-service", service.clone())
        .await
        .unwrap();
    let router = api::router(AppState {
        service,
        keys: JwtKeys::development(),
        settings: Settings::default(),
    });
    Harness {
        bus,
        sender,
        client: TestClient::new(router),
    }
}

async fn harness() -> Harness {
    harness_with(CountingSender::default()).await
}

fn usd(cents: i64) -> Money {
    Money::new(cents, Currency::Usd)
}

impl Harness {
    async fn deliver(&self, events: &[EventEnvelope]) {
        for event in events {
            self.bus.publish(event.clone()).await.unwrap();
        }
        self.bus.settled().await;
        assert!(self.bus.dead_letters().is_empty());
    }

    async fn get(&self, uri: &str, bearer: Option<&str>) -> (StatusCode, Value) {
        self.client
            .get(uri)
            .maybe_bearer(bearer)
            .send()
            .await
            .status_and_json()
    }

    async fn notifications_of(&self, user: UserId) -> Vec<Value> {
        let (status, page) = self
            .get("/api/v1/notifications", Some(&token(user, Role::Customer)))
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        page["items"].as_array().unwrap().clone()
    }
}

#[tokio::test]
async fn each_event_type_notifies_the_user_it_concerns() {
    let h = harness().await;
    let order = OrderId::new();
    let payment = PaymentId::new();
    let cases: Vec<(UserId, EventEnvelope, &str)> = {
        let users: Vec<UserId> = (0..6).map(|_| UserId::new()).collect();
        vec![
            (
                users[0],
                EventEnvelope::wrap(&UserRegistered {
                    user_id: users[0],
                    email: "ada@example.com".to_owned(),
                    name: "Ada".to_owned(),
                }),
                "Hi Ada, your account ada@example.com is ready",
            ),
            (
                users[1],
                EventEnvelope::wrap(&OrderConfirmed {
                    order_id: order,
                    user_id: users[1],
                    total: usd(5998),
                    lines: Vec::new(),
                }),
                "is confirmed — total 59.98 USD",
            ),
            (
                users[2],
                EventEnvelope::wrap(&OrderCancelled {
                    order_id: order,
                    user_id: users[2],
                    reason: "out of stock".to_owned(),
                }),
                "was cancelled: out of stock",
            ),
            (
                users[3],
                EventEnvelope::wrap(&PaymentSucceeded {
                    order_id: order,
                    user_id: users[3],
                    payment_id: payment,
                    amount: usd(1250),
                }),
                "We received your payment of 12.50 USD",
            ),
            (
                users[4],
                EventEnvelope::wrap(&PaymentFailed {
                    order_id: order,
                    user_id: users[4],
                    reason: "card declined".to_owned(),
                }),
                "did not go through: card declined",
            ),
            (
                users[5],
                EventEnvelope::wrap(&PaymentRefunded {
                    order_id: order,
                    user_id: users[5],
                    payment_id: payment,
                    amount: usd(1250),
                }),
                "We refunded 12.50 USD",
            ),
        ]
    };
    let events: Vec<EventEnvelope> = cases.iter().map(|(_, e, _)| e.clone()).collect();
    h.deliver(&events).await;

    for (user, event, expected) in &cases {
        let mine = h.notifications_of(*user).await;
        assert_eq!(mine.len(), 1, "{}", event.event_type);
        let n = &mine[0];
        assert_eq!(n["user_id"], user.to_string());
        assert_eq!(n["channel"], "email");
        assert_eq!(n["event_type"], event.event_type.as_str());
        assert_eq!(n["event_id"], event.event_id.to_string());
        assert_eq!(n["status"], "sent");
        assert!(
            n["body"].as_str().unwrap().contains(expected),
            "{} rendered as {}",
            event.event_type,
            n["body"]
        );
        if event.event_type.starts_with("order") || event.event_type.starts_with("payment") {
            assert!(n["body"].as_str().unwrap().contains(&order.to_string()));
        }
    }
    assert_eq!(h.sender.sent.load(Ordering::SeqCst), 6);
}

#[tokio::test]
async fn a_redelivered_event_is_recorded_and_sent_once() {
    let h = harness().await;
    let user = UserId::new();
    let event = EventEnvelope::wrap(&OrderConfirmed {
        order_id: OrderId::new(),
        user_id: user,
        total: usd(100),
        lines: Vec::new(),
    });
    h.deliver(&[event.clone(), event.clone()]).await;
    h.deliver(&[event]).await;
    assert_eq!(h.sender.sent.load(Ordering::SeqCst), 1);
    assert_eq!(h.notifications_of(user).await.len(), 1);
}

#[tokio::test]
async fn a_failed_send_is_marked_failed_and_not_resent_on_redelivery() {
    let h = harness_with(CountingSender {
        failing: true,
        ..CountingSender::default()
    })
    .await;
    let user = UserId::new();
    let event = EventEnvelope::wrap(&PaymentFailed {
        order_id: OrderId::new(),
        user_id: user,
        reason: "insufficient funds".to_owned(),
    });
    h.deliver(&[event.clone(), event]).await;
    assert_eq!(h.sender.sent.load(Ordering::SeqCst), 1);
    let mine = h.notifications_of(user).await;
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0]["status"], "failed");
}

#[tokio::test]
async fn a_user_sees_only_their_own_notifications_newest_first() {
    let h = harness().await;
    let (ada, bob) = (UserId::new(), UserId::new());
    let first = OrderId::new();
    let second = OrderId::new();
    h.deliver(&[
        EventEnvelope::wrap(&OrderConfirmed {
            order_id: first,
            user_id: ada,
            total: usd(100),
            lines: Vec::new(),
        }),
        EventEnvelope::wrap(&OrderConfirmed {
            order_id: OrderId::new(),
            user_id: bob,
            total: usd(200),
            lines: Vec::new(),
        }),
        EventEnvelope::wrap(&OrderCancelled {
            order_id: second,
            user_id: ada,
            reason: "changed my mind".to_owned(),
        }),
    ])
    .await;
    let mine = h.notifications_of(ada).await;
    assert_eq!(mine.len(), 2);
    assert!(mine.iter().all(|n| n["user_id"] == ada.to_string()));
    assert!(
        mine[0]["body"]
            .as_str()
            .unwrap()
            .contains(&second.to_string())
    );
    assert!(
        mine[1]["body"]
            .as_str()
            .unwrap()
            .contains(&first.to_string())
    );
    assert_eq!(h.notifications_of(bob).await.len(), 1);
}

#[tokio::test]
async fn listing_is_paginated_within_bounds() {
    let h = harness().await;
    let user = UserId::new();
    let events: Vec<EventEnvelope> = (0..5)
        .map(|i| {
            EventEnvelope::wrap(&OrderConfirmed {
                order_id: OrderId::new(),
                user_id: user,
                total: usd(i),
                lines: Vec::new(),
            })
        })
        .collect();
    // One at a time: the bus handles events of different orders concurrently, and the listing
    // is newest first by arrival.
    for event in &events {
        h.deliver(std::slice::from_ref(event)).await;
    }
    let bearer = token(user, Role::Customer);
    let (status, page) = h
        .get("/api/v1/notifications?page=2&per_page=2", Some(&bearer))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["total"], 5);
    assert_eq!(page["page"], 2);
    assert_eq!(page["per_page"], 2);
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    assert_eq!(page["items"][0]["event_id"], events[2].event_id.to_string());

    for bad in ["page=0", "per_page=0", "per_page=101", "page=-1", "page=x"] {
        let (status, problem) = h
            .get(&format!("/api/v1/notifications?{bad}"), Some(&bearer))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {problem}");
    }
}

#[tokio::test]
async fn an_admin_may_list_anyones_notifications_but_a_customer_only_their_own() {
    let h = harness().await;
    let (ada, bob) = (UserId::new(), UserId::new());
    h.deliver(&[EventEnvelope::wrap(&UserRegistered {
        user_id: ada,
        email: "ada@example.com".to_owned(),
        name: "Ada".to_owned(),
    })])
    .await;
    let uri = format!("/api/v1/notifications?user_id={ada}");
    let (status, page) = h.get(&uri, Some(&token(UserId::new(), Role::Admin))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["total"], 1);
    let (status, _) = h.get(&uri, Some(&token(bob, Role::Customer))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, page) = h.get(&uri, Some(&token(ada, Role::Customer))).await;
    assert_eq!(status, StatusCode::OK, "naming yourself is fine");
    assert_eq!(page["total"], 1);
    let (status, _) = h
        .get(
            "/api/v1/notifications?user_id=nope",
            Some(&token(UserId::new(), Role::Admin)),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn listing_requires_a_valid_bearer_token() {
    let h = harness().await;
    let (status, problem) = h.get("/api/v1/notifications", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(problem["status"], 401);
    let (status, _) = h.get("/api/v1/notifications", Some("garbage")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_started_service_consumes_events_from_the_bus() {
    let bus = InMemoryEventBus::default();
    let router = start_with(
        ServiceConfig::for_tests(platform::topology::NOTIFICATION_SERVICE),
        Settings::default(),
        Arc::new(bus.clone()),
        Readiness::default(),
    )
    .await
    .unwrap();
    let user = UserId::new();
    bus.publish(EventEnvelope::wrap(&UserRegistered {
        user_id: user,
        email: "ada@example.com".to_owned(),
        name: "Ada".to_owned(),
    }))
    .await
    .unwrap();
    bus.settled().await;
    let response = TestClient::new(router)
        .get("/api/v1/notifications")
        .bearer(&token(user, Role::Customer))
        .send()
        .await;
    assert_eq!(response.status, StatusCode::OK);
    let page = response.json();
    assert_eq!(page["items"][0]["subject"], "Welcome to the shop");
}
