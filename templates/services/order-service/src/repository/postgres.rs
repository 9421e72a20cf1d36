//! Orders and idempotency keys in `PostgreSQL` (tables of `migrations/0001_order_service.sql`).
//! Each state change is one transaction that also writes the events it causes to the outbox
//! (`platform::outbox::enqueue`; the relay publishes them) and, for a consumed event, records
//! it in the inbox (`platform::inbox::first_time`).

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use platform::{inbox, outbox};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use shared_events::{EventEnvelope, OrderLine};
use shared_types::{Currency, Money, OrderId, Page, ProductId, UserId};
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool, Row};
use uuid::Uuid;

use super::{
    Claim, Completion, Delivery, IdempotencyStore, OrderRepository, RepositoryError, StoredResponse,
};
use crate::models::{Order, OrderEvent, StatusChange};

/// Reads whole orders in ONE statement (so one snapshot and one round trip): the `orders`
/// columns, and the order's lines and status history aggregated as JSON arrays in their
/// order. Append a `WHERE` on `o` (and an `ORDER BY`); [`order_from_row`] decodes a row.
const ORDER_SELECT: &str = "SELECT o.id, o.user_id, o.status, o.total_minor, o.currency, \
     o.created_at, o.updated_at, \
     (SELECT coalesce(json_agg(json_build_object('product_id', l.product_id, \
         'quantity', l.quantity, 'unit_price_minor', l.unit_price_minor, \
         'currency', l.currency) ORDER BY l.line_no), '[]'::json) \
      FROM order_lines l WHERE l.order_id = o.id) AS lines, \
     (SELECT coalesce(json_agg(json_build_object('status', h.status, 'at', h.at, \
         'reason', h.reason) ORDER BY h.seq), '[]'::json) \
      FROM order_status_history h WHERE h.order_id = o.id) AS history \
     FROM orders o";

/// How long an unanswered claim of an idempotency key holds it by default: after this, the
/// claimant is presumed crashed and the next request with the key takes the claim over.
pub const DEFAULT_CLAIM_LEASE: Duration = Duration::from_secs(30);

/// Orders and idempotency keys in `PostgreSQL`.
#[derive(Debug, Clone)]
pub struct PostgresOrderRepository {
    pool: PgPool,
    claim_lease: Duration,
}

impl PostgresOrderRepository {
    /// A repository on `pool`, whose database has the service's migrations applied, with the
    /// [`DEFAULT_CLAIM_LEASE`].
    #[must_use]
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            claim_lease: DEFAULT_CLAIM_LEASE,
        }
    }

    /// The same repository, where an unanswered claim older than `lease` may be taken over.
    #[must_use]
    pub fn with_claim_lease(mut self, lease: Duration) -> Self {
        self.claim_lease = lease;
        self
    }
}

/// A value stored as the text of its serde name (`"USD"`, `"pending"`).
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

fn corrupt(what: &str) -> RepositoryError {
    RepositoryError::Unavailable(format!("unexpected value in column `{what}`"))
}

fn money(amount_minor: i64, currency: String, column: &str) -> Result<Money, RepositoryError> {
    Ok(Money::new(
        amount_minor,
        from_text::<Currency>(column, currency)?,
    ))
}

/// A line of [`ORDER_SELECT`]'s `lines` array.
#[derive(Deserialize)]
struct LineRow {
    product_id: Uuid,
    quantity: i64,
    unit_price_minor: i64,
    currency: String,
}

/// An entry of [`ORDER_SELECT`]'s `history` array.
#[derive(Deserialize)]
struct HistoryRow {
    status: String,
    at: DateTime<Utc>,
    reason: Option<String>,
}

