//! Notifications and how each consumed event is rendered into one. Rendering is pure: the
//! same event always yields the same text for the same user.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shared_events::{
    Event, EventEnvelope, OrderCancelled, OrderConfirmed, PaymentFailed, PaymentRefunded,
    PaymentSucceeded, UserRegistered, topics,
};
use shared_types::{EventId, OrderId, UserId};
use uuid::Uuid;

/// The topics that produce notifications.
pub const CONSUMED_TOPICS: &[&str] = &[
    topics::USER_REGISTERED,
    topics::ORDER_CONFIRMED,
    topics::ORDER_CANCELLED,
    topics::PAYMENT_SUCCEEDED,
    topics::PAYMENT_FAILED,
    topics::PAYMENT_REFUNDED,
];

/// How a notification reaches its user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Email,
}

/// Whether the sender took the notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// Recorded, not yet handed to the sender.
    Pending,
    Sent,
    /// The sender refused it; see the service log.
    Failed,
}

/// One message to one user, caused by one event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Notification {
    pub id: Uuid,
    pub user_id: UserId,
    pub channel: Channel,
    pub subject: String,
    pub body: String,
    /// The event that caused it, and its type.
    pub event_id: EventId,
    pub event_type: String,
    pub status: DeliveryStatus,
    pub created_at: DateTime<Utc>,
}

/// The text of a notification, before it is addressed and recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub user_id: UserId,
    pub subject: String,
    pub body: String,
}

/// Why an event could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("no notification for `{0}` events")]
    UnsupportedTopic(String),
    #[error("malformed `{topic}` event: {source}")]
    Malformed {
        topic: String,
        source: serde_json::Error,
    },
}

/// The first 8 characters of an order id: enough to recognise it in a subject line.
#[must_use]
pub fn short_ref(order: OrderId) -> String {
    order.to_string().chars().take(8).collect()
}

/// Renders `event` into the message for the user it concerns.
pub fn render(event: &EventEnvelope) -> Result<Message, RenderError> {
    let message = match event.topic() {
        topics::USER_REGISTERED => {
            let e: UserRegistered = decode(event)?;
            Message::to(
                e.user_id,
                "Welcome to the shop".to_owned(),
                format!(
                    "Hi {}, your account {} is ready. Happy shopping!",
                    e.name, e.email
                ),
            )
        }
        topics::ORDER_CONFIRMED => {
            let e: OrderConfirmed = decode(event)?;
            Message::to(
                e.user_id,
                format!("Order {}… confirmed", short_ref(e.order_id)),
                format!(
                    "Your order {} is confirmed — total {}.",
                    e.order_id, e.total
                ),
            )
        }
        topics::ORDER_CANCELLED => {
            let e: OrderCancelled = decode(event)?;
            Message::to(
                e.user_id,
                format!("Order {}… cancelled", short_ref(e.order_id)),
                format!(
                    "Your order {} was cancelled: {}. Any charge will be refunded.",
                    e.order_id, e.reason
                ),
            )
        }
        topics::PAYMENT_SUCCEEDED => {
            let e: PaymentSucceeded = decode(event)?;
            Message::to(
                e.user_id,
                format!("Payment received for order {}…", short_ref(e.order_id)),
                format!(
                    "We received your payment of {} for order {} (payment {}).",
                    e.amount, e.order_id, e.payment_id
                ),
            )
        }
        topics::PAYMENT_FAILED => {
            let e: PaymentFailed = decode(event)?;
            Message::to(
                e.user_id,
                format!("Payment failed for order {}…", short_ref(e.order_id)),
                format!(
                    "Your payment for order {} did not go through: {}. Nothing was charged.",
                    e.order_id, e.reason
                ),
            )
        }
        topics::PAYMENT_REFUNDED => {
            let e: PaymentRefunded = decode(event)?;
            Message::to(
                e.user_id,
                format!("Refund for order {}…", short_ref(e.order_id)),
                format!(
                    "We refunded {} for order {} (payment {}).",
                    e.amount, e.order_id, e.payment_id
                ),
            )
        }
        other => return Err(RenderError::UnsupportedTopic(other.to_owned())),
    };
    Ok(message)
}

/// The payload of `event` as `E`, or why it is malformed.
fn decode<E: Event>(event: &EventEnvelope) -> Result<E, RenderError> {
    event.decode().map_err(|source| RenderError::Malformed {
        topic: event.event_type.clone(),
        source,
    })
}

impl Message {
    fn to(user_id: UserId, subject: String, body: String) -> Self {
        Self {
            user_id,
            subject,
            body,
        }
    }
}

impl Notification {
    /// A pending email notification for `message`, caused by `event`.
    #[must_use]
    pub fn new(message: Message, event: &EventEnvelope, now: DateTime<Utc>) -> Self {
        Self {
            id: Uuid::new_v4(),
            user_id: message.user_id,
            channel: Channel::Email,
            subject: message.subject,
            body: message.body,
            event_id: event.event_id,
            event_type: event.event_type.clone(),
            status: DeliveryStatus::Pending,
            created_at: now,
        }
    }
}

#[cfg(test)]
mod tests {
    use shared_events::InventoryReleased;
    use shared_types::{Currency, Money, PaymentId};

    use super::*;

    fn order() -> OrderId {
        "1234abcd-0000-4000-8000-000000000000".parse().unwrap()
    }

    #[test]
    fn a_confirmed_order_names_the_order_and_its_total() {
        let user = UserId::new();
        let event = EventEnvelope::wrap(&OrderConfirmed {
            order_id: order(),
            user_id: user,
            total: Money::new(5998, Currency::Usd),
            lines: Vec::new(),
        });
        let message = render(&event).unwrap();
        assert_eq!(message.user_id, user);
        assert_eq!(message.subject, "Order 1234abcd… confirmed");
        assert_eq!(
            message.body,
            format!("Your order {} is confirmed — total 59.98 USD.", order())
        );
    }

    #[test]
    fn a_refund_names_the_amount_and_the_payment() {
        let payment = PaymentId::new();
        let event = EventEnvelope::wrap(&PaymentRefunded {
            order_id: order(),
            user_id: UserId::new(),
            payment_id: payment,
            amount: Money::new(1050, Currency::Eur),
        });
        let message = render(&event).unwrap();
        assert!(message.body.contains("10.50 EUR"));
        assert!(message.body.contains(&payment.to_string()));
    }

    #[test]
    fn a_failed_payment_gives_the_reason() {
        let event = EventEnvelope::wrap(&PaymentFailed {
            order_id: order(),
            user_id: UserId::new(),
            reason: "card declined".to_owned(),
        });
        assert!(render(&event).unwrap().body.contains("card declined"));
    }

    #[test]
    fn events_without_a_notification_are_refused() {
        let event = EventEnvelope::wrap(&InventoryReleased { order_id: order() });
        assert!(matches!(
            render(&event),
            Err(RenderError::UnsupportedTopic(topic)) if topic == topics::INVENTORY_RELEASED
        ));
    }

    #[test]
    fn a_malformed_payload_is_reported_not_rendered() {
        let mut event = EventEnvelope::wrap(&OrderConfirmed {
            order_id: order(),
            user_id: UserId::new(),
            total: Money::new(1, Currency::Usd),
            lines: Vec::new(),
        });
        event.data = serde_json::json!({"order_id": "nope"});
        assert!(matches!(render(&event), Err(RenderError::Malformed { .. })));
    }
}
