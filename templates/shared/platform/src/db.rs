//! `PostgreSQL`: where a unit's database is (`DATABASE_URL` and pool settings), connecting to it,
//! and applying its migrations. A unit without `DATABASE_URL` keeps its in-memory storage.
//! [`open`] and [`start_storage`] are a service's storage start-up: connect and migrate, then log
//! the choice, make readiness require the database and run the outbox relay.

use std::fmt;
use std::str::FromStr as _;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use shared_events::EventBus;
use sqlx::Connection as _;
use sqlx::PgPool;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::config::{AppEnv, ConfigError, env_or};
use crate::health::{Check, Readiness};
use crate::outbox::{self, Relay};

/// How to reach a unit's `PostgreSQL` database. `Debug` hides the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Database {
    /// `postgres://user:password@host:port/database`.
    pub url: String,
    /// The most connections the pool opens.
    pub max_connections: u32,
    /// How long a query waits for a free connection before failing.
    pub acquire_timeout: Duration,
    /// The read replicas (`DATABASE_READ_URL`), for the reads the architecture model lets them
    /// serve (a product page's catalogue and stock); `None` reads the primary.
    pub read_url: Option<String>,
    /// The schema the unit keeps its tables in, where units share one database (a modular
    /// monolith's modules, a schema each): every connection's `search_path`, created before
    /// the migrations run. `None`: the database's default schema.
    pub schema: Option<String>,
}

impl Database {
    /// The database at `url` with the default pool settings (10 connections, 3 s to acquire).
    #[must_use]
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            max_connections: 10,
            acquire_timeout: Duration::from_secs(3),
            read_url: None,
            schema: None,
        }
    }

    /// The same database, with every table in `schema` (see [`Database::schema`]).
    #[must_use]
    pub fn in_schema(mut self, schema: &str) -> Self {
        self.schema = Some(schema.to_owned());
        self
    }

    /// Reads `DATABASE_URL`, `DATABASE_MAX_CONNECTIONS` (default 10),
    /// `DATABASE_ACQUIRE_TIMEOUT_MS` (default 3000) and `DATABASE_READ_URL` (optional: unset or
    /// empty reads the primary). An unset or empty `DATABASE_URL` is `None`
    /// (in-memory storage) in development and an error in production, where data kept in one
    /// process's memory would be lost on every restart and differ between replicas.
    pub fn from_env(env: AppEnv) -> Result<Option<Self>, ConfigError> {
        let url: String = env_or("DATABASE_URL", String::new())?;
        let Some(url) = env.require(
            "DATABASE_URL",
            Some(url).filter(|url| !url.is_empty()),
            "the unit's PostgreSQL database",
        )?
        else {
            return Ok(None);
        };
        let max_connections: u32 = env_or("DATABASE_MAX_CONNECTIONS", 10)?;
        if max_connections == 0 {
            return Err(ConfigError {
                key: "DATABASE_MAX_CONNECTIONS".to_owned(),
                value: "0".to_owned(),
                reason: "the pool needs at least one connection".to_owned(),
            });
        }
        let acquire_timeout_ms: u64 = env_or("DATABASE_ACQUIRE_TIMEOUT_MS", 3000)?;
        let read_url: String = env_or("DATABASE_READ_URL", String::new())?;
        Ok(Some(Self {
            url,
            max_connections,
            acquire_timeout: Duration::from_millis(acquire_timeout_ms),
            read_url: Some(read_url).filter(|url| !url.is_empty()),
            schema: None,
        }))
    }

    /// The URL with its password replaced by `***`, for logs and errors.
    #[must_use]
    pub fn redacted_url(&self) -> String {
        redact(&self.url)
    }

    /// A pool to the database; fails when the server cannot be reached or refuses the login.
    pub async fn connect(&self) -> anyhow::Result<PgPool> {
        self.pool_to(&self.url).await
    }

    /// A pool of the same size to the read replicas, if `read_url` names them; fails when they
    /// cannot be reached or refuse the login.
    pub async fn connect_reads(&self) -> anyhow::Result<Option<PgPool>> {
        match &self.read_url {
            Some(url) => Ok(Some(self.pool_to(url).await?)),
            None => Ok(None),
        }
    }

    async fn pool_to(&self, url: &str) -> anyhow::Result<PgPool> {
        let unreachable = || format!("cannot connect to PostgreSQL at {}", redact(url));
        let mut options = PgConnectOptions::from_str(url).with_context(unreachable)?;
        if let Some(schema) = &self.schema {
            options = options.options([("search_path", schema.as_str())]);
        }
        PgPoolOptions::new()
            .max_connections(self.max_connections)
            .acquire_timeout(self.acquire_timeout)
            .connect_with(options)
            .await
            .with_context(unreachable)
    }
}

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Database")
            .field("url", &self.redacted_url())
            .field("max_connections", &self.max_connections)
            .field("acquire_timeout", &self.acquire_timeout)
            .field("read_url", &self.read_url.as_deref().map(redact))
            .field("schema", &self.schema)
            .finish()
    }
}

