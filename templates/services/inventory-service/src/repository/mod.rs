//! Storage of stock levels and reservations. Every method is one atomic operation, and a state
//! change is stored together with the events it causes and with the event being handled (the
//! inbox), so a crash can neither lose an event nor apply a redelivered one twice:
//!
//! - [`memory::InMemoryInventoryRepository`]: everything under one lock; events are published on
//!   the bus right after the change.
//! - [`postgres::PostgresInventoryRepository`]: one transaction per call; a reservation is one
//!   conditional `UPDATE … SET available = available - $n WHERE product_id = $id AND
//!   available >= $n` per line, in product-id order; events go to the outbox in the same
//!   transaction and the platform's relay publishes them.

pub mod memory;
pub mod postgres;

use async_trait::async_trait;
use shared_events::EventEnvelope;
use shared_types::{EventId, OrderId, ProductId};

pub use memory::InMemoryInventoryRepository;
pub use postgres::PostgresInventoryRepository;

use crate::models::{NotReserved, ReleaseOutcome, Reservation, ReservationLines, StockLevel};

/// The store could not be reached or answered with an error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("inventory storage failed: {0}")]
pub struct RepositoryError(pub String);

impl From<RepositoryError> for platform::ApiError {
    fn from(err: RepositoryError) -> Self {
        Self::dependency("the inventory store", err)
    }
}

impl From<sqlx::Error> for RepositoryError {
    fn from(err: sqlx::Error) -> Self {
        Self(err.to_string())
    }
}

/// The event a call handles, stored with its effect: a second delivery of the same event to
/// the same consumer changes nothing and answers [`Applied::AlreadyProcessed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    /// The consumer group handling it.
    pub consumer: &'static str,
    /// The event's id.
    pub event_id: EventId,
}

/// What a call that may handle a delivered event did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied<T> {
    /// The operation ran (or, without a delivery, always).
    Done(T),
    /// The delivery was handled before: nothing changed, nothing was published.
    AlreadyProcessed,
}

/// The result of a reservation attempt: the reservation, or why nothing was held (a line that
/// lacks stock, or the order was cancelled already).
pub type ReserveOutcome = Result<Reservation, NotReserved>;

/// The events an outcome causes, stored (outbox) or published with it.
pub type EventsFor<'a, T> = dyn Fn(&T) -> Vec<EventEnvelope> + Send + Sync + 'a;

/// For calls that cause no events (the operations' HTTP routes).
#[must_use]
pub fn no_events<T>(_: &T) -> Vec<EventEnvelope> {
    Vec::new()
}

/// Stock levels and reservations.
#[async_trait]
pub trait InventoryRepository: Send + Sync {
    /// The stock of `product_id`, if it is tracked.
    async fn stock(&self, product_id: ProductId) -> Result<Option<StockLevel>, RepositoryError>;

    /// Sets the units available to sell (restock or correction), creating the entry if needed;
    /// units held for orders are untouched.
    async fn set_available(
        &self,
        product_id: ProductId,
        available: u32,
    ) -> Result<StockLevel, RepositoryError>;

    /// Creates the entry with `available` units unless the product is tracked already (demo
    /// data: a restart must not reset real stock). Answers the stock as it now is.
    async fn ensure_stock(
        &self,
        product_id: ProductId,
        available: u32,
    ) -> Result<StockLevel, RepositoryError>;

    /// Holds every line for `order_id`, or nothing (`Err(NotReserved::Insufficient)` names the
    /// first line that lacks stock; `Err(NotReserved::Cancelled)` when the order was cancelled
    /// before, see [`InventoryRepository::release`]). Reserving an order that already has a reservation changes nothing and
    /// answers it. The events `events(&outcome)` are stored with the outcome.
    async fn reserve(
        &self,
        order_id: OrderId,
        lines: &ReservationLines,
        delivery: Option<Delivery>,
        events: &EventsFor<'_, ReserveOutcome>,
    ) -> Result<Applied<ReserveOutcome>, RepositoryError>;

    /// Marks a held reservation sold (its units leave `reserved`). Answers the reservation as
    /// it now is (unchanged unless it was held), or `None` for an unknown order.
    async fn commit(
        &self,
        order_id: OrderId,
        delivery: Option<Delivery>,
    ) -> Result<Applied<Option<Reservation>>, RepositoryError>;

    /// Gives a held reservation's units back or restocks a sold one's; a no-op when already
    /// released. For an unknown order (its cancel overtook its creation) it records a
    /// tombstone in the same atomic step, so a later [`InventoryRepository::reserve`] for it
    /// holds nothing. The events `events(&outcome)` are stored with the outcome.
    async fn release(
        &self,
        order_id: OrderId,
        delivery: Option<Delivery>,
        events: &EventsFor<'_, ReleaseOutcome>,
    ) -> Result<Applied<ReleaseOutcome>, RepositoryError>;

    /// Stores `events` (and the delivery) without changing stock: for an event whose only
    /// effect is to answer with other events (e.g. an order with invalid lines).
    async fn emit(
        &self,
        delivery: Option<Delivery>,
        events: Vec<EventEnvelope>,
    ) -> Result<Applied<()>, RepositoryError>;

    /// The reservation of `order_id`, if any.
    async fn reservation(&self, order_id: OrderId) -> Result<Option<Reservation>, RepositoryError>;
}
