//! Orders and idempotency keys in `PostgreSQL` (tables of `migrations/0001_order_service.sql`).
//! Each state change is one transaction that also writes the events it causes to the outbox
//! (`platform::outbox::enqueue`; the relay publishes them) and, for a consumed event, records
//! it in the inbox (`platform::inbox::first_time`).

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use platform::{inbox, outbox};
use serde::de::DeserializeOwned;
use shared_events::{EventEnvelope, OrderLine};
use shared_types::{Currency, Money, OrderId, Page, ProductId, UserId};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgPool, Row};
use uuid::Uuid;

use super::{
    Claim, Completion, Delivery, IdempotencyStore, OrderRepository, RepositoryError, StoredResponse,
};
use crate::models::{Order, OrderEvent, StatusChange};

/// The columns of `orders` that [`load`] reads.
const ORDER_COLUMNS: &str = "id, user_id, status, total_minor, currency, created_at, updated_at";

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

/// The full orders of `rows` (selected with [`ORDER_COLUMNS`]), with their lines and history,
/// in the order of `rows`.
async fn load(conn: &mut PgConnection, rows: Vec<PgRow>) -> Result<Vec<Order>, RepositoryError> {
    let ids: Vec<Uuid> = rows
        .iter()
        .map(|row| row.try_get("id"))
        .collect::<Result<_, _>>()?;
    let mut lines: HashMap<Uuid, Vec<OrderLine>> = HashMap::new();
    for row in sqlx::query(
        "SELECT order_id, product_id, quantity, unit_price_minor, currency FROM order_lines \
         WHERE order_id = ANY($1) ORDER BY order_id, line_no",
    )
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?
    {
        let quantity: i64 = row.try_get("quantity")?;
        lines
            .entry(row.try_get("order_id")?)
            .or_default()
            .push(OrderLine {
                product_id: ProductId(row.try_get("product_id")?),
                quantity: u32::try_from(quantity).map_err(|_| corrupt("order_lines.quantity"))?,
                unit_price: money(
                    row.try_get("unit_price_minor")?,
                    row.try_get("currency")?,
                    "order_lines.currency",
                )?,
            });
    }
    let mut history: HashMap<Uuid, Vec<StatusChange>> = HashMap::new();
    for row in sqlx::query(
        "SELECT order_id, status, at, reason FROM order_status_history \
         WHERE order_id = ANY($1) ORDER BY order_id, seq",
    )
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?
    {
        history
            .entry(row.try_get("order_id")?)
            .or_default()
            .push(StatusChange {
                status: from_text("order_status_history.status", row.try_get("status")?)?,
                at: row.try_get("at")?,
                reason: row.try_get("reason")?,
            });
    }
    rows.into_iter()
        .map(|row| {
            let id: Uuid = row.try_get("id")?;
            Ok(Order {
                id: OrderId(id),
                user_id: UserId(row.try_get("user_id")?),
                lines: lines.remove(&id).unwrap_or_default(),
                total: money(
                    row.try_get("total_minor")?,
                    row.try_get("currency")?,
                    "orders.currency",
                )?,
                status: from_text("orders.status", row.try_get("status")?)?,
                status_history: history.remove(&id).unwrap_or_default(),
                created_at: row.try_get("created_at")?,
                updated_at: row.try_get("updated_at")?,
            })
        })
        .collect()
}

/// Appends history entry number `seq` of `order`.
async fn insert_history(
    conn: &mut PgConnection,
    order: OrderId,
    seq: usize,
    change: &StatusChange,
) -> Result<(), RepositoryError> {
    sqlx::query(
        "INSERT INTO order_status_history (order_id, seq, status, at, reason) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(order.0)
    .bind(i32::try_from(seq).map_err(|_| corrupt("order_status_history.seq"))?)
    .bind(to_text(&change.status))
    .bind(change.at)
    .bind(change.reason.as_deref())
    .execute(conn)
    .await?;
    Ok(())
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
        let inserted = sqlx::query(
            "INSERT INTO orders (id, user_id, status, total_minor, currency, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING",
        )
        .bind(order.id.0)
        .bind(order.user_id.0)
        .bind(to_text(&order.status))
        .bind(order.total.amount_minor)
        .bind(to_text(&order.total.currency))
        .bind(order.created_at)
        .bind(order.updated_at)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            return Err(RepositoryError::Duplicate(order.id));
        }
        for (line_no, line) in order.lines.iter().enumerate() {
            sqlx::query(
                "INSERT INTO order_lines \
                 (order_id, line_no, product_id, quantity, unit_price_minor, currency) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(order.id.0)
            .bind(i32::try_from(line_no).map_err(|_| corrupt("order_lines.line_no"))?)
            .bind(line.product_id.0)
            .bind(i64::from(line.quantity))
            .bind(line.unit_price.amount_minor)
            .bind(to_text(&line.unit_price.currency))
            .execute(&mut *tx)
            .await?;
        }
        for (seq, change) in order.status_history.iter().enumerate() {
            insert_history(&mut tx, order.id, seq, change).await?;
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
        let mut tx = self.pool.begin().await?;
        // One snapshot for the order, its lines and its history.
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await?;
        let rows = sqlx::query(&format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id = $1"))
            .bind(id.0)
            .fetch_all(&mut *tx)
            .await?;
        let order = load(&mut tx, rows).await?.pop();
        tx.commit().await?;
        Ok(order)
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
            "SELECT {ORDER_COLUMNS} FROM orders WHERE user_id = $1 \
             ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3"
        ))
        .bind(user.0)
        .bind(i64::from(per_page))
        .bind((i64::from(page) - 1) * i64::from(per_page))
        .fetch_all(&mut *tx)
        .await?;
        let items = load(&mut tx, rows).await?;
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
        // The row lock serializes transitions of one order across replicas.
        let rows = sqlx::query(&format!(
            "SELECT {ORDER_COLUMNS} FROM orders WHERE id = $1 FOR UPDATE"
        ))
        .bind(id.0)
        .fetch_all(&mut *tx)
        .await?;
        let mut order = load(&mut tx, rows)
            .await?
            .pop()
            .ok_or(RepositoryError::NotFound(id))?;
        // An error drops `tx`: nothing is written, the delivery stays unprocessed.
        if !order.apply(event, at)? {
            tx.commit().await?;
            return Ok(None);
        }
        sqlx::query("UPDATE orders SET status = $2, updated_at = $3 WHERE id = $1")
            .bind(id.0)
            .bind(to_text(&order.status))
            .bind(order.updated_at)
            .execute(&mut *tx)
            .await?;
        let seq = order.status_history.len() - 1;
        insert_history(&mut tx, id, seq, &order.status_history[seq]).await?;
        enqueue_all(&mut tx, order.announcement().as_ref()).await?;
        tx.commit().await?;
        Ok(Some(order))
    }
}
