//! Payments in `PostgreSQL` (tables of `migrations/0001_payment_service.sql`). The idempotency
//! key is `UNIQUE`, so of concurrent claims of one key — from any replica — exactly one
//! inserts. Claims and cancellations of one order take the same transaction-scoped advisory
//! lock, so a charge can never slip in beside a cancellation unseen. Each state change writes
//! the events it causes to the outbox in its transaction (`platform::outbox::enqueue`; the
//! relay publishes them).

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use platform::{inbox, outbox};
use serde::de::DeserializeOwned;
use shared_events::EventEnvelope;
use shared_types::{Money, OrderId, PaymentId, UserId};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgPool, Row};
use uuid::Uuid;

use super::{Claimed, Delivery, PaymentRepository, RepositoryError};
use crate::models::{Payment, PaymentStatus};

/// The columns [`payment`] reads.
const COLUMNS: &str = "id, order_id, user_id, amount_minor, currency, status, failure_reason, \
                       idempotency_key, created_at, updated_at";

/// How long a pending payment's charge holds it by default: after this, its replica is
/// presumed crashed and the next charge with the key takes the payment over.
pub const DEFAULT_PENDING_LEASE: Duration = Duration::from_secs(30);

/// Payments in `PostgreSQL`.
#[derive(Debug, Clone)]
pub struct PostgresPaymentRepository {
    pool: PgPool,
    pending_lease: Duration,
}

impl PostgresPaymentRepository {
    /// A repository on `pool`, whose database has the service's migrations applied, with the
    /// [`DEFAULT_PENDING_LEASE`].
    #[must_use]
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            pending_lease: DEFAULT_PENDING_LEASE,
        }
    }

    /// The same repository, where a payment pending for longer than `lease` may be taken over.
    #[must_use]
    pub fn with_pending_lease(mut self, lease: Duration) -> Self {
        self.pending_lease = lease;
        self
    }
}

/// A value stored as the text of its serde name (`"USD"`).
fn to_text<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(text)) => text,
        other => unreachable!("stored enums serialize as strings, got {other:?}"),
    }
}

fn from_text<T: DeserializeOwned>(column: &str, text: String) -> Result<T, RepositoryError> {
    serde_json::from_value(serde_json::Value::String(text)).map_err(|err| {
        RepositoryError::Unavailable(format!("unexpected value in column `{column}`: {err}"))
    })
}

/// The failure reason column of a status (set exactly for failed payments).
fn failure_reason(status: &PaymentStatus) -> Option<&str> {
    match status {
        PaymentStatus::Failed { reason } => Some(reason),
        PaymentStatus::Pending | PaymentStatus::Succeeded | PaymentStatus::Refunded => None,
    }
}

fn payment(row: &PgRow) -> Result<Payment, RepositoryError> {
    let status: String = row.try_get("status")?;
    let reason: Option<String> = row.try_get("failure_reason")?;
    let status = match (status.as_str(), reason) {
        ("pending", _) => PaymentStatus::Pending,
        ("succeeded", _) => PaymentStatus::Succeeded,
        ("refunded", _) => PaymentStatus::Refunded,
        ("failed", Some(reason)) => PaymentStatus::Failed { reason },
        _ => {
            return Err(RepositoryError::Unavailable(format!(
                "unexpected value in column `payments.status`: {status}"
            )));
        }
    };
    Ok(Payment {
        id: PaymentId(row.try_get("id")?),
        order_id: OrderId(row.try_get("order_id")?),
        user_id: UserId(row.try_get("user_id")?),
        amount: Money::new(
            row.try_get("amount_minor")?,
            from_text("payments.currency", row.try_get("currency")?)?,
        ),
        status,
        idempotency_key: row.try_get("idempotency_key")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Takes the transaction-scoped lock of `order`: claims and the cancellation of one order
/// run one at a time.
async fn lock_order(conn: &mut PgConnection, order: OrderId) -> Result<(), RepositoryError> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1::text, 0))")
        .bind(order.0)
        .execute(conn)
        .await?;
    Ok(())
}

