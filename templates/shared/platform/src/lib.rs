//! The platform every unit runs on: configuration from the environment, the topology of the
//! system, structured logs, problem+json errors, health and readiness, Prometheus metrics,
//! JWT authentication, service-to-service calls, chaos injection, server boot with graceful
//! shutdown, and `PostgreSQL` plumbing (pool, migrations, transactional outbox, inbox). Services add routes and domain logic; everything else is here once.

pub mod auth;
pub mod bus;
pub mod chaos;
pub mod client;
pub mod config;
pub mod db;
pub mod dead_letters;
pub mod error;
pub mod health;
pub mod inbox;
pub mod inflight;
pub mod metrics;
pub mod outbox;
pub mod retention;
pub mod server;
pub mod telemetry;
pub mod topology;

pub use config::ServiceConfig;
pub use error::{ApiError, PROBLEM_JSON};

/// A uniformly distributed number in `[0, 1)`, from the operating system's randomness.
#[must_use]
pub fn random_fraction() -> f64 {
    // 53 random bits are exactly what an f64 mantissa holds.
    #[allow(clippy::cast_precision_loss, reason = "53 bits fit an f64 exactly")]
    let fraction = (uuid::Uuid::new_v4().as_u128() >> 75) as f64 / (1u64 << 53) as f64;
    fraction
}
