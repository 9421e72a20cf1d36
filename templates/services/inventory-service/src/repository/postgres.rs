//! The `PostgreSQL` repository: one transaction per call. A reservation is one conditional
//! `UPDATE` per line in product-id order (never a read then a write), so concurrent orders can
//! neither oversell (the `WHERE available >= $n` and the `CHECK (available >= 0)`) nor deadlock
//! (every transaction locks stock rows in the same order). The events of a change go to the
//! outbox and the handled event to the inbox, in the change's transaction.

use async_trait::async_trait;
use platform::{inbox, outbox};
use shared_events::EventEnvelope;
use shared_types::{OrderId, ProductId};
use sqlx::{PgConnection, PgPool, Postgres, Transaction};
use uuid::Uuid;

use super::{Applied, Delivery, EventsFor, InventoryRepository, RepositoryError, ReserveOutcome};
use crate::models::{
    Insufficient, NotReserved, ReleaseEffect, ReleaseOutcome, Reservation, ReservationLine,
    ReservationLines, ReservationState, StockLevel,
};

/// Stock and reservations in the service's `PostgreSQL` database (`migrations/`).
#[derive(Clone)]
pub struct PostgresInventoryRepository {
    pool: PgPool,
    /// Where the reads read replicas may serve go: the replicas, or `pool`.
    reads: PgPool,
}

impl PostgresInventoryRepository {
    /// A repository over `pool`, whose database has the service's migrations applied.
    #[must_use]
    pub fn new(pool: PgPool) -> Self {
        Self {
            reads: pool.clone(),
            pool,
        }
    }

    /// The same repository, serving the reads the architecture model lets read replicas serve
    /// from `reads` when given (`DATABASE_READ_URL`).
    #[must_use]
    pub fn with_reads(mut self, reads: Option<PgPool>) -> Self {
        if let Some(reads) = reads {
            self.reads = reads;
        }
        self
    }

    /// Begins a transaction and records `delivery` in the inbox; `None` when it was handled
    /// before (the transaction is dropped: nothing else may commit).
    async fn begin(
        &self,
        delivery: Option<Delivery>,
    ) -> Result<Option<Transaction<'static, Postgres>>, RepositoryError> {
        let mut tx = self.pool.begin().await?;
        if let Some(delivery) = delivery
            && !inbox::first_time(&mut tx, delivery.consumer, delivery.event_id).await?
        {
            return Ok(None);
        }
        Ok(Some(tx))
    }
}

fn units(value: i64) -> Result<u32, RepositoryError> {
    u32::try_from(value)
        .map_err(|_| RepositoryError(format!("stored count {value} is out of range")))
}

fn stock_level(
    (product_id, available, reserved): (Uuid, i64, i64),
) -> Result<StockLevel, RepositoryError> {
    Ok(StockLevel {
        product_id: ProductId(product_id),
        available: units(available)?,
        reserved: units(reserved)?,
    })
}

fn state_name(state: ReservationState) -> &'static str {
    match state {
        ReservationState::Reserved => "reserved",
        ReservationState::Committed => "committed",
        ReservationState::Released => "released",
    }
}

fn parse_state(name: &str) -> Result<ReservationState, RepositoryError> {
    match name {
        "reserved" => Ok(ReservationState::Reserved),
        "committed" => Ok(ReservationState::Committed),
        "released" => Ok(ReservationState::Released),
        other => Err(RepositoryError(format!(
            "unknown reservation state `{other}`"
        ))),
    }
}

