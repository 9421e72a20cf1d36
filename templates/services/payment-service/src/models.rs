//! Payments and their rules: a payment is claimed `pending` under its idempotency key before
//! the provider is asked, settles once as succeeded or failed, and a succeeded payment can be
//! refunded once.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shared_events::{EventEnvelope, PaymentFailed, PaymentRefunded, PaymentSucceeded};
use shared_types::{Money, OrderId, PaymentId, UserId};

/// Where a payment is. Serialized flat into the payment: `"status": "failed", "reason": …`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum PaymentStatus {
    /// Claimed; the provider has not answered yet.
    Pending,
    /// The amount was charged.
    Succeeded,
    /// The provider declined; nothing was charged.
    Failed { reason: String },
    /// The charge was paid back.
    Refunded,
}

impl PaymentStatus {
    /// A short name for messages.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Succeeded => "succeeded",
            Self::Failed { .. } => "failed",
            Self::Refunded => "refunded",
        }
    }
}

/// One charge of an order's amount, identified for retries by its idempotency key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Payment {
    pub id: PaymentId,
    pub order_id: OrderId,
    pub user_id: UserId,
    pub amount: Money,
    #[serde(flatten)]
    pub status: PaymentStatus,
    /// The key that makes a retried charge return this payment instead of charging again;
    /// the order id for charges made by the checkout saga.
    pub idempotency_key: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What a charge is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeRequest {
    pub idempotency_key: String,
    pub order_id: OrderId,
    pub user_id: UserId,
    pub amount: Money,
}

/// Why a charge request is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidCharge {
    #[error("amount must not be negative")]
    NegativeAmount,
    #[error("idempotency key must be 1 to 255 visible ASCII characters")]
    BadKey,
}

impl ChargeRequest {
    /// Checks the amount and the key.
    pub fn validate(&self) -> Result<(), InvalidCharge> {
        if self.amount.amount_minor < 0 {
            return Err(InvalidCharge::NegativeAmount);
        }
        let key = &self.idempotency_key;
        if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(InvalidCharge::BadKey);
        }
        Ok(())
    }
}

/// Why a payment cannot be refunded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefundError {
    #[error("payment is already refunded")]
    AlreadyRefunded,
    #[error("only a succeeded payment can be refunded; this one is {0}")]
    NotRefundable(&'static str),
}

impl Payment {
    /// A new pending payment for `request`, before the provider is asked.
    #[must_use]
    pub fn pending(request: &ChargeRequest, now: DateTime<Utc>) -> Self {
        Self {
            id: PaymentId::new(),
            order_id: request.order_id,
            user_id: request.user_id,
            amount: request.amount,
            status: PaymentStatus::Pending,
            idempotency_key: request.idempotency_key.clone(),
            created_at: now,
            updated_at: now,
        }
    }

    /// Whether `request` asks for exactly this payment (a true retry), not a different charge
    /// that happens to reuse its key.
    #[must_use]
    pub fn answers(&self, request: &ChargeRequest) -> bool {
        self.order_id == request.order_id
            && self.user_id == request.user_id
            && self.amount == request.amount
    }

    #[must_use]
    pub fn is_pending(&self) -> bool {
        self.status == PaymentStatus::Pending
    }

    /// Refunds a succeeded payment at `now`.
    pub fn refund(&mut self, now: DateTime<Utc>) -> Result<(), RefundError> {
        match self.status {
            PaymentStatus::Succeeded => {
                self.status = PaymentStatus::Refunded;
                self.updated_at = now;
                Ok(())
            }
            PaymentStatus::Refunded => Err(RefundError::AlreadyRefunded),
            ref other => Err(RefundError::NotRefundable(other.name())),
        }
    }

    /// The event announcing a settled charge: `payment.succeeded` or `payment.failed`.
    #[must_use]
    pub fn outcome_event(&self) -> Option<EventEnvelope> {
        match &self.status {
            PaymentStatus::Succeeded => Some(EventEnvelope::wrap(&PaymentSucceeded {
                order_id: self.order_id,
                user_id: self.user_id,
                payment_id: self.id,
                amount: self.amount,
            })),
            PaymentStatus::Failed { reason } => Some(EventEnvelope::wrap(&PaymentFailed {
                order_id: self.order_id,
                user_id: self.user_id,
                reason: reason.clone(),
            })),
            PaymentStatus::Pending | PaymentStatus::Refunded => None,
        }
    }

