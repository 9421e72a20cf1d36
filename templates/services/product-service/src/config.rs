//! Settings of the product service beyond the platform's `ServiceConfig`.

use platform::config::{AppEnv, ConfigError, env_or};
use platform::db::Database;
use platform::topology::INVENTORY_SERVICE;

/// What the product service needs to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Load the demo catalogue at start-up (`PRODUCT_SERVICE_SEED`; from the environment, on only in development).
    pub seed: bool,
    /// Where the inventory service listens (`INVENTORY_SERVICE_URL`, default localhost:8007).
    pub inventory_url: String,
    /// The `PostgreSQL` that stores the catalogue (`DATABASE_URL`); `None` keeps it in memory.
    pub database: Option<Database>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            seed: true,
            inventory_url: INVENTORY_SERVICE.base_url(),
            database: None,
        }
    }
}

impl Settings {
    /// Reads `PRODUCT_SERVICE_SEED` and the database settings (`DATABASE_URL`, see
    /// [`Database::from_env`]).
    pub fn from_env(env: AppEnv) -> Result<Self, ConfigError> {
        let defaults = Self::default();
        Ok(Self {
            seed: env_or("PRODUCT_SERVICE_SEED", env.is_development())?,
            inventory_url: defaults.inventory_url,
            database: Database::from_env(env)?,
        })
    }
}
