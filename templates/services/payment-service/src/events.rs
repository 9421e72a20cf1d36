//! The consumers of the payment service (group `payment-service`): `inventory.reserved`
//! charges the order (key = order id) and the outcome is stored with its announcement;
//! `order.cancelled` refunds what was charged. Both are idempotent: a redelivered reservation
//! finds the payment of its key (the claim is the deduplication) and announces nothing again;
//! a redelivered cancellation is remembered with its refunds (the inbox) and refunds nothing.

use std::sync::Arc;

use async_trait::async_trait;
use shared_events::{
    BusError, EventBus, EventEnvelope, EventHandler, HandlerError, InventoryReserved,
    OrderCancelled, topics,
};
use shared_types::EventId;

use crate::models::ChargeRequest;
use crate::service::{Charge, ChargeError, GROUP, PaymentService};

/// The topics this service consumes.
pub const CONSUMED: &[&str] = &[topics::INVENTORY_RESERVED, topics::ORDER_CANCELLED];

/// Charges reserved orders and refunds cancelled ones.
pub struct PaymentHandler {
    service: PaymentService,
}

impl PaymentHandler {
    #[must_use]
    pub fn new(service: PaymentService) -> Self {
        Self { service }
    }

    async fn on_reserved(&self, event: InventoryReserved) -> Result<(), HandlerError> {
        let request = ChargeRequest {
            idempotency_key: event.order_id.to_string(),
            order_id: event.order_id,
            user_id: event.user_id,
            amount: event.total,
        };
        match self.service.charge_order(request).await {
            Ok(Charge {
                payment,
                fresh: true,
            }) => {
                tracing::debug!(order_id = %event.order_id, status = payment.status.name(), "order charged");
                Ok(())
            }
            Ok(Charge { fresh: false, .. }) => {
                tracing::debug!(order_id = %event.order_id, "order already charged; redelivery ignored");
                Ok(())
            }
            Err(ChargeError::OrderCancelled(order_id)) => {
                tracing::info!(%order_id, "order cancelled before its charge; not charging");
                Ok(())
            }
            Err(err) => Err(HandlerError::new(format!(
                "charging order {}: {err}",
                event.order_id
            ))),
        }
    }

    async fn on_cancelled(
        &self,
        event: OrderCancelled,
        delivered: EventId,
    ) -> Result<(), HandlerError> {
        let refunded = self
            .service
            .refund_order(event.order_id, Some(delivered))
            .await
            .map_err(|err| {
                HandlerError::new(format!("refunding order {}: {err}", event.order_id))
            })?;
        tracing::info!(order_id = %event.order_id, refunded = refunded.len(), "order cancelled");
        Ok(())
    }
}

#[async_trait]
impl EventHandler for PaymentHandler {
    async fn handle(&self, envelope: &EventEnvelope) -> Result<(), HandlerError> {
        match envelope.topic() {
            topics::INVENTORY_RESERVED => self.on_reserved(envelope.decode()?).await,
            topics::ORDER_CANCELLED => {
                self.on_cancelled(envelope.decode()?, envelope.event_id)
                    .await
            }
            other => Err(HandlerError::new(format!(
                "payment-service does not consume `{other}`"
            ))),
        }
    }
}

/// Subscribes the handler on `bus` under [`GROUP`].
pub async fn subscribe(bus: &dyn EventBus, service: PaymentService) -> Result<(), BusError> {
    bus.subscribe(GROUP, CONSUMED, Arc::new(PaymentHandler::new(service)))
        .await
}
