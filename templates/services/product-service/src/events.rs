//! Events the product service publishes. It consumes none. They are built here and handed to
//! the repository with the change that causes them (outbox in `PostgreSQL`, the bus in memory).

use shared_events::{EventEnvelope, ProductUpdated};

use crate::models::Product;

/// `product.updated` for a created or changed product: its terms (name, price, whether it is
/// on sale) and the version they belong to, so a deactivation reaches carts like a reprice.
#[must_use]
pub fn updated(product: &Product) -> EventEnvelope {
    EventEnvelope::wrap(&ProductUpdated {
        product_id: product.id,
        name: product.name.clone(),
        price: product.price,
        active: product.active,
        version: product.version,
    })
}

/// The events a change to `product` causes.
#[must_use]
pub fn caused_by_change(product: &Product) -> Vec<EventEnvelope> {
    vec![updated(product)]
}
