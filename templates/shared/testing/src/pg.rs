//! A fresh `PostgreSQL` database per test, on the server of `TEST_DATABASE_URL` (default: the
//! local one, `postgres://postgres@127.0.0.1:5432/postgres`). Tests that use it are
//! `#[ignore = "needs PostgreSQL: ..."]` and run with `cargo test -- --ignored`.

use sqlx::PgPool;

/// The server tests create their databases on: `TEST_DATABASE_URL`, or the local default.
#[must_use]
pub fn server_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|url| !url.trim().is_empty())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// Creates a new, empty, uniquely named database (`<prefix>_<random>`) and answers a pool to
/// it and its URL (to hand a service a `platform::db::Database`). Apply the service's
/// migrations yourself (`platform::db::migrate(&pool, &MIGRATOR)`) or let its start-up do it.
/// The database is left behind for inspection; names never collide.
pub async fn fresh_database(prefix: &str) -> (PgPool, String) {
    let name = database_name(prefix);
    let url = platform::db::create_database(&server_url(), &name)
        .await
        .unwrap_or_else(|err| {
            panic!(
                "cannot create a test database on {} (set TEST_DATABASE_URL): {err:#}",
                platform::db::Database::new(server_url()).redacted_url()
            )
        });
    let pool = platform::db::Database::new(url.clone())
        .connect()
        .await
        .expect("the new database accepts connections");
    (pool, url)
}

/// `<prefix>_<32 hex digits>`: the prefix lowercased, anything but `a-z0-9_` made `_`, at most
/// 30 characters, so the name stays within `PostgreSQL`'s 63.
fn database_name(prefix: &str) -> String {
    let prefix: String = prefix
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_lowercase() || c.is_ascii_digit() {
                c
            } else {
                '_'
            }
        })
        .take(30)
        .collect();
    let prefix = if prefix.is_empty() {
        "test".to_owned()
    } else {
        prefix
    };
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

/// The topics in the outbox, in the order they were written.
pub async fn outbox_topics(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar("SELECT topic FROM outbox ORDER BY id")
        .fetch_all(pool)
        .await
        .unwrap()
}

/// How many rows `sql` (a `SELECT count(*) …` with `$1` bound to `arg`) counts.
pub async fn count_rows(pool: &PgPool, sql: &str, arg: uuid::Uuid) -> i64 {
    sqlx::query_scalar(sql)
        .bind(arg)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_names_are_unique_and_valid_identifiers() {
        let a = database_name("Inventory-Service tests with a very long name indeed");
        let b = database_name("Inventory-Service tests with a very long name indeed");
        assert_ne!(a, b);
        assert!(a.starts_with("inventory_service_tests_with_a_"));
        assert!(a.len() <= 63);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_')
        );
        assert!(database_name("").starts_with("test_"));
    }

    #[tokio::test]
    #[ignore = "needs PostgreSQL: set TEST_DATABASE_URL or run one on 127.0.0.1:5432, then cargo test -- --ignored"]
    async fn each_fresh_database_is_new_empty_and_its_own() {
        let (first, first_url) = fresh_database("testing").await;
        let (second, second_url) = fresh_database("testing").await;
        assert_ne!(first_url, second_url);
        sqlx::query("CREATE TABLE only_here (id INT)")
            .execute(&first)
            .await
            .unwrap();
        let tables: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'",
        )
        .fetch_one(&second)
        .await
        .unwrap();
        assert_eq!(tables, 0);
        let reopened = platform::db::Database::new(first_url)
            .connect()
            .await
            .unwrap();
        let found: i64 = sqlx::query_scalar("SELECT count(*) FROM only_here")
            .fetch_one(&reopened)
            .await
            .unwrap();
        assert_eq!(found, 0);
    }
}
