//! The saga consumers of the order service (group `order-service`): inventory and payment
//! outcomes move orders through their state machine; the resulting `order.confirmed` and
//! `order.cancelled` are recorded by the repository with the transition. A redelivered event
//! has no second effect: its id is remembered with the transition (the inbox), and a new
//! event with an effect the order already has is a no-op of the state machine. An event about
//! an unknown order fails (the bus retries, then dead-letters).

use std::sync::Arc;

use async_trait::async_trait;
use shared_events::{
    BusError, EventBus, EventEnvelope, EventHandler, HandlerError, InventoryReservationFailed,
    InventoryReserved, PaymentFailed, PaymentSucceeded, topics,
};
use shared_types::OrderId;

use crate::models::OrderEvent;
use crate::service::{GROUP, OrderService};

/// The topics the saga handler consumes.
pub const CONSUMED: &[&str] = &[
    topics::INVENTORY_RESERVED,
    topics::INVENTORY_RESERVATION_FAILED,
    topics::PAYMENT_SUCCEEDED,
    topics::PAYMENT_FAILED,
];

/// Turns inventory and payment outcomes into order transitions.
pub struct SagaHandler {
    service: OrderService,
}

impl SagaHandler {
    #[must_use]
    pub fn new(service: OrderService) -> Self {
        Self { service }
    }
}

/// The order an envelope is about and what happened to it.
pub fn decode(envelope: &EventEnvelope) -> Result<(OrderId, OrderEvent), HandlerError> {
    Ok(match envelope.topic() {
        topics::INVENTORY_RESERVED => {
            let event: InventoryReserved = envelope.decode()?;
            (event.order_id, OrderEvent::InventoryReserved)
        }
        topics::INVENTORY_RESERVATION_FAILED => {
            let event: InventoryReservationFailed = envelope.decode()?;
            (
                event.order_id,
                OrderEvent::ReservationFailed {
                    reason: event.reason,
                },
            )
        }
        topics::PAYMENT_SUCCEEDED => {
            let event: PaymentSucceeded = envelope.decode()?;
            (event.order_id, OrderEvent::PaymentSucceeded)
        }
        topics::PAYMENT_FAILED => {
            let event: PaymentFailed = envelope.decode()?;
            (
                event.order_id,
                OrderEvent::PaymentFailed {
                    reason: event.reason,
                },
            )
        }
        other => {
            return Err(HandlerError::new(format!(
                "order-service does not consume `{other}`"
            )));
        }
    })
}

#[async_trait]
impl EventHandler for SagaHandler {
    async fn handle(&self, envelope: &EventEnvelope) -> Result<(), HandlerError> {
        let (order_id, event) = decode(envelope)?;
        self.service
            .apply_saga_event(order_id, &event, Some(envelope.event_id))
            .await
            .map(|_| ())
            .map_err(|err| {
                HandlerError::new(format!("{} for order {order_id}: {err}", event.name()))
            })
    }
}

/// Subscribes the saga handler on `bus` under [`GROUP`].
pub async fn subscribe(bus: &dyn EventBus, service: OrderService) -> Result<(), BusError> {
    bus.subscribe(GROUP, CONSUMED, Arc::new(SagaHandler::new(service)))
        .await
}
