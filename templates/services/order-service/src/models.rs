//! Orders and their state machine. The state machine is a pure function of (current status,
//! event): the repository applies it under its lock, the consumers and the API only say what
//! happened.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shared_events::{EventEnvelope, OrderCancelled, OrderConfirmed, OrderLine};
use shared_types::{Money, MoneyError, OrderId, ProductId, UserId};

/// The reason recorded when the customer (or an admin on their behalf) cancels.
pub const CANCELLED_BY_CUSTOMER: &str = "cancelled by customer";
/// The reason recorded when the saga's timeout gave an order up.
pub const TIMED_OUT: &str = "timed out: no payment outcome within the checkout's time limit";

/// Where an order is in the checkout saga.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OrderStatus {
    /// Placed; waiting for inventory to hold the stock.
    Pending,
    /// Stock is held; waiting for the payment.
    Reserved,
    /// Paid; the order will be fulfilled.
    Confirmed,
    /// Will not be fulfilled; held stock and charges are undone.
    Cancelled,
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Pending => "pending",
            Self::Reserved => "reserved",
            Self::Confirmed => "confirmed",
            Self::Cancelled => "cancelled",
        })
    }
}

/// What happened to an order: the inputs of the state machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderEvent {
    /// Inventory holds every line (`inventory.reserved`).
    InventoryReserved,
    /// Inventory could not hold some line (`inventory.reservation-failed`).
    ReservationFailed { reason: String },
    /// The charge went through (`payment.succeeded`).
    PaymentSucceeded,
    /// The charge was declined (`payment.failed`).
    PaymentFailed { reason: String },
    /// The customer or an admin cancelled the order.
    CancelledByCustomer,
    /// No outcome within the saga's timeout (`topology::ORDER_TIMEOUT`): given up.
    TimedOut,
}

impl OrderEvent {
    /// The reason recorded in the status history (and carried by `order.cancelled`).
    #[must_use]
    pub fn reason(&self) -> Option<String> {
        match self {
            Self::InventoryReserved | Self::PaymentSucceeded => None,
            Self::ReservationFailed { reason } => Some(format!("reservation failed: {reason}")),
            Self::PaymentFailed { reason } => Some(format!("payment failed: {reason}")),
            Self::CancelledByCustomer => Some(CANCELLED_BY_CUSTOMER.to_owned()),
            Self::TimedOut => Some(TIMED_OUT.to_owned()),
        }
    }

    /// A short name for logs and errors.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Self::InventoryReserved => "inventory reserved",
            Self::ReservationFailed { .. } => "inventory reservation failed",
            Self::PaymentSucceeded => "payment succeeded",
            Self::PaymentFailed { .. } => "payment failed",
            Self::CancelledByCustomer => "cancelled by customer",
            Self::TimedOut => "timed out",
        }
    }
}

/// An event that cannot happen to an order in its current status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an order that is {from} cannot take `{event}`")]
pub struct IllegalTransition {
    pub from: OrderStatus,
    pub event: &'static str,
}

/// The status `event` moves an order in status `from` to: `Ok(Some(next))` for a change,
/// `Ok(None)` when the event's effect is already part of the current status (a redelivered
/// event, or a late saga event for an order that was already cancelled), and an error for
/// an event that contradicts the current status.
pub fn next_status(
    from: OrderStatus,
    event: &OrderEvent,
) -> Result<Option<OrderStatus>, IllegalTransition> {
    use OrderEvent as E;
    use OrderStatus as S;
    let illegal = || IllegalTransition {
        from,
        event: event.name(),
    };
    match (from, event) {
        (S::Pending, E::InventoryReserved) => Ok(Some(S::Reserved)),
        // A payment seen before its reservation (they travel on different topics, so either
        // may arrive first): the payment service charges only reserved orders, so the charge
        // proves the reservation, and the late `inventory.reserved` finds the order confirmed.
        // Judged by state, not retried until the reservation shows up.
        (S::Pending | S::Reserved, E::PaymentSucceeded) => Ok(Some(S::Confirmed)),
        (
            S::Pending,
            E::ReservationFailed { .. }
            | E::PaymentFailed { .. }
            | E::CancelledByCustomer
            | E::TimedOut,
        )
        | (S::Reserved, E::PaymentFailed { .. } | E::CancelledByCustomer | E::TimedOut)
        | (S::Confirmed, E::CancelledByCustomer) => Ok(Some(S::Cancelled)),
        // Already there (or past it): a redelivery changes nothing, and a confirmed order
        // finished in time.
        (S::Reserved | S::Confirmed, E::InventoryReserved)
        | (S::Confirmed, E::PaymentSucceeded | E::TimedOut)
        // Cancelled is final; the saga's late events find nothing left to do.
        | (S::Cancelled, _) => Ok(None),
        // Contradictions: a reservation cannot both succeed and fail, nor a charge.
        (S::Reserved | S::Confirmed, E::ReservationFailed { .. })
        | (S::Confirmed, E::PaymentFailed { .. }) => Err(illegal()),
    }
}