/// The reservation of `order_id`; `lock` takes its row lock for the rest of the transaction.
async fn load_reservation(
    conn: &mut PgConnection,
    order_id: OrderId,
    lock: bool,
) -> Result<Option<Reservation>, RepositoryError> {
    // One statement: the lines are written with the reservation and never change, so the
    // snapshot that sees the reservation sees all of them.
    let sql = format!(
        "SELECT r.state, \
         ARRAY(SELECT l.product_id FROM reservation_lines l \
               WHERE l.order_id = r.order_id ORDER BY l.product_id) AS products, \
         ARRAY(SELECT l.quantity FROM reservation_lines l \
               WHERE l.order_id = r.order_id ORDER BY l.product_id) AS quantities \
         FROM reservations r WHERE r.order_id = $1{}",
        if lock { " FOR UPDATE OF r" } else { "" }
    );
    let Some((state, products, quantities)): Option<(String, Vec<Uuid>, Vec<i64>)> =
        sqlx::query_as(&sql)
            .bind(order_id.0)
            .fetch_optional(&mut *conn)
            .await?
    else {
        return Ok(None);
    };
    let rows = products.into_iter().zip(quantities);
    let lines = rows
        .map(|(product_id, quantity)| {
            Ok(ReservationLine {
                product_id: ProductId(product_id),
                quantity: units(quantity)?,
            })
        })
        .collect::<Result<Vec<_>, RepositoryError>>()?;
    let lines = ReservationLines::new(lines)
        .map_err(|err| RepositoryError(format!("stored reservation {order_id}: {err}")))?;
    Ok(Some(Reservation {
        order_id,
        lines,
        state: parse_state(&state)?,
    }))
}

/// The units of `product_id` available now (0 when untracked), for the insufficiency message.
async fn available_now(
    conn: &mut PgConnection,
    product_id: ProductId,
) -> Result<u32, RepositoryError> {
    let available: Option<i64> =
        sqlx::query_scalar("SELECT available FROM stock WHERE product_id = $1")
            .bind(product_id.0)
            .fetch_optional(&mut *conn)
            .await?;
    units(available.unwrap_or(0))
}

/// Serialises the reservation and the release of one order until the transaction ends, so a
/// cancel and a creation racing each other see each other's effect (the tombstone, or the
/// reservation) instead of both missing it.
async fn lock_order(conn: &mut PgConnection, order_id: OrderId) -> Result<(), RepositoryError> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1::text, 0))")
        .bind(order_id.0)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Holds every line or none, inside the caller's transaction (rolled back to a savepoint when
/// a line lacks stock, so the caller can still commit its inbox and outbox rows).
async fn reserve_in(
    conn: &mut PgConnection,
    order_id: OrderId,
    lines: &ReservationLines,
) -> Result<ReserveOutcome, RepositoryError> {
    lock_order(conn, order_id).await?;
    sqlx::query("SAVEPOINT reserve").execute(&mut *conn).await?;
    // One statement claims the order with its lines and reads whether it was cancelled: the
    // order's lock (above) is held, so a cancellation has committed its tombstone before this
    // statement's snapshot or waits until this transaction ends. If a line lacks stock, the
    // savepoint takes the claim and the lines back.
    let (products, quantities): (Vec<Uuid>, Vec<i64>) = lines
        .lines()
        .iter()
        .map(|line| (line.product_id.0, i64::from(line.quantity)))
        .unzip();
    let (claimed, cancelled): (i64, bool) = sqlx::query_as(
        "WITH claimed AS ( \
           INSERT INTO reservations (order_id, state) VALUES ($1, 'reserved') \
           ON CONFLICT (order_id) DO NOTHING RETURNING order_id), \
         lines AS ( \
           INSERT INTO reservation_lines (order_id, product_id, quantity) \
           SELECT claimed.order_id, t.product_id, t.quantity FROM claimed, \
           UNNEST($2::uuid[], $3::bigint[]) AS t(product_id, quantity)) \
         SELECT (SELECT count(*) FROM claimed), \
                EXISTS (SELECT 1 FROM cancelled_orders WHERE order_id = $1)",
    )
    .bind(order_id.0)
    .bind(&products)
    .bind(&quantities)
    .fetch_one(&mut *conn)
    .await?;
    if claimed == 0 {
        // The order was reserved before: that reservation stands.
        sqlx::query("RELEASE SAVEPOINT reserve")
            .execute(&mut *conn)
            .await?;
        let existing = load_reservation(conn, order_id, false)
            .await?
            .ok_or_else(|| {
                RepositoryError(format!("reservation {order_id} vanished while being read"))
            })?;
        return Ok(Ok(existing));
    }
    if cancelled {
        sqlx::query("ROLLBACK TO SAVEPOINT reserve")
            .execute(&mut *conn)
            .await?;
        return Ok(Err(NotReserved::Cancelled));
    }
    // `lines` are in product-id order: every transaction locks stock rows in the same order.
    for line in lines.lines() {
        let taken = sqlx::query(
            "UPDATE stock SET available = available - $2, reserved = reserved + $2, \
             updated_at = now() WHERE product_id = $1 AND available >= $2",
        )
        .bind(line.product_id.0)
        .bind(i64::from(line.quantity))
        .execute(&mut *conn)
        .await?
        .rows_affected();
        if taken == 0 {
            sqlx::query("ROLLBACK TO SAVEPOINT reserve")
                .execute(&mut *conn)
                .await?;
            return Ok(Err(NotReserved::Insufficient(Insufficient {
                product_id: line.product_id,
                requested: line.quantity,
                available: available_now(conn, line.product_id).await?,
            })));
        }
    }
    // The savepoint is left to the commit: releasing it would cost a round trip while the
    // stock rows just updated stay locked.
    Ok(Ok(Reservation {
        order_id,
        lines: lines.clone(),
        state: ReservationState::Reserved,
    }))
}