async fn by_key(conn: &mut PgConnection, key: &str) -> Result<Option<Payment>, RepositoryError> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM payments WHERE idempotency_key = $1"
    ))
    .bind(key)
    .fetch_optional(conn)
    .await?
    .as_ref()
    .map(payment)
    .transpose()
}

/// Refunds `current` (locked by the caller's transaction): the status, the `refunds` row
/// (unique per payment) and the `payment.refunded` outbox row.
async fn refund_locked(
    conn: &mut PgConnection,
    mut current: Payment,
    at: DateTime<Utc>,
) -> Result<Payment, RepositoryError> {
    current.refund(at)?;
    sqlx::query("UPDATE payments SET status = 'refunded', updated_at = $2 WHERE id = $1")
        .bind(current.id.0)
        .bind(at)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO refunds (id, payment_id, amount_minor, currency, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(Uuid::new_v4())
    .bind(current.id.0)
    .bind(current.amount.amount_minor)
    .bind(to_text(&current.amount.currency))
    .bind(at)
    .execute(&mut *conn)
    .await?;
    outbox::enqueue(&mut *conn, &current.refunded_event()).await?;
    Ok(current)
}

#[async_trait]
impl PaymentRepository for PostgresPaymentRepository {
    async fn claim(&self, pending: Payment) -> Result<Claimed, RepositoryError> {
        let mut tx = self.pool.begin().await?;
        lock_order(&mut tx, pending.order_id).await?;
        if let Some(existing) = by_key(&mut tx, &pending.idempotency_key).await? {
            // A charge pending for longer than the lease was abandoned (its replica crashed
            // between claiming and settling): take it over, so the caller asks the provider
            // again with the same idempotency key. The condition makes one taker win.
            let same_charge = existing.order_id == pending.order_id
                && existing.user_id == pending.user_id
                && existing.amount == pending.amount;
            if same_charge && existing.is_pending() {
                let lease_ms = i64::try_from(self.pending_lease.as_millis()).unwrap_or(i64::MAX);
                let taken = sqlx::query(&format!(
                    "UPDATE payments SET claimed_at = now() \
                     WHERE id = $1 AND status = 'pending' \
                     AND claimed_at < now() - $2::bigint * interval '1 millisecond' \
                     RETURNING {COLUMNS}"
                ))
                .bind(existing.id.0)
                .bind(lease_ms)
                .fetch_optional(&mut *tx)
                .await?;
                if let Some(row) = taken {
                    let taken = payment(&row)?;
                    tx.commit().await?;
                    tracing::warn!(payment_id = %taken.id, "took over a stale pending payment");
                    return Ok(Claimed::New(taken));
                }
            }
            tx.commit().await?;
            return Ok(Claimed::Existing(existing));
        }
        let cancelled: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM cancelled_orders WHERE order_id = $1)",
        )
        .bind(pending.order_id.0)
        .fetch_one(&mut *tx)
        .await?;
        if cancelled {
            tx.commit().await?;
            return Ok(Claimed::OrderCancelled);
        }
        let inserted = sqlx::query(
            "INSERT INTO payments (id, order_id, user_id, amount_minor, currency, status, \
             failure_reason, idempotency_key, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, 'pending', NULL, $6, $7, $8) \
             ON CONFLICT (idempotency_key) DO NOTHING",
        )
        .bind(pending.id.0)
        .bind(pending.order_id.0)
        .bind(pending.user_id.0)
        .bind(pending.amount.amount_minor)
        .bind(to_text(&pending.amount.currency))
        .bind(&pending.idempotency_key)
        .bind(pending.created_at)
        .bind(pending.updated_at)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        if inserted == 1 {
            return Ok(Claimed::New(pending));
        }
        // A concurrent claim of the key (for another order, so another lock) inserted first;
        // the insert waited for it to commit, so it is visible now.
        let mut conn = self.pool.acquire().await?;
        match by_key(&mut conn, &pending.idempotency_key).await? {
            Some(existing) => Ok(Claimed::Existing(existing)),
            None => Err(RepositoryError::Unavailable(format!(
                "idempotency key `{}` conflicted but its payment is gone",
                pending.idempotency_key
            ))),
        }
    }

    async fn settle(
        &self,
        id: PaymentId,
        status: PaymentStatus,
        at: DateTime<Utc>,
        events: &[EventEnvelope],
    ) -> Result<Payment, RepositoryError> {
        let mut tx = self.pool.begin().await?;
        // The order's lock orders this settlement with its cancellation: either the
        // cancellation committed first and this success is refunded here, or it waits and the
        // compensation (`refund_order`) finds the payment succeeded. Taken in the statement
        // that finds the payment's order.
        let order: Option<Uuid> = sqlx::query_scalar(
            "SELECT p.order_id FROM payments p, \
             LATERAL (SELECT pg_advisory_xact_lock(hashtextextended(p.order_id::text, 0))) locked \
             WHERE p.id = $1",
        )
        .bind(id.0)
        .fetch_optional(&mut *tx)
        .await?;
        let order = OrderId(order.ok_or(RepositoryError::NotFound(id))?);
        // The lock is held, so this statement's snapshot sees a cancellation's tombstone if the
        // cancellation came first.
        let row = sqlx::query(&format!(
            "WITH settled AS ( \
               UPDATE payments SET status = $2, failure_reason = $3, updated_at = $4 \
               WHERE id = $1 AND status = 'pending' RETURNING {COLUMNS}) \
             SELECT settled.*, EXISTS (SELECT 1 FROM cancelled_orders WHERE order_id = $5) \
               AS order_cancelled \
             FROM settled"
        ))
        .bind(id.0)
        .bind(status.name())
        .bind(failure_reason(&status))
        .bind(at)
        .bind(order.0)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(RepositoryError::AlreadySettled(id))?;
        let mut settled = payment(&row)?;
        let cancelled: bool = row.try_get("order_cancelled")?;
        for event in events {
            outbox::enqueue(&mut tx, event).await?;
        }
        if settled.status == PaymentStatus::Succeeded && cancelled {
            // A charge that was in flight when its order was cancelled: give it back.
            settled = refund_locked(&mut tx, settled, at).await?;
        }
        tx.commit().await?;
        Ok(settled)
    }

    async fn get(&self, id: PaymentId) -> Result<Option<Payment>, RepositoryError> {
        sqlx::query(&format!("SELECT {COLUMNS} FROM payments WHERE id = $1"))
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(payment)
            .transpose()
    }

    async fn list_for_order(&self, order_id: OrderId) -> Result<Vec<Payment>, RepositoryError> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM payments WHERE order_id = $1 ORDER BY created_at, id"
        ))
        .bind(order_id.0)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(payment)
        .collect()
    }

    async fn refund(&self, id: PaymentId, at: DateTime<Utc>) -> Result<Payment, RepositoryError> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM payments WHERE id = $1 FOR UPDATE"
        ))
        .bind(id.0)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(RepositoryError::NotFound(id))?;
        let refunded = refund_locked(&mut tx, payment(&row)?, at).await?;
        tx.commit().await?;
        Ok(refunded)
    }

    async fn mark_order_cancelled(&self, order_id: OrderId) -> Result<(), RepositoryError> {
        let mut tx = self.pool.begin().await?;
        lock_order(&mut tx, order_id).await?;
        sqlx::query("INSERT INTO cancelled_orders (order_id) VALUES ($1) ON CONFLICT DO NOTHING")
            .bind(order_id.0)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn refund_order(
        &self,
        order_id: OrderId,
        at: DateTime<Utc>,
        delivery: Option<Delivery>,
    ) -> Result<Vec<Payment>, RepositoryError> {
        let mut tx = self.pool.begin().await?;
        if let Some(delivery) = delivery
            && !inbox::first_time(&mut tx, delivery.consumer, delivery.event_id).await?
        {
            tx.commit().await?;
            return Ok(Vec::new());
        }
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM payments WHERE order_id = $1 AND status = 'succeeded' \
             ORDER BY created_at, id FOR UPDATE"
        ))
        .bind(order_id.0)
        .fetch_all(&mut *tx)
        .await?;
        let mut refunded = Vec::with_capacity(rows.len());
        for row in &rows {
            refunded.push(refund_locked(&mut tx, payment(row)?, at).await?);
        }
        tx.commit().await?;
        Ok(refunded)
    }
}
