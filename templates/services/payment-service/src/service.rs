//! The payment use cases: charging exactly once per idempotency key, refunds, and reads. The
//! provider sits behind [`PaymentProvider`]; [`SimulatedProvider`] stands in for a real one.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SubsecRound, Utc};
use platform::ApiError;
use platform::auth::Claims;
use platform::inflight::{Check, InFlight, Waited};
use shared_types::{EventId, OrderId, PaymentId};

use crate::config::Settings;
use crate::models::{ChargeRequest, InvalidCharge, Payment, PaymentStatus};
use crate::repository::{Claimed, Delivery, PaymentRepository, RepositoryError};

/// The consumer group of this service: its subscriptions (`events`) and the inbox that
/// remembers the events it has applied.
pub const GROUP: &str = "payment-service";

/// How often a waiting duplicate re-reads a pending payment, in case it settles in another
/// replica (whose wake-up this process cannot see).
const PENDING_POLL: Duration = Duration::from_millis(50);

/// The provider's answer to a charge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderDecision {
    Approved,
    Declined { reason: String },
}

/// A payment provider (card processor).
///
/// Providers are idempotent per key (as real card processors are): asked again with the
/// same `payment.idempotency_key`, they answer the first decision and charge nothing more.
/// The service relies on it: a charge abandoned while pending (its replica crashed) is asked
/// again, with the same key, by whoever takes it over.
#[async_trait]
pub trait PaymentProvider: Send + Sync {
    /// Asks the provider to charge `payment.amount` under `payment.idempotency_key`; normally
    /// called once per payment, again only for an abandoned one.
    async fn charge(&self, payment: &Payment) -> ProviderDecision;
}

/// A provider simulation: answers after a latency, declines amounts over a limit, and
/// declines a configured fraction of the rest "at random" — the roll is derived from the
/// idempotency key, so like a real provider it answers a repeated key with the same decision
/// (even across restarts), while distinct keys are declined at the configured rate.
#[derive(Debug, Clone)]
pub struct SimulatedProvider {
    pub latency: Duration,
    pub failure_rate: f64,
    pub decline_over_minor: i64,
}

impl SimulatedProvider {
    #[must_use]
    pub fn from_settings(settings: &Settings) -> Self {
        Self {
            latency: Duration::from_millis(settings.provider_latency_ms),
            failure_rate: settings.provider_failure_rate,
            decline_over_minor: settings.provider_decline_over_minor,
        }
    }

    /// The decision for `payment`, given a uniform random `roll` in `[0, 1)`.
    #[must_use]
    pub fn decide(&self, payment: &Payment, roll: f64) -> ProviderDecision {
        if payment.amount.amount_minor > self.decline_over_minor {
            ProviderDecision::Declined {
                reason: format!("amount {} exceeds the card limit", payment.amount),
            }
        } else if roll < self.failure_rate {
            ProviderDecision::Declined {
                reason: "card declined by issuer".to_owned(),
            }
        } else {
            ProviderDecision::Approved
        }
    }
}

#[async_trait]
impl PaymentProvider for SimulatedProvider {
    async fn charge(&self, payment: &Payment) -> ProviderDecision {
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
        self.decide(payment, key_roll(&payment.idempotency_key))
    }
}

/// A uniform-looking fraction in `[0, 1)` that depends only on `key` (64-bit FNV-1a, stable
/// across processes and releases).
#[must_use]
pub fn key_roll(key: &str) -> f64 {
    let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    // The top 53 bits, exactly representable as an f64.
    #[allow(clippy::cast_precision_loss)]
    let roll = (hash >> 11) as f64 / (1_u64 << 53) as f64;
    roll
}

