//! Configuration from the environment, with defaults that run locally. Every variable is
//! prefixed by the unit's `env_prefix` where it differs per unit, so the devstack can run all
//! units in one process.

use std::fmt::Display;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::str::FromStr;

use crate::chaos::ChaosConfig;
use crate::topology::Unit;

/// A variable that is unusable, or missing where it is required (`value` empty).
#[derive(Debug)]
pub struct ConfigError {
    pub key: String,
    pub value: String,
    pub reason: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.value.is_empty() {
            write!(f, "environment variable `{}` is {}", self.key, self.reason)
        } else {
            write!(
                f,
                "environment variable `{}` = `{}`: {}",
                self.key, self.value, self.reason
            )
        }
    }
}

impl std::error::Error for ConfigError {}

/// `key` parsed as `T`, or `default` when unset.
pub fn env_or<T>(key: &str, default: T) -> Result<T, ConfigError>
where
    T: FromStr,
    T::Err: Display,
{
    match std::env::var(key) {
        Ok(value) => value.trim().parse().map_err(|err: T::Err| ConfigError {
            key: key.to_owned(),
            reason: err.to_string(),
            value,
        }),
        Err(_) => Ok(default),
    }
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line, for log shippers.
    Json,
    /// Human-readable lines, for a terminal.
    Pretty,
}

impl FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "json" => Ok(Self::Json),
            "pretty" => Ok(Self::Pretty),
            other => Err(format!("`{other}` is not one of: `json`, `pretty`")),
        }
    }
}

/// Which defaults a unit starts with (`APP_ENV`). Production is the default, so a deployment
/// that forgets a setting fails at start-up instead of running with a laptop's conveniences;
/// development has to be asked for (the devstack asks for it, compose sets it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppEnv {
    /// `APP_ENV=production` or unset: every secret and store must be configured, demo data is
    /// off, CORS allows only the listed origins.
    Production,
    /// `APP_ENV=development`: the development signing secret, in-memory storage and bus, demo
    /// data and any CORS origin, each announced in the start-up log.
    Development,
}

/// The variable naming the [`AppEnv`].
pub const APP_ENV: &str = "APP_ENV";

impl AppEnv {
    /// `APP_ENV`, or `default` when it is unset or blank.
    pub fn from_env_or(default: Self) -> Result<Self, ConfigError> {
        match std::env::var(APP_ENV) {
            Ok(value) if !value.trim().is_empty() => value.parse().map_err(|reason| ConfigError {
                key: APP_ENV.to_owned(),
                value,
                reason,
            }),
            _ => Ok(default),
        }
    }

    #[must_use]
    pub fn is_development(self) -> bool {
        self == Self::Development
    }

    /// `value`, or in development `None` with a note of the fallback; in production a missing
    /// `key` is an error that says what it is for and how to run without it.
    pub fn require<T>(
        self,
        key: &str,
        value: Option<T>,
        purpose: &str,
    ) -> Result<Option<T>, ConfigError> {
        match (value, self) {
            (Some(value), _) => Ok(Some(value)),
            (None, Self::Development) => Ok(None),
            (None, Self::Production) => Err(ConfigError {
                key: key.to_owned(),
                value: String::new(),
                reason: format!(
                    "unset, and production needs it ({purpose}): set it, or set {APP_ENV}=development to run without it"
                ),
            }),
        }
    }
}

impl FromStr for AppEnv {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "production" => Ok(Self::Production),
            "development" => Ok(Self::Development),
            other => Err(format!(
                "`{other}` is not one of: `production`, `development`"
            )),
        }
    }
}

/// The secret that signs tokens in development when `JWT_SECRET` is unset. It is public (it is
/// in this file), so production refuses to start with it or without a secret.
pub const DEV_JWT_SECRET: &str = "dev-only-secret-change-me-in-every-real-deployment";

/// The shortest `JWT_SECRET` production accepts: 32 bytes, the output size of HS256's SHA-256
/// (RFC 7518 §3.2 requires a key at least that long).
pub const MIN_JWT_SECRET_BYTES: usize = 32;

