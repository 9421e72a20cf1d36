//! Events this service publishes. It consumes none. Events are built here and handed to the
//! repository together with the change that causes them, so they are stored (outbox) or
//! published (in memory) exactly when the change is.

use shared_events::{EventEnvelope, UserRegistered};

use crate::models::User;

/// `user.registered` for a new account.
#[must_use]
pub fn registered(user: &User) -> EventEnvelope {
    EventEnvelope::wrap(&UserRegistered {
        user_id: user.id,
        email: user.email.to_string(),
        name: user.name.clone(),
    })
}
