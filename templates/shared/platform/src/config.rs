//! Configuration from the environment, with defaults that run locally. Every variable is
//! prefixed by the unit's `env_prefix` where it differs per unit, so the devstack can run all
//! units in one process.

use std::fmt::Display;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::str::FromStr;

use crate::chaos::ChaosConfig;
use crate::topology::Unit;

/// A variable that is set but unusable.
#[derive(Debug, thiserror::Error)]
#[error("environment variable `{key}` = `{value}`: {reason}")]
pub struct ConfigError {
    pub key: String,
    pub value: String,
    pub reason: String,
}

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

/// The secret used to sign tokens when `JWT_SECRET` is unset: fine on a laptop, refused
/// nowhere, so the start-up log warns about it.
pub const DEV_JWT_SECRET: &str = "dev-only-secret-change-me-in-every-real-deployment";

/// What a unit needs to start.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    pub unit: Unit,
    pub bind: SocketAddr,
    pub log_format: LogFormat,
    pub jwt_secret: String,
    pub chaos: ChaosConfig,
}

impl ServiceConfig {
    /// Reads `HOST`, `<PREFIX>_PORT`, `LOG_FORMAT`, `JWT_SECRET` and the chaos variables.
    /// Timeouts and retries of calls to other units are not configuration: they come from the
    /// architecture model (`topology::CALLS`, used by `client::ServiceClient::for_call`).
    pub fn from_env(unit: Unit) -> Result<Self, ConfigError> {
        let host: IpAddr = env_or("HOST", IpAddr::V4(Ipv4Addr::LOCALHOST))?;
        let port = env_or(&format!("{}_PORT", unit.env_prefix), unit.port)?;
        Ok(Self {
            unit,
            bind: SocketAddr::new(host, port),
            log_format: env_or("LOG_FORMAT", LogFormat::Pretty)?,
            jwt_secret: env_or("JWT_SECRET", DEV_JWT_SECRET.to_owned())?,
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
            jwt_secret: DEV_JWT_SECRET.to_owned(),
            chaos: ChaosConfig::default(),
        }
    }
}
