//! Typed payloads, one per topic.

use serde::{Deserialize, Serialize};
use shared_types::{Money, OrderId, PaymentId, ProductId, UserId};

use crate::envelope::Event;
use crate::topics;

macro_rules! event {
    ($ty:ident, $topic:expr, $key:ident) => {
        impl Event for $ty {
            const TOPIC: &'static str = $topic;
            fn aggregate_id(&self) -> String {
                self.$key.to_string()
            }
        }
    };
}

/// A new account exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRegistered {
    pub user_id: UserId,
    pub email: String,
    pub name: String,
}
event!(UserRegistered, topics::USER_REGISTERED, user_id);

/// A product was created or changed: its terms as the change left them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductUpdated {
    pub product_id: ProductId,
    pub name: String,
    pub price: Money,
    /// Whether it is on sale; absent (true) in events written before it was carried.
    #[serde(default = "on_sale")]
    pub active: bool,
    /// The product's version, one higher with every change; a consumer keeps the highest it
    /// has seen, so events arriving out of order cannot bring back older terms. Absent (0) in
    /// events written before it was carried.
    #[serde(default)]
    pub version: u64,
}
event!(ProductUpdated, topics::PRODUCT_UPDATED, product_id);

fn on_sale() -> bool {
    true
}

/// One line of an order: what, how many, at what unit price.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLine {
    pub product_id: ProductId,
    pub quantity: u32,
    pub unit_price: Money,
}

/// An order was placed; the checkout saga starts here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderCreated {
    pub order_id: OrderId,
    pub user_id: UserId,
    pub lines: Vec<OrderLine>,
    pub total: Money,
}
event!(OrderCreated, topics::ORDER_CREATED, order_id);

/// Payment went through; the order is final.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderConfirmed {
    pub order_id: OrderId,
    pub user_id: UserId,
    pub total: Money,
    /// What the order bought; empty in events written before it was carried.
    #[serde(default)]
    pub lines: Vec<OrderLine>,
}
event!(OrderConfirmed, topics::ORDER_CONFIRMED, order_id);

/// The order will not be fulfilled; reservations and charges must be undone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderCancelled {
    pub order_id: OrderId,
    pub user_id: UserId,
    pub reason: String,
}
event!(OrderCancelled, topics::ORDER_CANCELLED, order_id);

/// Stock for every line of the order is held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryReserved {
    pub order_id: OrderId,
    pub user_id: UserId,
    pub total: Money,
}
event!(InventoryReserved, topics::INVENTORY_RESERVED, order_id);

/// Some line could not be reserved; nothing was held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryReservationFailed {
    pub order_id: OrderId,
    pub user_id: UserId,
    pub reason: String,
}
event!(
    InventoryReservationFailed,
    topics::INVENTORY_RESERVATION_FAILED,
    order_id
);

/// Stock held for the order is available again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryReleased {
    pub order_id: OrderId,
}
event!(InventoryReleased, topics::INVENTORY_RELEASED, order_id);

/// The order's amount was charged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentSucceeded {
    pub order_id: OrderId,
    pub user_id: UserId,
    pub payment_id: PaymentId,
    pub amount: Money,
}
event!(PaymentSucceeded, topics::PAYMENT_SUCCEEDED, order_id);

/// The charge was declined or failed; nothing was taken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentFailed {
    pub order_id: OrderId,
    pub user_id: UserId,
    pub reason: String,
}
event!(PaymentFailed, topics::PAYMENT_FAILED, order_id);

/// A charge was paid back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentRefunded {
    pub order_id: OrderId,
    pub user_id: UserId,
    pub payment_id: PaymentId,
    pub amount: Money,
}
event!(PaymentRefunded, topics::PAYMENT_REFUNDED, order_id);

#[cfg(test)]
mod tests {
    use serde_json::json;
    use shared_types::Currency;

    use super::*;

    #[test]
    fn a_product_updated_written_before_active_and_version_reads_as_on_sale_at_version_0() {
        let id = ProductId::new();
        let old: ProductUpdated = serde_json::from_value(json!({
            "product_id": id,
            "name": "Pen",
            "price": { "amount_minor": 100, "currency": "USD" },
        }))
        .unwrap();
        assert!(old.active);
        assert_eq!(old.version, 0);
        assert_eq!(old.price, Money::new(100, Currency::Usd));
    }

    #[test]
    fn an_order_confirmed_written_before_lines_reads_with_none() {
        let old: OrderConfirmed = serde_json::from_value(json!({
            "order_id": OrderId::new(),
            "user_id": UserId::new(),
            "total": { "amount_minor": 100, "currency": "USD" },
        }))
        .unwrap();
        assert!(old.lines.is_empty());
    }
}
