//! Configuration from the environment, with defaults that run locally. Every variable is
//! prefixed by the unit's `env_prefix` where it differs per unit, so the devstack can run all
//! units in one process.

use std::fmt::Display;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use crate::auth::{JwtKeys, JwtSigner};
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
    /// `APP_ENV=development`: the public development signing key, in-memory storage and bus, demo
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

/// The variable holding the public keys access tokens are verified with (a JWK set).
pub const JWT_PUBLIC_KEYS: &str = "JWT_PUBLIC_KEYS";
/// The variable holding the user service's signing key (Ed25519, PKCS#8 PEM).
pub const JWT_SIGNING_KEY: &str = "JWT_SIGNING_KEY";

/// The verification keys from `JWT_PUBLIC_KEYS` (`value`) for `env`: required in production,
/// where the public development key is refused; the development key when unset in development.
pub fn jwt_public_keys(env: AppEnv, value: Option<String>) -> Result<JwtKeys, ConfigError> {
    let refuse = |value: &str, reason: String| ConfigError {
        key: JWT_PUBLIC_KEYS.to_owned(),
        value: value.to_owned(),
        reason,
    };
    let value = env.require(
        JWT_PUBLIC_KEYS,
        value.filter(|value| !value.trim().is_empty()),
        "the JWK set of the user service's signing keys, e.g. the output of `user-service public-key`",
    )?;
    let Some(value) = value else {
        return Ok(JwtKeys::development());
    };
    let keys = JwtKeys::from_jwks(&value).map_err(|reason| refuse(&value, reason))?;
    if env == AppEnv::Production && keys.accept_the_development_key() {
        return Err(refuse(
            &value,
            "holds the public development key, with which anyone can sign tokens; production needs keys of its own (`user-service generate-signing-key`)".to_owned(),
        ));
    }
    Ok(keys)
}

/// The signing key from `JWT_SIGNING_KEY` (`value`) for `env`: required in production, where
/// the public development key is refused. Only the user service signs.
pub fn jwt_signing_key(env: AppEnv, value: Option<String>) -> Result<JwtSigner, ConfigError> {
    // The key is a secret: an error never repeats it.
    let refuse = |reason: String| ConfigError {
        key: JWT_SIGNING_KEY.to_owned(),
        value: "<hidden>".to_owned(),
        reason,
    };
    let value = env.require(
        JWT_SIGNING_KEY,
        value.filter(|value| !value.trim().is_empty()),
        "the Ed25519 key access tokens are signed with; make one with `user-service generate-signing-key`",
    )?;
    let Some(value) = value else {
        return Ok(JwtSigner::development());
    };
    let signer = JwtSigner::from_pem(&value).map_err(refuse)?;
    if env == AppEnv::Production && signer.is_development() {
        return Err(refuse(
            "is the public development key; production needs a key of its own (`user-service generate-signing-key`)".to_owned(),
        ));
    }
    Ok(signer)
}

/// The variable of the symmetric secret earlier versions signed with.
const RETIRED_JWT_SECRET: &str = "JWT_SECRET";

/// The chaos to inject into `unit`: `CHAOS_PROFILE` (`off` or `realistic`), then the unit's own
/// overrides.
fn chaos_from_env(unit: Unit) -> Result<ChaosConfig, ConfigError> {
    let profile: String = env_or("CHAOS_PROFILE", "off".to_owned())?;
    let base = match profile.as_str() {
        "off" => ChaosConfig::default(),
        "realistic" => ChaosConfig::realistic(unit.name),
        other => {
            return Err(ConfigError {
                key: "CHAOS_PROFILE".to_owned(),
                value: other.to_owned(),
                reason: "not one of: `off`, `realistic`".to_owned(),
            });
        }
    };
    let latency_key = format!("{}_CHAOS_LATENCY_MS", unit.env_prefix);
    let rate_key = format!("{}_CHAOS_FAILURE_RATE", unit.env_prefix);
    let latency_ms = env_or(
        &latency_key,
        u64::try_from(base.latency.as_millis()).unwrap_or(u64::MAX),
    )?;
    let failure_rate: f64 = env_or(&rate_key, base.failure_rate)?;
    if !(0.0..=1.0).contains(&failure_rate) {
        return Err(ConfigError {
            key: rate_key,
            value: failure_rate.to_string(),
            reason: "must be between 0 and 1".to_owned(),
        });
    }
    Ok(ChaosConfig {
        latency: Duration::from_millis(latency_ms),
        failure_rate,
    })
}

