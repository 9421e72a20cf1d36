//! Where the services of the devstack keep their data: in memory (the default), or in
//! `PostgreSQL` with one database per service on one server, created when missing. Only services
//! whose `Settings` carry a `database` take part; the others stay in memory.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context as _;
use platform::db::{Database, url_with_database};
use platform::topology;
use sqlx::{Connection as _, PgConnection, PgPool};

use crate::UnitSettings;

/// Where the services keep their data.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Storage {
    /// Every service in memory: stopping the devstack forgets everything.
    #[default]
    InMemory,
    /// Each service that supports it in its own `PostgreSQL` database.
    Postgres(PostgresStorage),
}

/// One `PostgreSQL` server for the whole stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresStorage {
    /// The server: `url` is any database of it with an account allowed to `CREATE DATABASE`
    /// (e.g. `postgres://postgres@127.0.0.1:5432/postgres`); `max_connections` and
    /// `acquire_timeout` apply to each service's pool.
    pub server: Database,
    /// Service `x-service` uses the database `<prefix>_x_service` (lowercase letters, digits
    /// and `_`), created when missing and reused otherwise.
    pub database_prefix: String,
}

impl Storage {
    /// `PostgreSQL` when `DATABASE_URL` is set: it names the server (not a service's
    /// database), pools follow `DATABASE_MAX_CONNECTIONS` and `DATABASE_ACQUIRE_TIMEOUT_MS`,
    /// and the databases are `<DEVSTACK_DATABASE_PREFIX>_<service>` (prefix default `devstack`),
    /// kept across runs. In memory otherwise (development only: see `app_env`).
    pub fn from_env() -> anyhow::Result<Self> {
        let Some(server) = Database::from_env(crate::app_env()?)? else {
            return Ok(Self::InMemory);
        };
        let database_prefix: String =
            platform::config::env_or("DEVSTACK_DATABASE_PREFIX", "devstack".to_owned())?;
        Ok(Self::Postgres(PostgresStorage {
            server,
            database_prefix,
        }))
    }

    /// Fresh databases on the server of `server_url`, under a prefix no other stack uses
    /// (`devstack_<random>`), with small pools: for tests, which may run several stacks.
    #[must_use]
    pub fn fresh_postgres(server_url: &str) -> Self {
        let mut server = Database::new(server_url);
        server.max_connections = 3;
        let random = uuid::Uuid::new_v4().simple().to_string();
        Self::Postgres(PostgresStorage {
            server,
            database_prefix: format!("devstack_{}", &random[..12]),
        })
    }
}

/// The `database` setting of every service that has one, by service name. A service gains
/// `PostgreSQL` in the devstack by being listed here once its `Settings` has the field.
fn database_slots(settings: &mut UnitSettings) -> Vec<(&'static str, &mut Option<Database>)> {
    vec![
        (topology::USER_SERVICE.name, &mut settings.user.database),
        (
            topology::PRODUCT_SERVICE.name,
            &mut settings.product.database,
        ),
        (
            topology::INVENTORY_SERVICE.name,
            &mut settings.inventory.database,
        ),
        (topology::ORDER_SERVICE.name, &mut settings.order.database),
        (
            topology::PAYMENT_SERVICE.name,
            &mut settings.payment.database,
        ),
        (
            topology::NOTIFICATION_SERVICE.name,
            &mut settings.notification.database,
        ),
    ]
}

/// The database name of `service` under `prefix`.
fn database_name(prefix: &str, service: &str) -> String {
    format!("{prefix}_{}", service.replace('-', "_"))
}

/// Creates the database `name` on the server unless it exists (concurrent creators are fine).
async fn ensure_database(server_url: &str, name: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        !name.is_empty()
            && name.len() <= 63
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
        "`{name}` is not a usable database name: 1 to 63 of a-z, 0-9 and _ (check DEVSTACK_DATABASE_PREFIX)"
    );
    let mut admin = PgConnection::connect(server_url).await.with_context(|| {
        format!(
            "cannot connect to the PostgreSQL server {}",
            Database::new(server_url).redacted_url()
        )
    })?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(name)
            .fetch_one(&mut admin)
            .await?;
    if !exists {
        let created = sqlx::query(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut admin)
            .await;
        match created {
            Ok(_) => tracing::info!(database = name, "created"),
            // 42P04: created by someone else meanwhile.
            Err(err)
                if err
                    .as_database_error()
                    .and_then(sqlx::error::DatabaseError::code)
                    .as_deref()
                    == Some("42P04") => {}
            Err(err) => {
                return Err(err).with_context(|| format!("cannot create database `{name}`"));
            }
        }
    }
    admin.close().await?;
    Ok(())
}

