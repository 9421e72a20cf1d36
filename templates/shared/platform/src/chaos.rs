//! Chaos injection, off by default: added latency and a failure rate per unit, to rehearse
//! timeouts, retries, circuit breakers and saga compensation before production does it for
//! you. `CHAOS_PROFILE=realistic` applies the documented latencies of a real deployment;
//! `<PREFIX>_CHAOS_LATENCY_MS` and `<PREFIX>_CHAOS_FAILURE_RATE` set one unit (read with the
//! rest of the configuration, in `config`).

use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// Latency and failure rate injected into one unit's API routes.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ChaosConfig {
    pub latency: Duration,
    /// Fraction of requests answered with 503, in `[0, 1]`.
    pub failure_rate: f64,
}

/// The `realistic` profile: (unit, latency in ms, failure rate).
pub const REALISTIC: &[(&str, u64, f64)] = &[
    ("user-service", 100, 0.0),
    ("product-service", 80, 0.0),
    ("cart-service", 60, 0.0),
    ("order-service", 300, 0.0),
    ("payment-service", 500, 0.03),
    ("inventory-service", 30, 0.0),
];

impl ChaosConfig {
    /// The `realistic` profile's entry for `unit`, or nothing for units it does not list.
    #[must_use]
    pub fn realistic(unit: &str) -> Self {
        REALISTIC
            .iter()
            .find(|(name, _, _)| *name == unit)
            .map_or_else(Self::default, |&(_, ms, rate)| Self {
                latency: Duration::from_millis(ms),
                failure_rate: rate,
            })
    }

    /// Whether this injects anything.
    #[must_use]
    pub fn is_active(&self) -> bool {
        !self.latency.is_zero() || self.failure_rate > 0.0
    }
}

/// Middleware: waits `latency`, then fails `failure_rate` of requests with 503.
pub async fn inject(State(chaos): State<ChaosConfig>, request: Request, next: Next) -> Response {
    if !chaos.latency.is_zero() {
        tokio::time::sleep(chaos.latency).await;
    }
    if chaos.failure_rate > 0.0 && crate::random_fraction() < chaos.failure_rate {
        return ApiError::unavailable("injected failure (chaos)").into_response();
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology;

    #[test]
    fn the_realistic_profile_slows_payment_and_makes_it_fail_sometimes() {
        let payment = ChaosConfig::realistic(topology::PAYMENT_SERVICE.name);
        assert_eq!(payment.latency, Duration::from_millis(500));
        assert!((payment.failure_rate - 0.03).abs() < f64::EPSILON);
        assert!(!ChaosConfig::realistic(topology::API_GATEWAY.name).is_active());
    }
}
