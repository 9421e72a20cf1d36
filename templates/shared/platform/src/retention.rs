//! Pruning: a published outbox row, a remembered event id (the inbox, `processed_events`) and
//! an idempotency key (`idempotency_keys`) are kept for the retention the architecture model
//! states (`topology::RETENTION`, the
//! retention table in ARCHITECTURE.md), then deleted, so both tables stay the size of their
//! window instead of growing forever.
//!
//! The inbox must remember an event id for as long as the event can be delivered again — the
//! broker's retention of its topic — or a late redelivery would be processed twice; the model's
//! verification checks that (`inbox retention ≥ broker retention`). Published outbox rows are
//! only kept to answer "what did this unit announce, and when", so a day is plenty; unpublished
//! rows are never pruned.
//!
//! Rows go in batches of [`BATCH`] per statement, so pruning never holds many locks or one long
//! transaction; several replicas pruning at once only share the work.

use std::time::Duration;

use sqlx::PgPool;

/// How long each kind of row is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// A published outbox row.
    pub outbox: Duration,
    /// A processed event id in the inbox.
    pub inbox: Duration,
    /// An idempotency key of a request (`idempotency_keys`, the order service's checkout),
    /// answered or abandoned.
    pub idempotency: Duration,
}

/// Rows deleted by one statement at most.
pub const BATCH: i64 = 1_000;

/// How often a unit prunes.
pub const INTERVAL: Duration = Duration::from_secs(600);

/// What one pass deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub outbox: u64,
    pub inbox: u64,
    pub idempotency: u64,
}

/// Deletes every published outbox row, processed event id and idempotency key older than
/// `retention`, in batches; a table the unit does not have is skipped.
pub async fn prune_once(pool: &PgPool, retention: Retention) -> sqlx::Result<Pruned> {
    // `published_at` is NULL while a row waits, and NULL is never older than anything.
    Ok(Pruned {
        outbox: prune(pool, "outbox", "published_at", retention.outbox).await?,
        inbox: prune(pool, "processed_events", "processed_at", retention.inbox).await?,
        idempotency: prune(
            pool,
            "idempotency_keys",
            "created_at",
            retention.idempotency,
        )
        .await?,
    })
}

/// Deletes the rows of `table` whose `column` is older than `keep`, [`BATCH`] per statement,
/// until a batch comes back short; 0 when the unit has no such table. `table` and `column` are
/// this module's constants, never input.
async fn prune(pool: &PgPool, table: &str, column: &str, keep: Duration) -> sqlx::Result<u64> {
    let exists: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
        .bind(table)
        .fetch_one(pool)
        .await?;
    if !exists {
        return Ok(0);
    }
    let delete = format!(
        "DELETE FROM {table} WHERE ctid IN (SELECT ctid FROM {table} \
         WHERE {column} < now() - make_interval(secs => $1) LIMIT $2)"
    );
    let mut deleted = 0;
    loop {
        let batch = sqlx::query(&delete)
            .bind(keep.as_secs_f64())
            .bind(BATCH)
            .execute(pool)
            .await?
            .rows_affected();
        deleted += batch;
        if batch < BATCH.unsigned_abs() {
            return Ok(deleted);
        }
    }
}