/// Gives each service that supports it its database (creating it when missing) when
/// `storage` is `PostgreSQL`; answers the database of every service that has one now (set
/// here or already in its settings), by service name.
pub(crate) async fn provision(
    storage: &Storage,
    settings: &mut UnitSettings,
) -> anyhow::Result<BTreeMap<&'static str, Database>> {
    let mut databases = BTreeMap::new();
    for (service, slot) in database_slots(settings) {
        if let Storage::Postgres(postgres) = storage {
            let name = database_name(&postgres.database_prefix, service);
            ensure_database(&postgres.server.url, &name).await?;
            // One server, no replicas: every read goes to the service's own database.
            *slot = Some(Database {
                url: url_with_database(&postgres.server.url, &name),
                read_url: None,
                ..postgres.server.clone()
            });
        }
        if let Some(database) = slot {
            databases.insert(service, database.clone());
        }
    }
    Ok(databases)
}

/// The services whose outbox still has unpublished rows (parked ones included), with how many;
/// a database without an outbox table has none.
pub(crate) async fn pending_outbox_rows(
    pools: &[(&'static str, PgPool)],
) -> anyhow::Result<Vec<(&'static str, i64)>> {
    let mut pending = Vec::new();
    for (service, pool) in pools {
        let has_outbox: bool = sqlx::query_scalar("SELECT to_regclass('outbox') IS NOT NULL")
            .fetch_one(pool)
            .await
            .with_context(|| format!("cannot read the outbox of {service}"))?;
        if has_outbox {
            let rows: i64 =
                sqlx::query_scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL")
                    .fetch_one(pool)
                    .await
                    .with_context(|| format!("cannot read the outbox of {service}"))?;
            if rows > 0 {
                pending.push((*service, rows));
            }
        }
    }
    Ok(pending)
}

/// A one-connection pool per database, to watch the outboxes, by service name.
pub(crate) async fn observers(
    databases: &BTreeMap<&'static str, Database>,
) -> anyhow::Result<Vec<(&'static str, PgPool)>> {
    let mut pools = Vec::new();
    for (service, database) in databases {
        let observer = Database {
            max_connections: 1,
            acquire_timeout: Duration::from_secs(5),
            ..database.clone()
        };
        pools.push((*service, observer.connect().await?));
    }
    Ok(pools)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_service_database_is_named_after_the_service() {
        assert_eq!(
            database_name("devstack", "inventory-service"),
            "devstack_inventory_service"
        );
    }

    #[test]
    fn fresh_postgres_storage_never_shares_databases() {
        let (Storage::Postgres(a), Storage::Postgres(b)) = (
            Storage::fresh_postgres("postgres://postgres@127.0.0.1:5432/postgres"),
            Storage::fresh_postgres("postgres://postgres@127.0.0.1:5432/postgres"),
        ) else {
            panic!("PostgreSQL storage expected");
        };
        assert_ne!(a.database_prefix, b.database_prefix);
        assert_eq!(a.server.max_connections, 3);
    }

    #[test]
    fn every_service_but_the_cart_has_a_database_slot() {
        let mut settings = UnitSettings::default();
        let mut slotted: Vec<&str> = database_slots(&mut settings)
            .into_iter()
            .map(|(service, _)| service)
            .collect();
        slotted.sort_unstable();
        let mut expected: Vec<&str> = topology::SERVICES
            .iter()
            .map(|unit| unit.name)
            .filter(|name| *name != topology::CART_SERVICE.name)
            .collect();
        expected.sort_unstable();
        assert_eq!(
            slotted, expected,
            "the cart stores in Redis, not PostgreSQL"
        );
    }

    #[tokio::test]
    async fn in_memory_storage_gives_no_service_a_database() {
        let mut settings = UnitSettings::default();
        let databases = provision(&Storage::InMemory, &mut settings).await.unwrap();
        assert!(databases.is_empty());
        assert!(settings.inventory.database.is_none());
    }

    #[tokio::test]
    async fn a_bad_prefix_is_refused_before_connecting() {
        let storage = Storage::Postgres(PostgresStorage {
            server: Database::new("postgres://127.0.0.1:1/postgres"),
            database_prefix: "Bad Prefix".to_owned(),
        });
        let err = provision(&storage, &mut UnitSettings::default())
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("DEVSTACK_DATABASE_PREFIX"),
            "{err}"
        );
    }
}
