//! Settings of the inventory service beyond the platform's `ServiceConfig`.

use platform::config::{AppEnv, ConfigError, env_or};
use platform::db::Database;

/// What the inventory service needs to know; it calls no other unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Load stock for the demo catalogue at start-up, for products without stock yet
    /// (`INVENTORY_SERVICE_SEED`; from the environment, on only in development).
    pub seed: bool,
    /// Where to store stock (`DATABASE_URL` and the platform's pool variables); `None` keeps it
    /// in memory.
    pub database: Option<Database>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            seed: true,
            database: None,
        }
    }
}

impl Settings {
    /// Reads `INVENTORY_SERVICE_SEED` and the database variables.
    pub fn from_env(env: AppEnv) -> Result<Self, ConfigError> {
        Ok(Self {
            seed: env_or("INVENTORY_SERVICE_SEED", env.is_development())?,
            database: Database::from_env(env)?,
        })
    }
}