/// Why a charge was not made (a decline is not an error: it is a failed payment).
#[derive(Debug, thiserror::Error)]
pub enum ChargeError {
    #[error(transparent)]
    Invalid(#[from] InvalidCharge),
    #[error("idempotency key `{0}` was already used for a different charge")]
    KeyReused(String),
    #[error("order {0} is cancelled; it cannot be charged")]
    OrderCancelled(OrderId),
    #[error("a charge with idempotency key `{0}` is still being processed; retry later")]
    InProgress(String),
    #[error(transparent)]
    Storage(#[from] RepositoryError),
    #[error("the charge task failed: {0}")]
    Task(String),
}

/// The payment a charge request resolved to, and whether this call made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charge {
    pub payment: Payment,
    /// True only for the call that asked the provider; retries get `false`.
    pub fresh: bool,
}

fn storage(err: RepositoryError) -> ApiError {
    match err {
        RepositoryError::NotFound(id) => ApiError::not_found(format!("payment {id} not found")),
        RepositoryError::Refund(refund) => ApiError::conflict(refund.to_string()),
        RepositoryError::AlreadySettled(_) | RepositoryError::Unavailable(_) => {
            ApiError::internal(err)
        }
    }
}

/// Why compensating a cancelled order failed; the bus retries.
#[derive(Debug, thiserror::Error)]
pub enum RefundOrderError {
    #[error(transparent)]
    Charge(#[from] ChargeError),
    #[error(transparent)]
    Storage(#[from] RepositoryError),
}

/// The current time, to the microsecond (what `PostgreSQL` keeps), so both stores answer the
/// same timestamps.
fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// The payment use cases. Cloning shares everything.
#[derive(Clone)]
pub struct PaymentService {
    repo: Arc<dyn PaymentRepository>,
    provider: Arc<dyn PaymentProvider>,
    in_flight: Arc<InFlight<PaymentId>>,
    duplicate_wait: Duration,
}

impl PaymentService {
    #[must_use]
    pub fn new(
        repo: Arc<dyn PaymentRepository>,
        provider: Arc<dyn PaymentProvider>,
        duplicate_wait: Duration,
    ) -> Self {
        Self {
            repo,
            provider,
            in_flight: Arc::new(InFlight::new(PENDING_POLL)),
            duplicate_wait,
        }
    }

    /// Charges a reserved order exactly once per idempotency key (the order id), and stores
    /// the outcome together with its announcement, `payment.succeeded` or `payment.failed`.
    /// The key is claimed with a pending payment before the provider is asked, so a concurrent
    /// or later duplicate — in this replica or another — gets the same payment (after waiting
    /// for it to settle), the provider is called once and only the call that charged
    /// announces.
    pub async fn charge_order(&self, request: ChargeRequest) -> Result<Charge, ChargeError> {
        request.validate()?;
        match self.repo.claim(Payment::pending(&request, now())).await? {
            Claimed::OrderCancelled => Err(ChargeError::OrderCancelled(request.order_id)),
            Claimed::Existing(payment) => {
                if !payment.answers(&request) {
                    return Err(ChargeError::KeyReused(request.idempotency_key));
                }
                let payment = self.settled(payment).await?;
                Ok(Charge {
                    payment,
                    fresh: false,
                })
            }
            Claimed::New(pending) => {
                // Finish even if the caller goes away, so the payment never stays pending.
                let this = self.clone();
                tokio::spawn(async move { this.ask_provider(pending).await })
                    .await
                    .map_err(|err| ChargeError::Task(err.to_string()))?
            }
        }
    }

    async fn ask_provider(&self, pending: Payment) -> Result<Charge, ChargeError> {
        let id = pending.id;
        let status = match self.provider.charge(&pending).await {
            ProviderDecision::Approved => PaymentStatus::Succeeded,
            ProviderDecision::Declined { reason } => PaymentStatus::Failed { reason },
        };
        let at = now();
        let outcome = Payment {
            status: status.clone(),
            updated_at: at,
            ..pending
        };
        let events: Vec<_> = outcome.outcome_event().into_iter().collect();
        let settled = self.repo.settle(id, status, at, &events).await;
        self.in_flight.finished(&id);
        let payment = match settled {
            Ok(payment) => payment,
            // Taken over by another caller after a long stall, which settled first (with the
            // provider's same decision for the same key): answer what it stored.
            Err(RepositoryError::AlreadySettled(_)) => {
                let payment = self
                    .repo
                    .get(id)
                    .await?
                    .ok_or(RepositoryError::NotFound(id))?;
                return Ok(Charge {
                    payment,
                    fresh: false,
                });
            }
            Err(err) => return Err(err.into()),
        };
        tracing::info!(
            payment_id = %id,
            order_id = %payment.order_id,
            status = payment.status.name(),
            "charge settled"
        );
        Ok(Charge {
            payment,
            fresh: true,
        })
    }

    /// `payment` once it is no longer pending, waiting up to the configured bound.
    async fn settled(&self, payment: Payment) -> Result<Payment, ChargeError> {
        if !payment.is_pending() {
            return Ok(payment);
        }
        let id = payment.id;
        let waited = self
            .in_flight
            .wait_for(&id, self.duplicate_wait, || async {
                let current = self
                    .repo
                    .get(id)
                    .await?
                    .ok_or(RepositoryError::NotFound(id))?;
                Ok::<_, ChargeError>(if current.is_pending() {
                    Check::InProgress(current)
                } else {
                    Check::Done(current)
                })
            })
            .await?;
        match waited {
            Waited::Done(settled) => Ok(settled),
            Waited::TimedOut(pending) => Err(ChargeError::InProgress(pending.idempotency_key)),
        }
    }

    /// The payment, if `caller` may see it (its payer or an admin).
    pub async fn get(&self, caller: &Claims, id: PaymentId) -> Result<Payment, ApiError> {
        let payment = self
            .repo
            .get(id)
            .await
            .map_err(storage)?
            .ok_or_else(|| ApiError::not_found(format!("payment {id} not found")))?;
        if !caller.may_act_for(payment.user_id) {
            return Err(ApiError::forbidden("this payment belongs to another user"));
        }
        Ok(payment)
    }

    /// The payments of an order, if `caller` may see them all (their payer or an admin).
    pub async fn list_for_order(
        &self,
        caller: &Claims,
        order_id: OrderId,
    ) -> Result<Vec<Payment>, ApiError> {
        let payments = self.repo.list_for_order(order_id).await.map_err(storage)?;
        if payments.iter().any(|p| !caller.may_act_for(p.user_id)) {
            return Err(ApiError::forbidden("this order belongs to another user"));
        }
        Ok(payments)
    }

    /// Refunds a succeeded payment once, with its `payment.refunded`; a second refund (or a
    /// payment that never succeeded) is a 409.
    pub async fn refund(&self, id: PaymentId) -> Result<Payment, ApiError> {
        let payment = self.repo.refund(id, now()).await.map_err(storage)?;
        tracing::info!(payment_id = %payment.id, order_id = %payment.order_id, "payment refunded");
        Ok(payment)
    }

    /// Compensation for a cancelled order: no charge for it goes through any more, each
    /// succeeded payment is refunded once (with its `payment.refunded`), and a charge still at
    /// the provider is refunded by the repository when it settles as a success — so this never
    /// waits for charges in flight. `delivered` is the id of the consumed `order.cancelled`: a
    /// redelivery of it refunds nothing. Returns the payments refunded by this call.
    pub async fn refund_order(
        &self,
        order_id: OrderId,
        delivered: Option<EventId>,
    ) -> Result<Vec<Payment>, RefundOrderError> {
        self.repo.mark_order_cancelled(order_id).await?;
        let delivery = delivered.map(|event_id| Delivery {
            consumer: GROUP,
            event_id,
        });
        let refunded = self.repo.refund_order(order_id, now(), delivery).await?;
        for payment in &refunded {
            tracing::info!(payment_id = %payment.id, %order_id, "payment refunded");
        }
        Ok(refunded)
    }
}

#[cfg(test)]
mod tests {
    use shared_types::{Currency, Money, UserId};

    use super::*;

    fn payment(amount_minor: i64) -> Payment {
        Payment::pending(
            &ChargeRequest {
                idempotency_key: "k".into(),
                order_id: OrderId::new(),
                user_id: UserId::new(),
                amount: Money::new(amount_minor, Currency::Usd),
            },
            Utc::now(),
        )
    }

    fn provider(failure_rate: f64) -> SimulatedProvider {
        SimulatedProvider {
            latency: Duration::ZERO,
            failure_rate,
            decline_over_minor: 1_000,
        }
    }

    #[test]
    fn the_simulated_provider_declines_over_its_limit_whatever_the_roll() {
        assert_eq!(
            provider(0.0).decide(&payment(1_000), 0.99),
            ProviderDecision::Approved
        );
        assert!(matches!(
            provider(0.0).decide(&payment(1_001), 0.99),
            ProviderDecision::Declined { reason } if reason.contains("10.01 USD")
        ));
    }

    #[test]
    fn the_simulated_provider_declines_the_configured_fraction() {
        assert!(matches!(
            provider(0.25).decide(&payment(10), 0.2),
            ProviderDecision::Declined { .. }
        ));
        assert_eq!(
            provider(0.25).decide(&payment(10), 0.3),
            ProviderDecision::Approved
        );
        assert_eq!(
            provider(0.0).decide(&payment(10), 0.0),
            ProviderDecision::Approved
        );
        assert!(matches!(
            provider(1.0).decide(&payment(10), 0.999_999),
            ProviderDecision::Declined { .. }
        ));
    }

    #[test]
    fn the_simulated_provider_rolls_the_same_for_a_repeated_key() {
        assert_eq!(key_roll("order-1").to_bits(), key_roll("order-1").to_bits());
        let rolls: Vec<f64> = (0..1_000).map(|n| key_roll(&format!("k{n}"))).collect();
        assert!(rolls.iter().all(|roll| (0.0..1.0).contains(roll)));
        let below_half = rolls.iter().filter(|roll| **roll < 0.5).count();
        assert!(
            (400..600).contains(&below_half),
            "{below_half} of 1000 below 0.5"
        );
    }
}
