//! Events the product service publishes. It consumes none.

use shared_events::{BusError, EventBus, EventEnvelope, ProductUpdated};

use crate::models::Product;

/// Publishes `product.updated` for a created or changed product.
pub async fn publish_updated(bus: &dyn EventBus, product: &Product) -> Result<(), BusError> {
    bus.publish(EventEnvelope::wrap(&ProductUpdated {
        product_id: product.id,
        name: product.name.clone(),
        price: product.price,
    }))
    .await
}
