//! The inbox: which events a consumer has already processed, so a redelivered event has no
//! second effect. Each service's first migration creates the table:
//!
//! ```sql
//! CREATE TABLE processed_events (consumer TEXT NOT NULL, event_id UUID NOT NULL,
//!     processed_at TIMESTAMPTZ NOT NULL DEFAULT now(), PRIMARY KEY (consumer, event_id));
//! ```

use shared_types::EventId;

/// The inbox insert: records that consumer `$1` processes event `$2` and returns a row the
/// first time, none for a redelivery. [`first_time`] runs it alone; a handler whose effect is a
/// single statement can put it in that statement's `WITH` clause and make the effect select
/// from it (`WITH first_time AS (…) INSERT … SELECT … FROM first_time`), so the inbox row and
/// the effect commit together in one round trip, with no `BEGIN`/`COMMIT` of their own.
pub const FIRST_TIME: &str = "INSERT INTO processed_events (consumer, event_id) VALUES ($1, $2) \
     ON CONFLICT (consumer, event_id) DO NOTHING RETURNING event_id";

/// Records that `consumer` processes `event_id`; true the first time, false for a redelivery.
/// Call it in the transaction of the handler's effect, and when it answers false, commit
/// nothing else: the effect happened already. If the transaction rolls back, so does the
/// record, and the redelivery is processed.
pub async fn first_time(
    tx: &mut sqlx::PgConnection,
    consumer: &str,
    event_id: EventId,
) -> sqlx::Result<bool> {
    let inserted = sqlx::query(FIRST_TIME)
        .bind(consumer)
        .bind(event_id.0)
        .execute(tx)
        .await?
        .rows_affected();
    Ok(inserted == 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::test_support::fresh_database;

    #[tokio::test]
    #[ignore = "needs PostgreSQL: set TEST_DATABASE_URL or run one on 127.0.0.1:5432, then cargo test -- --ignored"]
    async fn first_time_is_true_once_per_consumer_and_event() {
        let (pool, _) = fresh_database().await;
        let mut conn = pool.acquire().await.unwrap();
        let event = EventId::new();
        assert!(
            first_time(&mut conn, "inventory-service", event)
                .await
                .unwrap()
        );
        assert!(
            !first_time(&mut conn, "inventory-service", event)
                .await
                .unwrap()
        );
        assert!(
            first_time(&mut conn, "payment-service", event)
                .await
                .unwrap()
        );
        assert!(
            first_time(&mut conn, "inventory-service", EventId::new())
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    #[ignore = "needs PostgreSQL: set TEST_DATABASE_URL or run one on 127.0.0.1:5432, then cargo test -- --ignored"]
    async fn a_rolled_back_handler_lets_the_redelivery_through() {
        let (pool, _) = fresh_database().await;
        let event = EventId::new();
        let mut tx = pool.begin().await.unwrap();
        assert!(first_time(&mut tx, "order-service", event).await.unwrap());
        tx.rollback().await.unwrap();
        let mut tx = pool.begin().await.unwrap();
        assert!(first_time(&mut tx, "order-service", event).await.unwrap());
        tx.commit().await.unwrap();
        let mut conn = pool.acquire().await.unwrap();
        assert!(!first_time(&mut conn, "order-service", event).await.unwrap());
    }
}
