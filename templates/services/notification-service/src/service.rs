//! The use cases: turn an event into a notification exactly once and send it; list a user's
//! notifications. Sending goes through [`NotificationSender`], where a real email or SMS
//! provider plugs in.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;
use shared_events::EventEnvelope;
use shared_types::{Page, UserId};

use crate::models::{self, DeliveryStatus, Notification, RenderError};
use crate::repository::{NotificationRepository, StoreError};

/// Why an event could not be handled.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error(transparent)]
    Render(#[from] RenderError),
    /// Nothing was recorded; the event may be redelivered.
    #[error(transparent)]
    Storage(#[from] StoreError),
}

impl From<StoreError> for platform::ApiError {
    fn from(err: StoreError) -> Self {
        Self::dependency("the notification store", err)
    }
}

/// Why a notification could not be sent.
#[derive(Debug, thiserror::Error)]
#[error("sending failed: {0}")]
pub struct SendError(pub String);

/// Delivers a notification on its channel. Implement this for an email (SMTP, SES,
/// `SendGrid`) or SMS provider; the provider resolves the user's address from `user_id`.
#[async_trait]
pub trait NotificationSender: Send + Sync {
    async fn send(&self, notification: &Notification) -> Result<(), SendError>;
}

/// Logs notifications instead of delivering them: the local and test default.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoggingSender;

#[async_trait]
impl NotificationSender for LoggingSender {
    async fn send(&self, notification: &Notification) -> Result<(), SendError> {
        tracing::info!(
            user_id = %notification.user_id,
            channel = ?notification.channel,
            subject = %notification.subject,
            body = %notification.body,
            "notification sent (logging sender)"
        );
        Ok(())
    }
}

/// What handling one event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Recorded and handed to the sender.
    Sent,
    /// Recorded, but the sender failed; the notification is marked failed.
    SendFailed,
    /// The event was processed before; nothing done.
    Duplicate,
}

/// The notification use cases.
#[derive(Clone)]
pub struct NotificationService {
    repo: Arc<dyn NotificationRepository>,
    sender: Arc<dyn NotificationSender>,
}

impl NotificationService {
    #[must_use]
    pub fn new(repo: Arc<dyn NotificationRepository>, sender: Arc<dyn NotificationSender>) -> Self {
        Self { repo, sender }
    }

    /// Renders `event`, records it once per event id (notification and inbox entry commit
    /// together), and only then, and only if it is new, sends it. A send failure is recorded
    /// on the notification rather than retried through the bus, which would be absorbed by
    /// the inbox anyway.
    pub async fn notify(&self, event: &EventEnvelope) -> Result<Outcome, NotifyError> {
        let message = models::render(event)?;
        let notification = Notification::new(message, event, Utc::now());
        if !self
            .repo
            .record_once(event.event_id, notification.clone())
            .await?
        {
            tracing::debug!(event_id = %event.event_id, "event already notified; skipped");
            return Ok(Outcome::Duplicate);
        }
        let (status, outcome) = match self.sender.send(&notification).await {
            Ok(()) => (DeliveryStatus::Sent, Outcome::Sent),
            Err(err) => {
                tracing::error!(notification_id = %notification.id, error = %err, "notification not delivered");
                (DeliveryStatus::Failed, Outcome::SendFailed)
            }
        };
        // The send happened; failing the event now would only make the inbox skip it.
        if let Err(err) = self.repo.set_status(notification.id, status).await {
            tracing::error!(notification_id = %notification.id, ?status, error = %err, "delivery status not recorded");
        }
        Ok(outcome)
    }

    /// `user`'s notifications, newest first.
    pub async fn list(
        &self,
        user: UserId,
        page: u32,
        per_page: u32,
    ) -> Result<Page<Notification>, StoreError> {
        self.repo.list_for(user, page, per_page).await
    }
}
