//! Settings of the inventory service beyond the platform's `ServiceConfig`.

use platform::config::{ConfigError, env_or};

/// What the inventory service needs to know; it calls no other unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Load stock for the demo catalogue at start-up (`INVENTORY_SERVICE_SEED`, default `true`).
    pub seed: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self { seed: true }
    }
}

impl Settings {
    /// Reads `INVENTORY_SERVICE_SEED`.
    pub fn from_env() -> Result<Self, ConfigError> {
        let defaults = Self::default();
        Ok(Self {
            seed: env_or("INVENTORY_SERVICE_SEED", defaults.seed)?,
        })
    }
}