async fn set_state(
    conn: &mut PgConnection,
    order_id: OrderId,
    state: ReservationState,
) -> Result<(), RepositoryError> {
    sqlx::query("UPDATE reservations SET state = $2, updated_at = now() WHERE order_id = $1")
        .bind(order_id.0)
        .bind(state_name(state))
        .execute(&mut *conn)
        .await?;
    Ok(())
}

async fn enqueue_all(
    conn: &mut PgConnection,
    events: &[EventEnvelope],
) -> Result<(), RepositoryError> {
    for event in events {
        outbox::enqueue(conn, event).await?;
    }
    Ok(())
}

#[async_trait]
impl InventoryRepository for PostgresInventoryRepository {
    async fn stock(&self, product_id: ProductId) -> Result<Option<StockLevel>, RepositoryError> {
        let row: Option<(Uuid, i64, i64)> = sqlx::query_as(
            "SELECT product_id, available, reserved FROM stock WHERE product_id = $1",
        )
        .bind(product_id.0)
        .fetch_optional(&self.reads)
        .await?;
        row.map(stock_level).transpose()
    }

    async fn set_available(
        &self,
        product_id: ProductId,
        available: u32,
    ) -> Result<StockLevel, RepositoryError> {
        let row: (Uuid, i64, i64) = sqlx::query_as(
            "INSERT INTO stock (product_id, available, reserved) VALUES ($1, $2, 0) \
             ON CONFLICT (product_id) DO UPDATE SET available = EXCLUDED.available, updated_at = now() \
             RETURNING product_id, available, reserved",
        )
        .bind(product_id.0)
        .bind(i64::from(available))
        .fetch_one(&self.pool)
        .await?;
        stock_level(row)
    }

    async fn ensure_stock(
        &self,
        product_id: ProductId,
        available: u32,
    ) -> Result<StockLevel, RepositoryError> {
        // The no-op update makes RETURNING answer the existing row too.
        let row: (Uuid, i64, i64) = sqlx::query_as(
            "INSERT INTO stock (product_id, available, reserved) VALUES ($1, $2, 0) \
             ON CONFLICT (product_id) DO UPDATE SET product_id = stock.product_id \
             RETURNING product_id, available, reserved",
        )
        .bind(product_id.0)
        .bind(i64::from(available))
        .fetch_one(&self.pool)
        .await?;
        stock_level(row)
    }

    async fn reserve(
        &self,
        order_id: OrderId,
        lines: &ReservationLines,
        delivery: Option<Delivery>,
        events: &EventsFor<'_, ReserveOutcome>,
    ) -> Result<Applied<ReserveOutcome>, RepositoryError> {
        let Some(mut tx) = self.begin(delivery).await? else {
            return Ok(Applied::AlreadyProcessed);
        };
        let outcome = reserve_in(&mut tx, order_id, lines).await?;
        enqueue_all(&mut tx, &events(&outcome)).await?;
        tx.commit().await?;
        Ok(Applied::Done(outcome))
    }

