//! Looking at what went over an [`InMemoryEventBus`], and putting events on it.

use shared_events::{Event, EventBus, EventEnvelope, InMemoryEventBus};

/// Publishes `event` in a new envelope (a new event id each call, like a second publisher).
pub async fn publish<E: Event>(bus: &InMemoryEventBus, event: &E) {
    bus.publish(EventEnvelope::wrap(event))
        .await
        .expect("the in-memory bus accepts events");
}

/// How many events were published on `topic`.
#[must_use]
pub fn count(bus: &InMemoryEventBus, topic: &str) -> usize {
    bus.published()
        .iter()
        .filter(|event| event.topic() == topic)
        .count()
}

/// The published events of type `E`, decoded, in publishing order.
#[must_use]
pub fn decoded<E: Event>(bus: &InMemoryEventBus) -> Vec<E> {
    bus.published()
        .iter()
        .filter_map(|event| event.decode().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use shared_events::{OrderConfirmed, PaymentFailed, topics};
    use shared_types::{Currency, Money, OrderId, UserId};

    use super::*;

    #[tokio::test]
    async fn published_events_are_counted_and_decoded_by_type() {
        let bus = InMemoryEventBus::default();
        let confirmed = OrderConfirmed {
            order_id: OrderId::new(),
            user_id: UserId::new(),
            total: Money::new(100, Currency::Usd),
            lines: Vec::new(),
        };
        publish(&bus, &confirmed).await;
        publish(&bus, &confirmed).await;
        assert_eq!(count(&bus, topics::ORDER_CONFIRMED), 2);
        assert_eq!(count(&bus, topics::PAYMENT_FAILED), 0);
        assert_eq!(
            decoded::<OrderConfirmed>(&bus),
            [confirmed.clone(), confirmed]
        );
        assert!(decoded::<PaymentFailed>(&bus).is_empty());
    }
}