    /// The event announcing that this payment was refunded: `payment.refunded`. The
    /// repository records it with the refund.
    #[must_use]
    pub fn refunded_event(&self) -> EventEnvelope {
        EventEnvelope::wrap(&PaymentRefunded {
            order_id: self.order_id,
            user_id: self.user_id,
            payment_id: self.id,
            amount: self.amount,
        })
    }
}

#[cfg(test)]
mod tests {
    use shared_types::Currency;

    use super::*;

    fn request() -> ChargeRequest {
        ChargeRequest {
            idempotency_key: "key-1".into(),
            order_id: OrderId::new(),
            user_id: UserId::new(),
            amount: Money::new(4998, Currency::Usd),
        }
    }

    #[test]
    fn only_a_succeeded_payment_is_refunded_and_only_once() {
        let mut payment = Payment::pending(&request(), Utc::now());
        assert_eq!(
            payment.refund(Utc::now()),
            Err(RefundError::NotRefundable("pending"))
        );
        payment.status = PaymentStatus::Failed {
            reason: "declined".into(),
        };
        assert_eq!(
            payment.refund(Utc::now()),
            Err(RefundError::NotRefundable("failed"))
        );
        payment.status = PaymentStatus::Succeeded;
        assert_eq!(payment.refund(Utc::now()), Ok(()));
        assert_eq!(payment.status, PaymentStatus::Refunded);
        assert_eq!(
            payment.refund(Utc::now()),
            Err(RefundError::AlreadyRefunded)
        );
    }

    #[test]
    fn a_retry_must_ask_for_the_same_order_user_and_amount() {
        let request = request();
        let payment = Payment::pending(&request, Utc::now());
        assert!(payment.answers(&request));
        let mut other = request.clone();
        other.amount = Money::new(1, Currency::Usd);
        assert!(!payment.answers(&other));
        let mut other = request;
        other.order_id = OrderId::new();
        assert!(!payment.answers(&other));
    }

    #[test]
    fn a_charge_needs_a_non_negative_amount_and_a_sane_key() {
        let mut request = request();
        assert_eq!(request.validate(), Ok(()));
        request.amount.amount_minor = -1;
        assert_eq!(request.validate(), Err(InvalidCharge::NegativeAmount));
        request.amount.amount_minor = 1;
        request.idempotency_key = String::new();
        assert_eq!(request.validate(), Err(InvalidCharge::BadKey));
        request.idempotency_key = "x".repeat(256);
        assert_eq!(request.validate(), Err(InvalidCharge::BadKey));
    }

    #[test]
    fn a_settled_payment_announces_its_outcome_and_a_pending_one_nothing() {
        let mut payment = Payment::pending(&request(), Utc::now());
        assert_eq!(payment.outcome_event(), None);
        payment.status = PaymentStatus::Succeeded;
        let succeeded: PaymentSucceeded = payment.outcome_event().unwrap().decode().unwrap();
        assert_eq!(succeeded.payment_id, payment.id);
        assert_eq!(succeeded.amount, payment.amount);
        payment.status = PaymentStatus::Failed {
            reason: "declined".into(),
        };
        let failed: PaymentFailed = payment.outcome_event().unwrap().decode().unwrap();
        assert_eq!(failed.reason, "declined");
        let refunded: PaymentRefunded = payment.refunded_event().decode().unwrap();
        assert_eq!(refunded.payment_id, payment.id);
    }

    #[test]
    fn the_status_is_serialized_flat_with_its_reason() {
        let mut payment = Payment::pending(&request(), Utc::now());
        payment.status = PaymentStatus::Failed {
            reason: "card declined".into(),
        };
        let json = serde_json::to_value(&payment).unwrap();
        assert_eq!(json["status"], "failed");
        assert_eq!(json["reason"], "card declined");
        let back: Payment = serde_json::from_value(json).unwrap();
        assert_eq!(back, payment);
        payment.status = PaymentStatus::Succeeded;
        let json = serde_json::to_value(&payment).unwrap();
        assert_eq!(json["status"], "succeeded");
        assert!(json.get("reason").is_none());
    }
}