/// `url` with the password (between `user:` and `@`) replaced by `***`.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((credentials, host)) = rest.rsplit_once('@') else {
        return url.to_owned();
    };
    match credentials.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

/// Applies every migration of `migrator` not yet applied (serialized across processes by
/// sqlx's advisory lock, so concurrent starters are safe).
pub async fn migrate(pool: &PgPool, migrator: &'static Migrator) -> anyhow::Result<()> {
    migrator
        .run(pool)
        .await
        .context("cannot apply the database migrations")
}

/// Where a service keeps its data (what [`open`] found, as services that take it explicitly
/// name it).
#[derive(Debug, Clone)]
pub enum Storage {
    /// In process memory; events are published right after each change.
    InMemory,
    /// In `PostgreSQL` (migrated); events go through the outbox, published by a relay the
    /// service runs.
    Postgres(PgPool),
}

impl Storage {
    /// The pool, `None` for memory.
    #[must_use]
    pub fn into_pool(self) -> Option<PgPool> {
        match self {
            Self::InMemory => None,
            Self::Postgres(pool) => Some(pool),
        }
    }
}

impl From<Option<PgPool>> for Storage {
    fn from(pool: Option<PgPool>) -> Self {
        pool.map_or(Self::InMemory, Self::Postgres)
    }
}

/// What a unit stores in: with `database` set, a pool to it with every pending migration of
/// `migrator` applied (safe with several replicas starting at once); without, memory (`None`).
/// [`start_storage`] then logs the choice and runs the outbox relay.
pub async fn open(
    database: Option<&Database>,
    migrator: &'static Migrator,
) -> anyhow::Result<Option<PgPool>> {
    let Some(database) = database else {
        return Ok(None);
    };
    let pool = database.connect().await?;
    if let Some(schema) = &database.schema {
        create_schema(&pool, schema).await?;
    }
    migrate(&pool, migrator).await?;
    Ok(Some(pool))
}

/// Creates `schema` unless it exists. `schema` must be lowercase ASCII letters, digits and
/// underscores (it is quoted into the statement). Replicas starting at once may race to create
/// it: losing that race is success.
pub async fn create_schema(pool: &PgPool, schema: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        !schema.is_empty()
            && schema.len() <= 63
            && schema
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
        "`{schema}` is not a valid schema name: use 1 to 63 of a-z, 0-9 and _"
    );
    let created = sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\""))
        .execute(pool)
        .await;
    match created {
        Ok(_) => Ok(()),
        // Another replica created it between the check and the insert.
        Err(sqlx::Error::Database(err)) if err.is_unique_violation() => Ok(()),
        Err(err) => Err(err).with_context(|| format!("cannot create schema `{schema}`")),
    }
}

/// One unit's migrations, and the schema of a shared database they apply to (`None`: the
/// database's default schema): what `<unit> migrate` applies.
#[derive(Debug, Clone, Copy)]
pub struct Migrations {
    pub schema: Option<&'static str>,
    pub migrator: &'static Migrator,
}

