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

/// A product was created or changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductUpdated {
    pub product_id: ProductId,
    pub name: String,
    pub price: Money,
}
event!(ProductUpdated, topics::PRODUCT_UPDATED, product_id);

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
