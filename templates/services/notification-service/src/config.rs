//! Service-specific settings, read from `NOTIFICATION_SERVICE_*` environment variables.

use platform::config::{AppEnv, ConfigError, env_or};
use platform::db::Database;

/// Largest page a client may ask for unless `NOTIFICATION_SERVICE_MAX_PER_PAGE` says
/// otherwise; the API document states this one.
pub const DEFAULT_MAX_PER_PAGE: u32 = 100;

/// Everything the notification service needs beyond [`platform::ServiceConfig`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Page size when the client does not ask for one.
    pub default_per_page: u32,
    /// Largest page a client may ask for.
    pub max_per_page: u32,
    /// The `PostgreSQL` that stores notifications and the inbox (`DATABASE_URL`); `None` keeps
    /// them in memory.
    pub database: Option<Database>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            default_per_page: 20,
            max_per_page: DEFAULT_MAX_PER_PAGE,
            database: None,
        }
    }
}

impl Settings {
    /// Reads `NOTIFICATION_SERVICE_DEFAULT_PER_PAGE`, `NOTIFICATION_SERVICE_MAX_PER_PAGE` and
    /// the database settings (`DATABASE_URL`, see [`Database::from_env`]).
    pub fn from_env(env: AppEnv) -> Result<Self, ConfigError> {
        let defaults = Self::default();
        let settings = Self {
            default_per_page: env_or(
                "NOTIFICATION_SERVICE_DEFAULT_PER_PAGE",
                defaults.default_per_page,
            )?,
            max_per_page: env_or("NOTIFICATION_SERVICE_MAX_PER_PAGE", defaults.max_per_page)?,
            database: Database::from_env(env)?,
        };
        if settings.default_per_page == 0 || settings.default_per_page > settings.max_per_page {
            return Err(ConfigError {
                key: "NOTIFICATION_SERVICE_DEFAULT_PER_PAGE".to_owned(),
                value: settings.default_per_page.to_string(),
                reason: format!("must be between 1 and {}", settings.max_per_page),
            });
        }
        Ok(settings)
    }
}