/// What a unit needs to start.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    pub unit: Unit,
    pub bind: SocketAddr,
    pub log_format: LogFormat,
    /// Which defaults apply (`APP_ENV`).
    pub env: AppEnv,
    /// The keys access tokens are verified with (`JWT_PUBLIC_KEYS`).
    pub jwt_keys: JwtKeys,
    pub chaos: ChaosConfig,
}

impl ServiceConfig {
    /// Reads `APP_ENV` (default production), `HOST`, `<PREFIX>_PORT`, `LOG_FORMAT`,
    /// `JWT_PUBLIC_KEYS` and the chaos variables. Timeouts and retries of calls to other units are
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
        if std::env::var_os(RETIRED_JWT_SECRET).is_some() {
            return Err(ConfigError {
                key: RETIRED_JWT_SECRET.to_owned(),
                value: "<hidden>".to_owned(),
                reason: format!(
                    "no longer read: access tokens are signed with Ed25519 keys; unset it, give every unit {JWT_PUBLIC_KEYS} and the user service {JWT_SIGNING_KEY} (docs/SECURITY.md, \"Keys\")"
                ),
            });
        }
        Ok(Self {
            unit,
            bind: SocketAddr::new(host, port),
            log_format: env_or("LOG_FORMAT", LogFormat::Pretty)?,
            env,
            jwt_keys: jwt_public_keys(env, std::env::var(JWT_PUBLIC_KEYS).ok())?,
            chaos: chaos_from_env(unit)?,
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
            jwt_keys: JwtKeys::development(),
            chaos: ChaosConfig::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::DEV_SIGNING_KEY;

    #[test]
    fn app_env_is_production_unless_development_is_named() {
        assert_eq!("production".parse(), Ok(AppEnv::Production));
        assert_eq!("development".parse(), Ok(AppEnv::Development));
        let err = "dev".parse::<AppEnv>().unwrap_err();
        assert!(err.contains("`development`"), "{err}");
    }

    #[test]
    fn production_refuses_missing_or_public_token_keys_without_echoing_the_signing_key() {
        let development = JwtSigner::development();
        for (value, says) in [
            (None, "unset"),
            (Some(String::new()), "unset"),
            (Some(development.jwks()), "public development key"),
            (Some("{}".to_owned()), "not a JWK set"),
        ] {
            let err = jwt_public_keys(AppEnv::Production, value).unwrap_err();
            assert!(err.to_string().contains(says), "{err}");
        }
        let secret_pem = JwtSigner::generate().unwrap();
        for (value, says) in [
            (None, "unset"),
            (Some(DEV_SIGNING_KEY.to_owned()), "public development key"),
            (Some(secret_pem.replace('M', "N")), "PKCS#8"),
        ] {
            let err = jwt_signing_key(AppEnv::Production, value)
                .unwrap_err()
                .to_string();
            assert!(err.contains(says), "{err}");
            assert!(
                !err.contains("PRIVATE KEY-----\n"),
                "the key is not echoed: {err}"
            );
        }
        let signer = jwt_signing_key(AppEnv::Production, Some(secret_pem)).unwrap();
        let keys = jwt_public_keys(AppEnv::Production, Some(signer.jwks())).unwrap();
        assert!(keys.verify_tokens_of(&signer));
    }

    #[test]
    fn development_falls_back_to_the_public_development_key() {
        let signer = jwt_signing_key(AppEnv::Development, None).unwrap();
        assert!(signer.is_development());
        let keys = jwt_public_keys(AppEnv::Development, None).unwrap();
        assert!(keys.verify_tokens_of(&signer));
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