    async fn commit(
        &self,
        order_id: OrderId,
        delivery: Option<Delivery>,
    ) -> Result<Applied<Option<Reservation>>, RepositoryError> {
        let Some(mut tx) = self.begin(delivery).await? else {
            return Ok(Applied::AlreadyProcessed);
        };
        let Some(mut reservation) = load_reservation(&mut tx, order_id, true).await? else {
            tx.commit().await?;
            return Ok(Applied::Done(None));
        };
        if reservation.state.can_commit() {
            reservation.state = ReservationState::Committed;
            set_state(&mut tx, order_id, reservation.state).await?;
            // The stock rows last: every order of a product updates its row, so its lock is
            // held only from here to the commit.
            for line in reservation.lines.lines() {
                sqlx::query(
                    "UPDATE stock SET reserved = reserved - $2, updated_at = now() \
                     WHERE product_id = $1",
                )
                .bind(line.product_id.0)
                .bind(i64::from(line.quantity))
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(Applied::Done(Some(reservation)))
    }

    async fn release(
        &self,
        order_id: OrderId,
        delivery: Option<Delivery>,
        events: &EventsFor<'_, ReleaseOutcome>,
    ) -> Result<Applied<ReleaseOutcome>, RepositoryError> {
        let Some(mut tx) = self.begin(delivery).await? else {
            return Ok(Applied::AlreadyProcessed);
        };
        lock_order(&mut tx, order_id).await?;
        let outcome = match load_reservation(&mut tx, order_id, true).await? {
            None => {
                // The cancel overtook the creation: remember it, so the reservation that may
                // still arrive holds nothing.
                sqlx::query(
                    "INSERT INTO cancelled_orders (order_id) VALUES ($1) \
                     ON CONFLICT (order_id) DO NOTHING",
                )
                .bind(order_id.0)
                .execute(&mut *tx)
                .await?;
                ReleaseOutcome::UnknownOrder
            }
            Some(mut reservation) => {
                let effect = reservation.state.release_effect();
                let sql = match effect {
                    ReleaseEffect::ReturnHeld => Some(
                        "UPDATE stock SET reserved = reserved - $2, \
                         available = LEAST(available + $2, 4294967295), updated_at = now() \
                         WHERE product_id = $1",
                    ),
                    ReleaseEffect::Restock => Some(
                        "UPDATE stock SET available = LEAST(available + $2, 4294967295), \
                         updated_at = now() WHERE product_id = $1",
                    ),
                    ReleaseEffect::Nothing => None,
                };
                if let Some(sql) = sql {
                    for line in reservation.lines.lines() {
                        sqlx::query(sql)
                            .bind(line.product_id.0)
                            .bind(i64::from(line.quantity))
                            .execute(&mut *tx)
                            .await?;
                    }
                    reservation.state = ReservationState::Released;
                    set_state(&mut tx, order_id, reservation.state).await?;
                }
                match effect {
                    ReleaseEffect::ReturnHeld => ReleaseOutcome::ReturnedHeld(reservation),
                    ReleaseEffect::Restock => ReleaseOutcome::Restocked(reservation),
                    ReleaseEffect::Nothing => ReleaseOutcome::AlreadyReleased(reservation),
                }
            }
        };
        enqueue_all(&mut tx, &events(&outcome)).await?;
        tx.commit().await?;
        Ok(Applied::Done(outcome))
    }

    async fn emit(
        &self,
        delivery: Option<Delivery>,
        events: Vec<EventEnvelope>,
    ) -> Result<Applied<()>, RepositoryError> {
        let Some(mut tx) = self.begin(delivery).await? else {
            return Ok(Applied::AlreadyProcessed);
        };
        enqueue_all(&mut tx, &events).await?;
        tx.commit().await?;
        Ok(Applied::Done(()))
    }

    async fn reservation(&self, order_id: OrderId) -> Result<Option<Reservation>, RepositoryError> {
        let mut conn = self.pool.acquire().await?;
        load_reservation(&mut conn, order_id, false).await
    }
}