/// The order in a row of [`ORDER_SELECT`].
fn order_from_row(row: &PgRow) -> Result<Order, RepositoryError> {
    let Json(lines): Json<Vec<LineRow>> = row.try_get("lines")?;
    let Json(history): Json<Vec<HistoryRow>> = row.try_get("history")?;
    let lines = lines
        .into_iter()
        .map(|line| {
            Ok(OrderLine {
                product_id: ProductId(line.product_id),
                quantity: u32::try_from(line.quantity)
                    .map_err(|_| corrupt("order_lines.quantity"))?,
                unit_price: money(line.unit_price_minor, line.currency, "order_lines.currency")?,
            })
        })
        .collect::<Result<_, RepositoryError>>()?;
    let status_history = history
        .into_iter()
        .map(|change| {
            Ok(StatusChange {
                status: from_text("order_status_history.status", change.status)?,
                at: change.at,
                reason: change.reason,
            })
        })
        .collect::<Result<_, RepositoryError>>()?;
    Ok(Order {
        id: OrderId(row.try_get("id")?),
        user_id: UserId(row.try_get("user_id")?),
        lines,
        total: money(
            row.try_get("total_minor")?,
            row.try_get("currency")?,
            "orders.currency",
        )?,
        status: from_text("orders.status", row.try_get("status")?)?,
        status_history,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

async fn enqueue_all(
    conn: &mut PgConnection,
    events: impl IntoIterator<Item = &EventEnvelope>,
) -> Result<(), RepositoryError> {
    for event in events {
        outbox::enqueue(&mut *conn, event).await?;
    }
    Ok(())
}

#[async_trait]
impl IdempotencyStore for PostgresOrderRepository {
    async fn claim(
        &self,
        user: UserId,
        key: &str,
        fingerprint: &str,
    ) -> Result<Claim, RepositoryError> {
        // The primary key makes this safe across replicas: of concurrent claims, one inserts.
        let inserted = sqlx::query(
            "INSERT INTO idempotency_keys (user_id, key, request_hash) VALUES ($1, $2, $3) \
             ON CONFLICT (user_id, key) DO NOTHING",
        )
        .bind(user.0)
        .bind(key)
        .bind(fingerprint)
        .execute(&self.pool)
        .await?
        .rows_affected();
        if inserted == 1 {
            return Ok(Claim::Claimed);
        }
        // An unanswered claim older than the lease belongs to a request that crashed (or
        // hangs): take it over. The condition makes one of several takers win, and `create`
        // stores a response only while none is stored, so one claimant completes.
        let lease_ms = i64::try_from(self.claim_lease.as_millis()).unwrap_or(i64::MAX);
        let taken = sqlx::query(
            "UPDATE idempotency_keys SET claimed_at = now() \
             WHERE user_id = $1 AND key = $2 AND request_hash = $3 \
             AND response_status IS NULL \
             AND claimed_at < now() - $4::bigint * interval '1 millisecond' \
             RETURNING claimed_at",
        )
        .bind(user.0)
        .bind(key)
        .bind(fingerprint)
        .bind(lease_ms)
        .fetch_optional(&self.pool)
        .await?;
        if taken.is_some() {
            tracing::warn!(%user, key, "took over a stale idempotency claim");
            return Ok(Claim::Claimed);
        }
        let row = sqlx::query(
            "SELECT request_hash, response_status, response_body, response_location \
             FROM idempotency_keys WHERE user_id = $1 AND key = $2",
        )
        .bind(user.0)
        .bind(key)
        .fetch_optional(&self.pool)
        .await?;
        // Released between the insert and the read: still busy, as far as this look can tell;
        // the waiter looks again and claims it.
        let Some(row) = row else {
            return Ok(Claim::InProgress);
        };
        let held: String = row.try_get("request_hash")?;
        if held != fingerprint {
            return Ok(Claim::Mismatch);
        }
        let status: Option<i16> = row.try_get("response_status")?;
        let body: Option<serde_json::Value> = row.try_get("response_body")?;
        Ok(match (status, body) {
            (Some(status), Some(body)) => Claim::Completed(StoredResponse {
                status: u16::try_from(status)
                    .map_err(|_| corrupt("idempotency_keys.response_status"))?,
                body,
                location: row.try_get("response_location")?,
            }),
            _ => Claim::InProgress,
        })
    }

    async fn release(&self, user: UserId, key: &str) -> Result<(), RepositoryError> {
        sqlx::query(
            "DELETE FROM idempotency_keys \
             WHERE user_id = $1 AND key = $2 AND response_status IS NULL",
        )
        .bind(user.0)
        .bind(key)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

#[async_trait]
impl OrderRepository for PostgresOrderRepository {
    async fn create(
        &self,
        order: Order,
        events: &[EventEnvelope],
        completes: Option<Completion>,
    ) -> Result<(), RepositoryError> {
        let mut tx = self.pool.begin().await?;
        // The order, its lines and its history in one statement (one round trip).
        let mut line_nos = Vec::with_capacity(order.lines.len());
        let mut products = Vec::with_capacity(order.lines.len());
        let mut quantities = Vec::with_capacity(order.lines.len());
        let mut prices = Vec::with_capacity(order.lines.len());
        let mut currencies = Vec::with_capacity(order.lines.len());
        for (line_no, line) in order.lines.iter().enumerate() {
            line_nos.push(i32::try_from(line_no).map_err(|_| corrupt("order_lines.line_no"))?);
            products.push(line.product_id.0);
            quantities.push(i64::from(line.quantity));
            prices.push(line.unit_price.amount_minor);
            currencies.push(to_text(&line.unit_price.currency));
        }
        let mut seqs = Vec::with_capacity(order.status_history.len());
        let mut statuses = Vec::with_capacity(order.status_history.len());
        let mut times = Vec::with_capacity(order.status_history.len());
        let mut reasons = Vec::with_capacity(order.status_history.len());
        for (seq, change) in order.status_history.iter().enumerate() {
            seqs.push(i32::try_from(seq).map_err(|_| corrupt("order_status_history.seq"))?);
            statuses.push(to_text(&change.status));
            times.push(change.at);
            reasons.push(change.reason.clone());
        }
        let inserted: i64 = sqlx::query_scalar(
            "WITH created AS ( \
               INSERT INTO orders \
               (id, user_id, status, total_minor, currency, created_at, updated_at) \
               VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING RETURNING id), \
             lines AS ( \
               INSERT INTO order_lines \
               (order_id, line_no, product_id, quantity, unit_price_minor, currency) \
               SELECT created.id, t.* FROM created, \
               UNNEST($8::int[], $9::uuid[], $10::bigint[], $11::bigint[], $12::text[]) AS t), \
             history AS ( \
               INSERT INTO order_status_history (order_id, seq, status, at, reason) \
               SELECT created.id, t.* FROM created, \
               UNNEST($13::int[], $14::text[], $15::timestamptz[], $16::text[]) AS t) \
             SELECT count(*) FROM created",
        )
        .bind(order.id.0)
        .bind(order.user_id.0)
        .bind(to_text(&order.status))
        .bind(order.total.amount_minor)
        .bind(to_text(&order.total.currency))
        .bind(order.created_at)
        .bind(order.updated_at)
        .bind(&line_nos)
        .bind(&products)
        .bind(&quantities)
        .bind(&prices)
        .bind(&currencies)
        .bind(&seqs)
        .bind(&statuses)
        .bind(&times)
        .bind(&reasons)
        .fetch_one(&mut *tx)
        .await?;
        if inserted == 0 {
            return Err(RepositoryError::Duplicate(order.id));
        }
        enqueue_all(&mut tx, events).await?;
        if let Some(Completion { key, response }) = completes {
            let stored = sqlx::query(
                "UPDATE idempotency_keys \
                 SET response_status = $3, response_body = $4, response_location = $5 \
                 WHERE user_id = $1 AND key = $2 AND response_status IS NULL",
            )
            .bind(order.user_id.0)
            .bind(&key)
            .bind(i16::try_from(response.status).map_err(|_| corrupt("response_status"))?)
            .bind(&response.body)
            .bind(response.location.as_deref())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if stored == 0 {
                // Dropping `tx` rolls the order back: the key's response is the only proof
                // that this order is the one the key created.
                return Err(RepositoryError::ClaimLost(key));
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn get(&self, id: OrderId) -> Result<Option<Order>, RepositoryError> {
        // One statement, so one snapshot for the order, its lines and its history.
        sqlx::query(&format!("{ORDER_SELECT} WHERE o.id = $1"))
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(order_from_row)
            .transpose()
    }

    async fn list_for_user(
        &self,
        user: UserId,
        page: u32,
        per_page: u32,
    ) -> Result<Page<Order>, RepositoryError> {
        let page = page.max(1);
        let mut tx = self.pool.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await?;
        let total: i64 = sqlx::query_scalar("SELECT count(*) FROM orders WHERE user_id = $1")
            .bind(user.0)
            .fetch_one(&mut *tx)
            .await?;
        let rows = sqlx::query(&format!(
            "{ORDER_SELECT} WHERE o.user_id = $1 \
             ORDER BY o.created_at DESC, o.id DESC LIMIT $2 OFFSET $3"
        ))
        .bind(user.0)
        .bind(i64::from(per_page))
        .bind((i64::from(page) - 1) * i64::from(per_page))
        .fetch_all(&mut *tx)
        .await?;
        let items = rows
            .iter()
            .map(order_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        tx.commit().await?;
        Ok(Page {
            items,
            page,
            per_page,
            total: u64::try_from(total).map_err(|_| corrupt("count"))?,
        })
    }

    async fn unsettled_before(
        &self,
        cutoff: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<OrderId>, RepositoryError> {
        let ids: Vec<Uuid> = sqlx::query_scalar(
            "SELECT id FROM orders WHERE status IN ('pending', 'reserved') AND created_at < $1 \
             ORDER BY created_at LIMIT $2",
        )
        .bind(cutoff)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(ids.into_iter().map(OrderId).collect())
    }

    async fn transition(
        &self,
        id: OrderId,
        event: &OrderEvent,
        at: DateTime<Utc>,
        delivery: Option<Delivery>,
    ) -> Result<Option<Order>, RepositoryError> {
        let mut tx = self.pool.begin().await?;
        if let Some(delivery) = delivery
            && !inbox::first_time(&mut tx, delivery.consumer, delivery.event_id).await?
        {
            tx.commit().await?;
            return Ok(None);
        }
        // The row lock serializes transitions of one order across replicas. The order is read
        // by the NEXT statement: its snapshot, taken once the lock is held, sees the history
        // that an earlier holder committed (a statement that waited for the lock would not).
        let locked = sqlx::query("SELECT 1 FROM orders WHERE id = $1 FOR UPDATE")
            .bind(id.0)
            .fetch_optional(&mut *tx)
            .await?;
        if locked.is_none() {
            return Err(RepositoryError::NotFound(id));
        }
        let row = sqlx::query(&format!("{ORDER_SELECT} WHERE o.id = $1"))
            .bind(id.0)
            .fetch_one(&mut *tx)
            .await?;
        let mut order = order_from_row(&row)?;
        // An error drops `tx`: nothing is written, the delivery stays unprocessed.
        if !order.apply(event, at)? {
            tx.commit().await?;
            return Ok(None);
        }
        // The new status and its history entry in one statement.
        let seq = order.status_history.len() - 1;
        let change = &order.status_history[seq];
        sqlx::query(
            "WITH changed AS (UPDATE orders SET status = $2, updated_at = $3 WHERE id = $1) \
             INSERT INTO order_status_history (order_id, seq, status, at, reason) \
             VALUES ($1, $4, $5, $6, $7)",
        )
        .bind(id.0)
        .bind(to_text(&order.status))
        .bind(order.updated_at)
        .bind(i32::try_from(seq).map_err(|_| corrupt("order_status_history.seq"))?)
        .bind(to_text(&change.status))
        .bind(change.at)
        .bind(change.reason.as_deref())
        .execute(&mut *tx)
        .await?;
        enqueue_all(&mut tx, order.announcement().as_ref()).await?;
        tx.commit().await?;
        Ok(Some(order))
    }
}