/// One entry of an order's status history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StatusChange {
    pub status: OrderStatus,
    pub at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// An order: what the customer bought, at which prices, and where it is in the saga.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Order {
    pub id: OrderId,
    pub user_id: UserId,
    #[schema(value_type = Vec<OrderLineSchema>)]
    pub lines: Vec<OrderLine>,
    pub total: Money,
    pub status: OrderStatus,
    /// Every status the order has had, oldest first, starting with `pending`.
    pub status_history: Vec<StatusChange>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

// The schema of `OrderLine` in the API document: `OrderLine` is an event type of
// `shared-events`, which knows nothing of OpenAPI. A test keeps the two alike.
/// One line of an order: what, how many, at what unit price.
#[derive(utoipa::ToSchema)]
#[schema(as = OrderLine)]
#[allow(dead_code, reason = "only its schema is used")]
pub struct OrderLineSchema {
    pub product_id: ProductId,
    pub quantity: u32,
    pub unit_price: Money,
}

/// Why an order cannot be placed from the given lines.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderError {
    #[error("the cart is empty")]
    Empty,
    #[error("line {index}: quantity must be at least 1")]
    ZeroQuantity { index: usize },
    #[error("line {index}: unit price must not be negative")]
    NegativePrice { index: usize },
    #[error("cannot total the order: {0}")]
    Total(#[from] MoneyError),
}

impl Order {
    /// A new pending order of `lines` for `user`, totalled in the currency of its first line.
    pub fn place(
        user: UserId,
        lines: Vec<OrderLine>,
        now: DateTime<Utc>,
    ) -> Result<Self, OrderError> {
        let currency = lines.first().ok_or(OrderError::Empty)?.unit_price.currency;
        let mut line_totals = Vec::with_capacity(lines.len());
        for (index, line) in lines.iter().enumerate() {
            if line.quantity == 0 {
                return Err(OrderError::ZeroQuantity { index });
            }
            if line.unit_price.amount_minor < 0 {
                return Err(OrderError::NegativePrice { index });
            }
            line_totals.push(line.unit_price.checked_mul(line.quantity)?);
        }
        let total = Money::sum(currency, line_totals)?;
        Ok(Self {
            id: OrderId::new(),
            user_id: user,
            lines,
            total,
            status: OrderStatus::Pending,
            status_history: vec![StatusChange {
                status: OrderStatus::Pending,
                at: now,
                reason: None,
            }],
            created_at: now,
            updated_at: now,
        })
    }

    /// Applies `event` at `now`: `Ok(true)` if the status changed (and history grew),
    /// `Ok(false)` for a no-op.
    pub fn apply(
        &mut self,
        event: &OrderEvent,
        now: DateTime<Utc>,
    ) -> Result<bool, IllegalTransition> {
        let Some(next) = next_status(self.status, event)? else {
            return Ok(false);
        };
        self.status = next;
        self.updated_at = now;
        self.status_history.push(StatusChange {
            status: next,
            at: now,
            reason: event.reason(),
        });
        Ok(true)
    }

    /// The reason of the latest status change, if it gave one.
    #[must_use]
    pub fn last_reason(&self) -> Option<&str> {
        self.status_history.last()?.reason.as_deref()
    }