/// The signing secret from `JWT_SECRET` (`value`) for `env`.
fn jwt_secret(env: AppEnv, value: Option<String>) -> Result<String, ConfigError> {
    let refuse = |value: String, reason: &str| ConfigError {
        key: "JWT_SECRET".to_owned(),
        value: if value.is_empty() {
            value
        } else {
            "<hidden>".to_owned()
        },
        reason: reason.to_owned(),
    };
    match (env, value.filter(|value| !value.is_empty())) {
        (AppEnv::Development, None) => Ok(DEV_JWT_SECRET.to_owned()),
        (AppEnv::Production, None) => Err(refuse(
            String::new(),
            "unset, and production needs a signing secret: set it to at least 32 random bytes (e.g. `openssl rand -base64 48`), or set APP_ENV=development to use the public development secret",
        )),
        (AppEnv::Production, Some(secret)) if secret == DEV_JWT_SECRET => Err(refuse(
            secret,
            "is the public development secret; production needs a secret of its own",
        )),
        (AppEnv::Production, Some(secret)) if secret.len() < MIN_JWT_SECRET_BYTES => Err(refuse(
            secret,
            "is shorter than 32 bytes; production needs at least 32 random bytes",
        )),
        (_, Some(secret)) => Ok(secret),
    }
}

/// What a unit needs to start.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    pub unit: Unit,
    pub bind: SocketAddr,
    pub log_format: LogFormat,
    /// Which defaults apply (`APP_ENV`).
    pub env: AppEnv,
    pub jwt_secret: String,
    pub chaos: ChaosConfig,
}

impl ServiceConfig {
    /// Reads `APP_ENV` (default production), `HOST`, `<PREFIX>_PORT`, `LOG_FORMAT`,
    /// `JWT_SECRET` and the chaos variables. Timeouts and retries of calls to other units are
    /// not configuration: they come from the architecture model (`topology::CALLS`, used by
    /// `client::ServiceClient::for_call`).
    pub fn from_env(unit: Unit) -> Result<Self, ConfigError> {
        Self::from_env_in(unit, AppEnv::from_env_or(AppEnv::Production)?)
    }

    /// Like [`ServiceConfig::from_env`] with `env` already settled (the devstack defaults to
    /// development).
    pub fn from_env_in(unit: Unit, env: AppEnv) -> Result<Self, ConfigError> {
        let host: IpAddr = env_or("HOST", IpAddr::V4(Ipv4Addr::LOCALHOST))?;
        let port = env_or(&format!("{}_PORT", unit.env_prefix), unit.port)?;
        Ok(Self {
            unit,
            bind: SocketAddr::new(host, port),
            log_format: env_or("LOG_FORMAT", LogFormat::Pretty)?,
            env,
            jwt_secret: jwt_secret(env, std::env::var("JWT_SECRET").ok())?,
            chaos: ChaosConfig::from_env(unit)?,
        })
    }

    /// Defaults only, ignoring the environment: for tests.
    #[must_use]
    pub fn for_tests(unit: Unit) -> Self {
        Self {
            unit,
            bind: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            log_format: LogFormat::Pretty,
            env: AppEnv::Development,
            jwt_secret: DEV_JWT_SECRET.to_owned(),
            chaos: ChaosConfig::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_env_is_production_unless_development_is_named() {
        assert_eq!("production".parse(), Ok(AppEnv::Production));
        assert_eq!("development".parse(), Ok(AppEnv::Development));
        let err = "dev".parse::<AppEnv>().unwrap_err();
        assert!(err.contains("`development`"), "{err}");
    }

    #[test]
    fn production_refuses_a_missing_public_or_short_jwt_secret() {
        for (value, says) in [
            (None, "unset"),
            (Some(String::new()), "unset"),
            (Some(DEV_JWT_SECRET.to_owned()), "public development secret"),
            (Some("short-secret".to_owned()), "shorter than 32 bytes"),
        ] {
            let err = jwt_secret(AppEnv::Production, value).unwrap_err();
            assert!(err.to_string().contains(says), "{err}");
            assert!(
                !err.to_string().contains("short-secret"),
                "the secret is not echoed: {err}"
            );
        }
        let strong = "k".repeat(MIN_JWT_SECRET_BYTES);
        assert_eq!(
            jwt_secret(AppEnv::Production, Some(strong.clone())).unwrap(),
            strong
        );
    }

    #[test]
    fn development_falls_back_to_the_public_secret() {
        assert_eq!(
            jwt_secret(AppEnv::Development, None).unwrap(),
            DEV_JWT_SECRET
        );
        assert_eq!(
            jwt_secret(AppEnv::Development, Some("mine".to_owned())).unwrap(),
            "mine"
        );
    }

    #[test]
    fn production_requires_what_development_may_do_without() {
        let err = AppEnv::Production
            .require::<String>("DATABASE_URL", None, "the unit's PostgreSQL database")
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("DATABASE_URL") && text.contains("APP_ENV=development"),
            "{text}"
        );
        assert_eq!(
            AppEnv::Development
                .require::<String>("DATABASE_URL", None, "db")
                .unwrap(),
            None
        );
        assert_eq!(
            AppEnv::Production
                .require("DATABASE_URL", Some(1), "db")
                .unwrap(),
            Some(1)
        );
    }
}
