//! Stock levels, reservations and their rules: which lines make a valid reservation, and what
//! committing or releasing a reservation does to stock.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use shared_types::{OrderId, ProductId};

/// Stock of one product: units free to sell and units held for orders in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StockLevel {
    pub product_id: ProductId,
    pub available: u32,
    pub reserved: u32,
}

/// One line of a reservation: how many units of which product.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReservationLine {
    pub product_id: ProductId,
    // Any u32; utoipa would document it as an int32, whose range is narrower.
    #[schema(value_type = i64, minimum = 1, maximum = 4_294_967_295_i64)]
    pub quantity: u32,
}

/// Why a list of lines cannot be reserved at all (whatever the stock).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidLines {
    #[error("a reservation needs at least one line")]
    Empty,
    #[error("quantity of product {0} must be at least 1")]
    ZeroQuantity(ProductId),
    #[error("quantity of product {0} is out of range")]
    TooLarge(ProductId),
}

/// The lines of a reservation, validated: not empty, every quantity at least 1, one line per
/// product (lines for the same product are added up), ordered by product id so that a database
/// implementation locks rows in a consistent order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(transparent)]
pub struct ReservationLines(Vec<ReservationLine>);

impl ReservationLines {
    /// Validates and merges `lines`.
    pub fn new(lines: impl IntoIterator<Item = ReservationLine>) -> Result<Self, InvalidLines> {
        let mut merged: BTreeMap<ProductId, u32> = BTreeMap::new();
        for line in lines {
            if line.quantity == 0 {
                return Err(InvalidLines::ZeroQuantity(line.product_id));
            }
            let quantity = merged.entry(line.product_id).or_default();
            *quantity = quantity
                .checked_add(line.quantity)
                .ok_or(InvalidLines::TooLarge(line.product_id))?;
        }
        if merged.is_empty() {
            return Err(InvalidLines::Empty);
        }
        Ok(Self(
            merged
                .into_iter()
                .map(|(product_id, quantity)| ReservationLine {
                    product_id,
                    quantity,
                })
                .collect(),
        ))
    }

    /// The merged lines.
    #[must_use]
    pub fn lines(&self) -> &[ReservationLine] {
        &self.0
    }
}

/// Where a reservation is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReservationState {
    /// Units are held: taken from `available`, counted in `reserved`.
    Reserved,
    /// The order was confirmed: the held units are sold and no longer counted anywhere.
    Committed,
    /// The order was cancelled: the units are back in `available`.
    Released,
}

/// What releasing a reservation in a given state does to stock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReleaseEffect {
    /// Held units move from `reserved` back to `available`.
    ReturnHeld,
    /// Sold units are restocked: `available` grows.
    Restock,
    /// Already released: nothing changes.
    Nothing,
}

impl ReservationState {
    /// Whether committing moves this state on (only a held reservation can be sold).
    #[must_use]
    pub fn can_commit(self) -> bool {
        self == Self::Reserved
    }

    /// The effect of releasing a reservation in this state.
    #[must_use]
    pub fn release_effect(self) -> ReleaseEffect {
        match self {
            Self::Reserved => ReleaseEffect::ReturnHeld,
            Self::Committed => ReleaseEffect::Restock,
            Self::Released => ReleaseEffect::Nothing,
        }
    }
}

/// The stock held (or sold, or given back) for one order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Reservation {
    pub order_id: OrderId,
    pub lines: ReservationLines,
    pub state: ReservationState,
}

/// Not enough stock for one line; nothing was reserved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "insufficient stock for product {product_id}: requested {requested}, available {available}"
)]
pub struct Insufficient {
    pub product_id: ProductId,
    pub requested: u32,
    pub available: u32,
}

/// Why nothing was reserved for an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NotReserved {
    /// A line lacks stock.
    #[error(transparent)]
    Insufficient(#[from] Insufficient),
    /// The order was cancelled before it reached inventory (its `order.cancelled` overtook
    /// its `order.created`): nothing may be held for it.
    #[error("order was cancelled")]
    Cancelled,
}

/// What a release did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReleaseOutcome {
    /// Held units went back to `available`.
    ReturnedHeld(Reservation),
    /// Sold units were restocked.
    Restocked(Reservation),
    /// The reservation was released before; nothing changed.
    AlreadyReleased(Reservation),
    /// No reservation exists for the order: nothing changed in stock, and the order is
    /// remembered as cancelled, so a later reservation for it holds nothing.
    UnknownOrder,
}

impl ReleaseOutcome {
    /// Whether this release changed stock.
    #[must_use]
    pub fn released_something(&self) -> bool {
        matches!(self, Self::ReturnedHeld(_) | Self::Restocked(_))
    }

    /// The reservation after the release, if there is one.
    #[must_use]
    pub fn reservation(&self) -> Option<&Reservation> {
        match self {
            Self::ReturnedHeld(r) | Self::Restocked(r) | Self::AlreadyReleased(r) => Some(r),
            Self::UnknownOrder => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(product_id: ProductId, quantity: u32) -> ReservationLine {
        ReservationLine {
            product_id,
            quantity,
        }
    }

    #[test]
    fn lines_for_the_same_product_are_added_up() {
        let product = ProductId::new();
        let other = ProductId::new();
        let lines =
            ReservationLines::new([line(product, 2), line(other, 1), line(product, 3)]).unwrap();
        assert_eq!(lines.lines().len(), 2);
        let merged = lines
            .lines()
            .iter()
            .find(|l| l.product_id == product)
            .unwrap();
        assert_eq!(merged.quantity, 5);
    }

    #[test]
    fn an_empty_or_zero_quantity_reservation_is_invalid() {
        let product = ProductId::new();
        assert_eq!(ReservationLines::new([]), Err(InvalidLines::Empty));
        assert_eq!(
            ReservationLines::new([line(product, 0)]),
            Err(InvalidLines::ZeroQuantity(product))
        );
        assert_eq!(
            ReservationLines::new([line(product, u32::MAX), line(product, 1)]),
            Err(InvalidLines::TooLarge(product))
        );
    }

    #[test]
    fn only_a_held_reservation_can_be_committed() {
        assert!(ReservationState::Reserved.can_commit());
        assert!(!ReservationState::Committed.can_commit());
        assert!(!ReservationState::Released.can_commit());
    }

    #[test]
    fn releasing_returns_held_units_restocks_sold_ones_and_is_idempotent() {
        assert_eq!(
            ReservationState::Reserved.release_effect(),
            ReleaseEffect::ReturnHeld
        );
        assert_eq!(
            ReservationState::Committed.release_effect(),
            ReleaseEffect::Restock
        );
        assert_eq!(
            ReservationState::Released.release_effect(),
            ReleaseEffect::Nothing
        );
        assert!(!ReleaseOutcome::UnknownOrder.released_something());
    }
}