    /// The event announcing the order's current status, if that status is announced:
    /// `order.confirmed` or `order.cancelled`. The repository records it with the transition
    /// that reached the status.
    #[must_use]
    pub fn announcement(&self) -> Option<EventEnvelope> {
        match self.status {
            OrderStatus::Confirmed => Some(EventEnvelope::wrap(&OrderConfirmed {
                order_id: self.id,
                user_id: self.user_id,
                total: self.total,
                lines: self.lines.clone(),
            })),
            OrderStatus::Cancelled => Some(EventEnvelope::wrap(&OrderCancelled {
                order_id: self.id,
                user_id: self.user_id,
                reason: self.last_reason().unwrap_or("cancelled").to_owned(),
            })),
            OrderStatus::Pending | OrderStatus::Reserved => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use shared_types::{Currency, ProductId};

    use super::*;
    use OrderEvent as E;
    use OrderStatus as S;

    fn events() -> Vec<OrderEvent> {
        vec![
            E::InventoryReserved,
            E::ReservationFailed {
                reason: "out of stock".into(),
            },
            E::PaymentSucceeded,
            E::PaymentFailed {
                reason: "declined".into(),
            },
            E::CancelledByCustomer,
            E::TimedOut,
        ]
    }

    /// The whole table: (from, event index, expected). `Err(())` marks an illegal transition.
    #[allow(clippy::type_complexity, reason = "a literal table reads best inline")]
    const TABLE: &[(S, usize, Result<Option<S>, ()>)] = &[
        (S::Pending, 0, Ok(Some(S::Reserved))),
        (S::Pending, 1, Ok(Some(S::Cancelled))),
        (S::Pending, 2, Ok(Some(S::Confirmed))),
        (S::Pending, 3, Ok(Some(S::Cancelled))),
        (S::Pending, 4, Ok(Some(S::Cancelled))),
        (S::Pending, 5, Ok(Some(S::Cancelled))),
        (S::Reserved, 0, Ok(None)),
        (S::Reserved, 1, Err(())),
        (S::Reserved, 2, Ok(Some(S::Confirmed))),
        (S::Reserved, 3, Ok(Some(S::Cancelled))),
        (S::Reserved, 4, Ok(Some(S::Cancelled))),
        (S::Reserved, 5, Ok(Some(S::Cancelled))),
        (S::Confirmed, 0, Ok(None)),
        (S::Confirmed, 1, Err(())),
        (S::Confirmed, 2, Ok(None)),
        (S::Confirmed, 3, Err(())),
        (S::Confirmed, 4, Ok(Some(S::Cancelled))),
        (S::Confirmed, 5, Ok(None)),
        (S::Cancelled, 0, Ok(None)),
        (S::Cancelled, 1, Ok(None)),
        (S::Cancelled, 2, Ok(None)),
        (S::Cancelled, 3, Ok(None)),
        (S::Cancelled, 4, Ok(None)),
        (S::Cancelled, 5, Ok(None)),
    ];

    #[test]
    fn every_status_and_event_pair_follows_the_table() {
        let events = events();
        assert_eq!(TABLE.len(), 4 * events.len(), "the table covers every pair");
        for &(from, index, expected) in TABLE {
            let event = &events[index];
            let actual = next_status(from, event).map_err(|_| ());
            assert_eq!(actual, expected, "{from} + {}", event.name());
        }
    }

    #[test]
    fn an_illegal_transition_names_the_status_and_the_event() {
        let err = next_status(S::Confirmed, &E::PaymentFailed { reason: "x".into() }).unwrap_err();
        assert_eq!(
            err.to_string(),
            "an order that is confirmed cannot take `payment failed`"
        );
    }

    #[test]
    fn cancellation_reasons_say_what_went_wrong() {
        assert_eq!(
            E::PaymentFailed {
                reason: "card declined".into()
            }
            .reason()
            .as_deref(),
            Some("payment failed: card declined")
        );
        assert_eq!(
            E::CancelledByCustomer.reason().as_deref(),
            Some(CANCELLED_BY_CUSTOMER)
        );
        assert_eq!(E::InventoryReserved.reason(), None);
    }

    fn line(price: i64, quantity: u32) -> OrderLine {
        OrderLine {
            product_id: ProductId::new(),
            quantity,
            unit_price: Money::new(price, Currency::Usd),
        }
    }

    #[test]
    fn a_placed_order_is_pending_with_the_total_of_its_lines() {
        let order =
            Order::place(UserId::new(), vec![line(1999, 2), line(500, 1)], Utc::now()).unwrap();
        assert_eq!(order.status, S::Pending);
        assert_eq!(order.total, Money::new(4498, Currency::Usd));
        assert_eq!(order.status_history.len(), 1);
        assert_eq!(order.status_history[0].status, S::Pending);
    }

    #[test]
    fn an_order_needs_lines_with_quantities_in_one_currency() {
        let now = Utc::now();
        assert_eq!(
            Order::place(UserId::new(), vec![], now),
            Err(OrderError::Empty)
        );
        assert_eq!(
            Order::place(UserId::new(), vec![line(100, 1), line(100, 0)], now),
            Err(OrderError::ZeroQuantity { index: 1 })
        );
        assert_eq!(
            Order::place(UserId::new(), vec![line(-1, 1)], now),
            Err(OrderError::NegativePrice { index: 0 })
        );
        let mut euro = line(100, 1);
        euro.unit_price.currency = Currency::Eur;
        assert_eq!(
            Order::place(UserId::new(), vec![line(100, 1), euro], now),
            Err(OrderError::Total(MoneyError::CurrencyMismatch(
                Currency::Usd,
                Currency::Eur
            )))
        );
    }

    #[test]
    fn applying_records_history_and_a_repeat_is_a_no_op() {
        let mut order = Order::place(UserId::new(), vec![line(100, 1)], Utc::now()).unwrap();
        assert!(order.apply(&E::InventoryReserved, Utc::now()).unwrap());
        assert!(!order.apply(&E::InventoryReserved, Utc::now()).unwrap());
        assert!(order.apply(&E::PaymentSucceeded, Utc::now()).unwrap());
        assert!(order.apply(&E::CancelledByCustomer, Utc::now()).unwrap());
        let statuses: Vec<_> = order.status_history.iter().map(|c| c.status).collect();
        assert_eq!(
            statuses,
            [S::Pending, S::Reserved, S::Confirmed, S::Cancelled]
        );
        assert_eq!(order.last_reason(), Some(CANCELLED_BY_CUSTOMER));
    }

    #[test]
    fn confirmed_and_cancelled_are_announced_with_their_reason() {
        let mut order = Order::place(UserId::new(), vec![line(100, 1)], Utc::now()).unwrap();
        assert_eq!(order.announcement(), None);
        order.apply(&E::InventoryReserved, Utc::now()).unwrap();
        assert_eq!(order.announcement(), None);
        order.apply(&E::PaymentSucceeded, Utc::now()).unwrap();
        let confirmed: OrderConfirmed = order.announcement().unwrap().decode().unwrap();
        assert_eq!(confirmed.total, order.total);
        assert_eq!(confirmed.lines, order.lines, "what the order bought");
        order.apply(&E::CancelledByCustomer, Utc::now()).unwrap();
        let cancelled: OrderCancelled = order.announcement().unwrap().decode().unwrap();
        assert_eq!(cancelled.reason, CANCELLED_BY_CUSTOMER);
        assert_eq!(cancelled.order_id, order.id);
    }

    #[test]
    fn an_illegal_event_leaves_the_order_untouched() {
        let mut order = Order::place(UserId::new(), vec![line(100, 1)], Utc::now()).unwrap();
        order.apply(&E::InventoryReserved, Utc::now()).unwrap();
        let before = order.clone();
        let contradiction = E::ReservationFailed {
            reason: "gone".into(),
        };
        assert!(order.apply(&contradiction, Utc::now()).is_err());
        assert_eq!(order, before);
    }

    #[test]
    fn the_documented_order_line_has_the_fields_an_order_line_serializes() {
        let line = OrderLine {
            product_id: ProductId::new(),
            quantity: 2,
            unit_price: Money::new(199, Currency::Usd),
        };
        let serialized = serde_json::to_value(&line).unwrap();
        let serialized: Vec<&String> = serialized.as_object().unwrap().keys().collect();
        let utoipa::openapi::RefOr::T(utoipa::openapi::schema::Schema::Object(schema)) =
            <OrderLineSchema as utoipa::PartialSchema>::schema()
        else {
            panic!("OrderLineSchema is not an object schema");
        };
        let documented: Vec<&String> = schema.properties.keys().collect();
        assert_eq!(documented, serialized);
    }
}
