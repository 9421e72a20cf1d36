//! Events this service publishes. It consumes none.

use shared_events::{EventBus, EventEnvelope, UserRegistered};

use crate::models::User;

/// Publishes `user.registered` for a new account. The account exists either way; a failed
/// publish is logged (a database-backed deployment writes it to an outbox in the same
/// transaction as the account instead).
pub async fn publish_registered(bus: &dyn EventBus, user: &User) {
    let event = EventEnvelope::wrap(&UserRegistered {
        user_id: user.id,
        email: user.email.to_string(),
        name: user.name.clone(),
    });
    if let Err(err) = bus.publish(event).await {
        tracing::error!(user_id = %user.id, error = %err, "user.registered not published");
    }
}