impl Migrations {
    /// `migrator`, applied to the database's default schema.
    #[must_use]
    pub const fn of(migrator: &'static Migrator) -> Self {
        Self {
            schema: None,
            migrator,
        }
    }

    /// `migrator`, applied to `schema`.
    #[must_use]
    pub const fn in_schema(schema: &'static str, migrator: &'static Migrator) -> Self {
        Self {
            schema: Some(schema),
            migrator,
        }
    }
}

/// Puts `service` on `pool` (`PostgreSQL`, migrated) or, for `None`, on memory: logs which, once,
/// and on `PostgreSQL` makes `/ready` require the database ([`readiness_check`]), with
/// `relay_to` (a service that publishes through its outbox) spawns the outbox relay publishing
/// to it, and always the pruning of rows past the model's retention ([`crate::retention`]);
/// both run for the life of the process.
pub fn start_storage(
    service: &str,
    pool: Option<&PgPool>,
    relay_to: Option<Arc<dyn EventBus>>,
    readiness: &Readiness,
) {
    let Some(pool) = pool else {
        tracing::info!(
            service,
            "storage: in-memory (set DATABASE_URL for PostgreSQL)"
        );
        return;
    };
    let options = pool.connect_options();
    tracing::info!(
        service,
        database = format!(
            "{}:{}/{}",
            options.get_host(),
            options.get_port(),
            options.get_database().unwrap_or_default()
        ),
        "storage: PostgreSQL"
    );
    readiness.add_check(readiness_check(pool));
    if let Some(bus) = relay_to {
        // Dropping the handle does not stop the relay.
        Relay::spawn(pool.clone(), bus, outbox::POLL_INTERVAL);
    }
    crate::retention::spawn(pool.clone(), crate::topology::RETENTION);
}

/// `/ready`'s `database` check: one `SELECT 1` on a connection of `pool` (a reused one when one
/// is free), so a probe costs the database a round trip, not a login. A pool so busy that no
/// connection frees up within the check's bound reads as not ready too: that replica could not
/// start a new request in time either, and it takes the probe's failure threshold in a row
/// before the orchestrator stops sending.
#[must_use]
pub fn readiness_check(pool: &PgPool) -> Check {
    let pool = pool.clone();
    Check::required("database", move || {
        let pool = pool.clone();
        async move { sqlx::query("SELECT 1").execute(&pool).await.map(drop) }
    })
}

/// `server_url` with its database name replaced by `database` (query parameters kept).
///
/// # Panics
/// Never: every branch handles a URL without a path or query.
#[must_use]
pub fn url_with_database(server_url: &str, database: &str) -> String {
    let (base, query) = match server_url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (server_url, None),
    };
    let authority_start = base.find("://").map_or(0, |at| at + 3);
    let host_end = base[authority_start..]
        .find('/')
        .map_or(base.len(), |at| authority_start + at);
    let mut url = format!("{}/{database}", &base[..host_end]);
    if let Some(query) = query {
        url.push('?');
        url.push_str(query);
    }
    url
}

/// Creates the database `name` on the server of `server_url` (an account allowed to
/// `CREATE DATABASE`) and answers its URL. `name` must be lowercase ASCII letters, digits and
/// underscores (it is quoted into the statement); the database must not exist yet.
pub async fn create_database(server_url: &str, name: &str) -> anyhow::Result<String> {
    anyhow::ensure!(
        !name.is_empty()
            && name.len() <= 63
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
        "`{name}` is not a valid database name: use 1 to 63 of a-z, 0-9 and _"
    );
    let mut admin = sqlx::PgConnection::connect(server_url)
        .await
        .with_context(|| format!("cannot connect to PostgreSQL at {}", redact(server_url)))?;
    sqlx::query(&format!("CREATE DATABASE \"{name}\""))
        .execute(&mut admin)
        .await
        .with_context(|| format!("cannot create database `{name}`"))?;
    admin.close().await?;
    Ok(url_with_database(server_url, name))
}

