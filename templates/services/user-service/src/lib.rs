//! The user service owns accounts and credentials: registration with argon2id-hashed
//! passwords, email verification, login issuing short-lived JWT access tokens and long-lived
//! rotating refresh tokens (stored only as hashes), logout, profile reads and edits by the user
//! or a verified admin (a new email needs the current password), single-use password-reset
//! tokens, and `user-service create-admin`. Tokens and notices are mailed ([`mail`]: SMTP, or a
//! development outbox directory). It publishes `user.registered`. Accounts live in `PostgreSQL`
//! when `DATABASE_URL` is set (events through the outbox), in memory otherwise.

use std::sync::Arc;

use axum::Router;
use platform::ServiceConfig;
use platform::config::AppEnv;
use platform::health::Readiness;
use shared_events::EventBus;
use sqlx::PgPool;
use sqlx::migrate::Migrator;

use crate::repository::UserRepository;
use crate::repository::postgres::PostgresUserRepository;

pub mod admin;
pub mod api;
pub mod config;
pub mod events;
pub mod keys;
pub mod mail;
pub mod models;
pub mod password;
pub mod repository;
pub mod service;

pub use config::Settings;

/// The schema (`migrations/`), applied by `user-service migrate`.
pub static MIGRATOR: Migrator = sqlx::migrate!();

/// Starts the service with settings from the environment.
pub async fn start(
    config: ServiceConfig,
    bus: Arc<dyn EventBus>,
    readiness: Readiness,
) -> anyhow::Result<Router> {
    let settings = Settings::from_env(config.env)?;
    start_with(config, settings, bus, readiness).await
}

/// Starts the service with explicit settings (tests and the devstack).
pub async fn start_with(
    config: ServiceConfig,
    settings: Settings,
    bus: Arc<dyn EventBus>,
    readiness: Readiness,
) -> anyhow::Result<Router> {
    let pool = platform::db::open(settings.database.as_ref(), &MIGRATOR).await?;
    start_with_pool(config, settings, pool, bus, readiness).await
}

/// Starts the service on `pool` (`PostgreSQL`, already migrated; its outbox relayed to `bus`)
/// or, without one, in memory (events published on `bus` directly). Production refuses the
/// development outbox (users would never get their mail) and a development admin.
pub async fn start_with_pool(
    config: ServiceConfig,
    settings: Settings,
    pool: Option<PgPool>,
    bus: Arc<dyn EventBus>,
    readiness: Readiness,
) -> anyhow::Result<Router> {
    if config.env == AppEnv::Production
        && let mail::MailTransport::Outbox(_) = settings.mail.transport
    {
        anyhow::bail!(
            "environment variable `{}` is unset, and production needs an SMTP server: the development outbox delivers no mail",
            config::SMTP_URL
        );
    }
    platform::db::start_storage(
        config.unit.name,
        pool.as_ref(),
        Some(bus.clone()),
        &readiness,
    );
    let repository: Arc<dyn UserRepository> = match pool {
        Some(pool) => Arc::new(PostgresUserRepository::new(pool)),
        None => Arc::new(repository::InMemoryUserRepository::new(bus)),
    };
    if !config.jwt_keys.verify_tokens_of(&settings.signing) {
        anyhow::bail!(
            "environment variable `{}` has no key `{}`, the key of `{}`: the units would reject every token this service signs; add the output of `user-service public-key` to it",
            platform::config::JWT_PUBLIC_KEYS,
            settings.signing.kid(),
            platform::config::JWT_SIGNING_KEY,
        );
    }
    let keys = config.jwt_keys.clone();
    let mailer = mail::mailer(&settings.mail)?;
    let development_admin = settings.development_admin.clone();
    let service = service::UserService::new(repository, mailer, keys, settings).await?;
    if let Some(account) = development_admin {
        admin::ensure_development_admin(config.env, &service, &account).await?;
    }
    Ok(platform::server::app(
        config.unit.name,
        api::router(api::AppState::new(service)),
        config.chaos,
        readiness,
    ))
}
