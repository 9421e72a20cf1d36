//! Settings of the payment service, from `PAYMENT_SERVICE_*` variables (and the `DATABASE_*`
//! variables of `platform::db`).

use std::time::Duration;

use platform::config::{AppEnv, ConfigError, env_or};
use platform::db::Database;

/// What the payment service needs beyond the common `ServiceConfig`: the behaviour of the
/// simulated payment provider, and where payments are stored.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How long the provider takes to answer (`PAYMENT_SERVICE_PROVIDER_LATENCY_MS`, 50).
    pub provider_latency_ms: u64,
    /// Fraction of charges the provider declines at random, in `[0, 1]`
    /// (`PAYMENT_SERVICE_PROVIDER_FAILURE_RATE`, 0.0).
    pub provider_failure_rate: f64,
    /// Charges above this many minor units are always declined
    /// (`PAYMENT_SERVICE_PROVIDER_DECLINE_OVER_MINOR`, 1 000 000 = 10,000.00).
    pub provider_decline_over_minor: i64,
    /// How long a duplicate charge waits for the first one with its key to settle before
    /// answering 409 (`PAYMENT_SERVICE_DUPLICATE_WAIT_MS`, 10 000).
    pub duplicate_wait: Duration,
    /// How long a pending payment's charge holds it on `PostgreSQL`: a payment pending for
    /// longer (its replica crashed while asking the provider) is taken over by the next charge
    /// with its key (`PAYMENT_SERVICE_PENDING_LEASE_MS`, 30 000).
    pub pending_lease: Duration,
    /// The `PostgreSQL` database (`DATABASE_URL`, with `DATABASE_MAX_CONNECTIONS` and
    /// `DATABASE_ACQUIRE_TIMEOUT_MS`); `None` keeps payments in memory.
    pub database: Option<Database>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            provider_latency_ms: 50,
            provider_failure_rate: 0.0,
            provider_decline_over_minor: 1_000_000,
            duplicate_wait: Duration::from_secs(10),
            pending_lease: Duration::from_secs(30),
            database: None,
        }
    }
}

/// The variable naming the payment provider. This build has one, `simulated`, which charges
/// no card: production must name it, so nobody takes real orders on it without deciding to.
pub const PROVIDER: &str = "PAYMENT_SERVICE_PROVIDER";

/// Checks `PAYMENT_SERVICE_PROVIDER` (`value`) for `env`: unset is fine in development only,
/// and `simulated` is the only provider there is.
fn check_provider(env: AppEnv, value: Option<String>) -> Result<(), ConfigError> {
    let value = value
        .map(|value| value.trim().to_owned())
        .filter(|v| !v.is_empty());
    match env.require(
        PROVIDER,
        value,
        "the payment provider; `simulated` charges no card, so set it knowingly",
    )? {
        None => Ok(()),
        Some(name) if name == "simulated" => Ok(()),
        Some(name) => Err(ConfigError {
            key: PROVIDER.to_owned(),
            value: name,
            reason: "is not a provider of this build: only `simulated`; connect your card processor behind `service::PaymentProvider` and name it here".to_owned(),
        }),
    }
}

impl Settings {
    /// Reads the settings from the environment; unset variables keep their defaults.
    /// Production needs `PAYMENT_SERVICE_PROVIDER=simulated` stated (see [`PROVIDER`]).
    pub fn from_env(env: AppEnv) -> Result<Self, ConfigError> {
        check_provider(env, std::env::var(PROVIDER).ok())?;
        let defaults = Self::default();
        Self {
            provider_latency_ms: env_or(
                "PAYMENT_SERVICE_PROVIDER_LATENCY_MS",
                defaults.provider_latency_ms,
            )?,
            provider_failure_rate: env_or(
                "PAYMENT_SERVICE_PROVIDER_FAILURE_RATE",
                defaults.provider_failure_rate,
            )?,
            provider_decline_over_minor: env_or(
                "PAYMENT_SERVICE_PROVIDER_DECLINE_OVER_MINOR",
                defaults.provider_decline_over_minor,
            )?,
            duplicate_wait: Duration::from_millis(env_or(
                "PAYMENT_SERVICE_DUPLICATE_WAIT_MS",
                u64::try_from(defaults.duplicate_wait.as_millis()).unwrap_or(u64::MAX),
            )?),
            pending_lease: Duration::from_millis(env_or(
                "PAYMENT_SERVICE_PENDING_LEASE_MS",
                u64::try_from(defaults.pending_lease.as_millis()).unwrap_or(u64::MAX),
            )?),
            database: Database::from_env(env)?,
        }
        .validated()
    }

    /// These settings, if they make sense: the failure rate is a probability.
    pub fn validated(self) -> Result<Self, ConfigError> {
        if !(0.0..=1.0).contains(&self.provider_failure_rate) {
            return Err(ConfigError {
                key: "PAYMENT_SERVICE_PROVIDER_FAILURE_RATE".to_owned(),
                value: self.provider_failure_rate.to_string(),
                reason: "must be between 0 and 1".to_owned(),
            });
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn production_names_the_provider_and_only_the_simulated_one_exists() {
        let err = check_provider(AppEnv::Production, None).unwrap_err();
        assert!(err.to_string().contains(PROVIDER), "{err}");
        assert!(check_provider(AppEnv::Production, Some("simulated".into())).is_ok());
        assert!(check_provider(AppEnv::Development, None).is_ok());
        let err = check_provider(AppEnv::Development, Some("stripe".into())).unwrap_err();
        assert!(err.to_string().contains("only `simulated`"), "{err}");
    }

    #[test]
    fn a_failure_rate_outside_zero_to_one_is_refused() {
        assert!(Settings::default().validated().is_ok());
        for rate in [-0.1, 1.5, f64::NAN] {
            let settings = Settings {
                provider_failure_rate: rate,
                ..Settings::default()
            };
            assert!(settings.validated().is_err(), "{rate}");
        }
    }
}