#[cfg(test)]
pub(crate) mod test_support {
    //! A fresh database per test on `TEST_DATABASE_URL` (default: the local server).

    use sqlx::PgPool;

    /// A pool to a new, empty database with the outbox and inbox tables, and its URL.
    pub(crate) async fn fresh_database() -> (PgPool, String) {
        let server = std::env::var("TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
        let name = format!("platform_{}", uuid::Uuid::new_v4().simple());
        let url = super::create_database(&server, &name).await.unwrap();
        let pool = super::Database::new(url.clone()).connect().await.unwrap();
        sqlx::raw_sql(
            "CREATE TABLE outbox (id BIGSERIAL PRIMARY KEY, event_id UUID NOT NULL UNIQUE, \
             topic TEXT NOT NULL, aggregate_id TEXT NOT NULL, envelope JSONB NOT NULL, \
             created_at TIMESTAMPTZ NOT NULL DEFAULT now(), attempts INT NOT NULL DEFAULT 0, \
             next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(), published_at TIMESTAMPTZ); \
             CREATE INDEX outbox_pending ON outbox (next_attempt_at) WHERE published_at IS NULL; \
             CREATE TABLE processed_events (consumer TEXT NOT NULL, event_id UUID NOT NULL, \
             processed_at TIMESTAMPTZ NOT NULL DEFAULT now(), PRIMARY KEY (consumer, event_id));",
        )
        .execute(&pool)
        .await
        .unwrap();
        (pool, url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_errors_never_show_the_password() {
        let db = Database::new("postgres://shop:s3cret@db.internal:5432/orders");
        assert_eq!(
            db.redacted_url(),
            "postgres://shop:***@db.internal:5432/orders"
        );
        assert!(!format!("{db:?}").contains("s3cret"));
        assert_eq!(
            redact("postgres://postgres@127.0.0.1/postgres"),
            "postgres://postgres@127.0.0.1/postgres"
        );
    }

    #[test]
    fn url_with_database_swaps_only_the_database_name() {
        assert_eq!(
            url_with_database("postgres://postgres@127.0.0.1:5432/postgres", "shop_1"),
            "postgres://postgres@127.0.0.1:5432/shop_1"
        );
        assert_eq!(
            url_with_database("postgres://u:p@db:5432/admin?sslmode=require", "x"),
            "postgres://u:p@db:5432/x?sslmode=require"
        );
        assert_eq!(
            url_with_database("postgres://db:5432", "x"),
            "postgres://db:5432/x"
        );
    }

    #[tokio::test]
    async fn create_database_refuses_names_it_would_have_to_escape() {
        let err = create_database("postgres://127.0.0.1:1/postgres", "bad\"; DROP")
            .await
            .unwrap_err();
        assert!(err.to_string().contains("not a valid database name"));
    }

    #[tokio::test]
    async fn without_a_database_a_unit_stores_in_memory() {
        static NO_MIGRATIONS: Migrator = Migrator::DEFAULT;
        assert!(open(None, &NO_MIGRATIONS).await.unwrap().is_none());
        let readiness = Readiness::default();
        start_storage("test-service", None, None, &readiness);
        assert!(readiness.check_names().is_empty(), "memory needs no check");
    }

    #[tokio::test]
    async fn an_unreachable_database_fails_the_start_without_showing_the_password() {
        static NO_MIGRATIONS: Migrator = Migrator::DEFAULT;
        let mut database = Database::new("postgres://shop:s3cret@127.0.0.1:1/orders");
        database.acquire_timeout = Duration::from_millis(200);
        let err = open(Some(&database), &NO_MIGRATIONS).await.unwrap_err();
        let message = format!("{err:#}");
        assert!(
            message.contains("cannot connect to PostgreSQL"),
            "{message}"
        );
        assert!(!message.contains("s3cret"), "{message}");
    }

    #[test]
    fn new_uses_the_documented_pool_defaults() {
        let db = Database::new("postgres://localhost/x");
        assert_eq!(db.max_connections, 10);
        assert_eq!(db.acquire_timeout, Duration::from_secs(3));
    }
}