/// Prunes `pool` every [`INTERVAL`] for the life of the process, starting after one interval
/// (a restart loop does not prune on every start).
pub fn spawn(pool: PgPool, retention: Retention) {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(INTERVAL).await;
            match prune_once(&pool, retention).await {
                Ok(pruned) if pruned != Pruned::default() => {
                    tracing::info!(
                        outbox = pruned.outbox,
                        inbox = pruned.inbox,
                        idempotency = pruned.idempotency,
                        "pruned rows past their retention"
                    );
                }
                Ok(_) => {}
                Err(err) => tracing::warn!(error = %err, "pruning failed; trying again later"),
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::test_support::fresh_database;

    const DAY: Duration = Duration::from_secs(86_400);
    /// A day's retention for every table.
    const A_DAY_EACH: Retention = Retention {
        outbox: DAY,
        inbox: DAY,
        idempotency: DAY,
    };

    async fn count(pool: &PgPool, sql: &str) -> i64 {
        sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
    }

    #[tokio::test]
    #[ignore = "needs PostgreSQL: set TEST_DATABASE_URL or run one on 127.0.0.1:5432, then cargo test -- --ignored"]
    async fn rows_past_their_retention_go_and_everything_else_stays() {
        let (pool, _) = fresh_database().await;
        // Published 2 days ago, published 2 hours ago, and unpublished for 3 days; then 2,500
        // event ids processed 9 days ago (more than two batches) and one an hour ago.
        sqlx::raw_sql(
            "INSERT INTO outbox (event_id, topic, aggregate_id, envelope, created_at, published_at) VALUES \
             (gen_random_uuid(), 't', 'a', '{}', now() - interval '2 days', now() - interval '2 days'), \
             (gen_random_uuid(), 't', 'a', '{}', now() - interval '2 hours', now() - interval '2 hours'), \
             (gen_random_uuid(), 't', 'a', '{}', now() - interval '3 days', NULL); \
             INSERT INTO processed_events (consumer, event_id, processed_at) \
             SELECT 'c', gen_random_uuid(), now() - interval '9 days' FROM generate_series(1, 2500); \
             INSERT INTO processed_events (consumer, event_id, processed_at) \
             VALUES ('c', gen_random_uuid(), now() - interval '1 hour');",
        )
        .execute(&pool)
        .await
        .unwrap();

        let retention = Retention {
            outbox: DAY,
            inbox: 8 * DAY,
            idempotency: DAY,
        };
        let pruned = prune_once(&pool, retention).await.unwrap();
        assert_eq!(
            pruned,
            Pruned {
                outbox: 1,
                inbox: 2_500,
                idempotency: 0,
            }
        );
        assert_eq!(
            count(
                &pool,
                "SELECT count(*) FROM outbox WHERE published_at IS NULL"
            )
            .await,
            1,
            "an unpublished row is never pruned, however old"
        );
        assert_eq!(count(&pool, "SELECT count(*) FROM outbox").await, 2);
        assert_eq!(
            count(&pool, "SELECT count(*) FROM processed_events").await,
            1
        );
        assert_eq!(
            prune_once(&pool, retention).await.unwrap(),
            Pruned::default(),
            "a second pass finds nothing"
        );
    }

    #[tokio::test]
    #[ignore = "needs PostgreSQL: set TEST_DATABASE_URL or run one on 127.0.0.1:5432, then cargo test -- --ignored"]
    async fn a_unit_without_an_inbox_prunes_its_outbox_only() {
        let (pool, _) = fresh_database().await;
        sqlx::raw_sql("DROP TABLE processed_events")
            .execute(&pool)
            .await
            .unwrap();
        assert_eq!(
            prune_once(&pool, A_DAY_EACH).await.unwrap(),
            Pruned::default()
        );
    }

    #[tokio::test]
    #[ignore = "needs PostgreSQL: set TEST_DATABASE_URL or run one on 127.0.0.1:5432, then cargo test -- --ignored"]
    async fn idempotency_keys_past_their_window_go() {
        let (pool, _) = fresh_database().await;
        sqlx::raw_sql(
            "CREATE TABLE idempotency_keys (user_id UUID NOT NULL, key TEXT NOT NULL, \
             created_at TIMESTAMPTZ NOT NULL DEFAULT now(), PRIMARY KEY (user_id, key)); \
             INSERT INTO idempotency_keys (user_id, key, created_at) VALUES \
             (gen_random_uuid(), 'old', now() - interval '2 days'), \
             (gen_random_uuid(), 'fresh', now() - interval '1 hour');",
        )
        .execute(&pool)
        .await
        .unwrap();
        assert_eq!(prune_once(&pool, A_DAY_EACH).await.unwrap().idempotency, 1);
        let left: Vec<String> = sqlx::query_scalar("SELECT key FROM idempotency_keys")
            .fetch_all(&pool)
            .await
            .unwrap();
        assert_eq!(left, ["fresh"]);
    }
}
