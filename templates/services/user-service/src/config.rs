//! Service-specific settings, read from `USER_SERVICE_*` environment variables.

use std::time::Duration;

use platform::config::{ConfigError, env_or};
use platform::db::Database;

use crate::models::Email;

/// Cost of argon2id password hashing. The defaults are OWASP's recommendation
/// (19 MiB, 2 passes, 1 lane); tests lower them so a hash takes microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashingCost {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for HashingCost {
    fn default() -> Self {
        Self {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
        }
    }
}

impl HashingCost {
    /// The cheapest parameters argon2 accepts: for tests only, never for real passwords.
    #[must_use]
    pub const fn insecure_for_tests() -> Self {
        Self {
            memory_kib: 8,
            iterations: 1,
            parallelism: 1,
        }
    }
}

/// Everything the user service needs beyond [`platform::ServiceConfig`].
#[derive(Debug, Clone)]
pub struct Settings {
    /// Emails that register as admins (normalised); everyone else is a customer.
    pub admin_emails: Vec<Email>,
    /// How long a refresh token is usable.
    pub refresh_token_ttl: Duration,
    /// How long a password-reset token is usable.
    pub reset_token_ttl: Duration,
    /// argon2id cost.
    pub hashing: HashingCost,
    /// The `PostgreSQL` that stores accounts (`DATABASE_URL`); `None` keeps them in memory.
    pub database: Option<Database>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            admin_emails: Vec::new(),
            refresh_token_ttl: Duration::from_secs(7 * 24 * 60 * 60),
            reset_token_ttl: Duration::from_secs(30 * 60),
            hashing: HashingCost::default(),
            database: None,
        }
    }
}

impl Settings {
    /// Reads `USER_SERVICE_ADMIN_EMAILS` (comma-separated), `USER_SERVICE_REFRESH_TOKEN_TTL_SECS`,
    /// `USER_SERVICE_RESET_TOKEN_TTL_SECS`, `USER_SERVICE_ARGON2_{MEMORY_KIB,ITERATIONS,PARALLELISM}`
    /// and the database settings (`DATABASE_URL`, see [`Database::from_env`]).
    pub fn from_env() -> Result<Self, ConfigError> {
        let defaults = Self::default();
        let admins: String = env_or("USER_SERVICE_ADMIN_EMAILS", String::new())?;
        let admin_emails = parse_admin_emails(&admins).map_err(|reason| ConfigError {
            key: "USER_SERVICE_ADMIN_EMAILS".to_owned(),
            value: admins.clone(),
            reason,
        })?;
        Ok(Self {
            admin_emails,
            refresh_token_ttl: Duration::from_secs(env_or(
                "USER_SERVICE_REFRESH_TOKEN_TTL_SECS",
                defaults.refresh_token_ttl.as_secs(),
            )?),
            reset_token_ttl: Duration::from_secs(env_or(
                "USER_SERVICE_RESET_TOKEN_TTL_SECS",
                defaults.reset_token_ttl.as_secs(),
            )?),
            hashing: HashingCost {
                memory_kib: env_or(
                    "USER_SERVICE_ARGON2_MEMORY_KIB",
                    defaults.hashing.memory_kib,
                )?,
                iterations: env_or(
                    "USER_SERVICE_ARGON2_ITERATIONS",
                    defaults.hashing.iterations,
                )?,
                parallelism: env_or(
                    "USER_SERVICE_ARGON2_PARALLELISM",
                    defaults.hashing.parallelism,
                )?,
            },
            database: Database::from_env()?,
        })
    }

    /// Whether `email` registers as an admin.
    #[must_use]
    pub fn is_admin_email(&self, email: &Email) -> bool {
        self.admin_emails.contains(email)
    }
}

/// Parses a comma-separated list of emails, skipping empty entries.
pub fn parse_admin_emails(list: &str) -> Result<Vec<Email>, String> {
    list.split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| Email::parse(entry).map_err(|err| format!("`{entry}`: {err}")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_emails_are_a_normalised_comma_separated_list() {
        let admins = parse_admin_emails(" Ops@Example.com, ,root@example.org ").unwrap();
        assert_eq!(
            admins,
            vec![
                Email::parse("ops@example.com").unwrap(),
                Email::parse("root@example.org").unwrap()
            ]
        );
        assert!(parse_admin_emails("not-an-email").is_err());
        assert!(parse_admin_emails("").unwrap().is_empty());
    }
}
