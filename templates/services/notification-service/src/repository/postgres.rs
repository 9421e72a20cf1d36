//! Notifications and the inbox in `PostgreSQL`. `record_once` is one statement (so one
//! transaction and one round trip): the inbox entry (`platform::inbox::FIRST_TIME`) and the
//! notification commit together, so a redelivered event (on this replica or another) records
//! nothing, and a failed insert leaves the event unprocessed for the redelivery.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use platform::inbox;
use serde::Serialize;
use serde::de::DeserializeOwned;
use shared_types::{EventId, Page, UserId};
use sqlx::PgPool;
use uuid::Uuid;

use super::{NotificationRepository, StoreError};
use crate::models::{DeliveryStatus, Notification};

/// Notifications and the inbox of consumer `consumer` in `PostgreSQL`.
#[derive(Clone)]
pub struct PostgresNotificationRepository {
    pool: PgPool,
    consumer: String,
}

impl PostgresNotificationRepository {
    /// The repository on `pool` (migrated with [`crate::MIGRATOR`]), recording processed
    /// events as `consumer` (the consumer group, i.e. the service name).
    #[must_use]
    pub fn new(pool: PgPool, consumer: &str) -> Self {
        Self {
            pool,
            consumer: consumer.to_owned(),
        }
    }
}

fn storage(err: &sqlx::Error) -> StoreError {
    StoreError(err.to_string())
}

/// A unit enum's serde name (`"email"`, `"sent"`), as stored.
fn code(value: impl Serialize) -> Result<String, StoreError> {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(code)) => Ok(code),
        other => Err(StoreError(format!("not a unit variant: {other:?}"))),
    }
}

fn decode<T: DeserializeOwned>(code: String) -> Result<T, StoreError> {
    serde_json::from_value(serde_json::Value::String(code))
        .map_err(|err| StoreError(format!("unreadable stored value: {err}")))
}

type NotificationRow = (
    Uuid,
    Uuid,
    String,
    String,
    String,
    Uuid,
    String,
    String,
    DateTime<Utc>,
);

fn notification_from_row(
    (id, user_id, channel, subject, body, event_id, event_type, status, created_at): NotificationRow,
) -> Result<Notification, StoreError> {
    Ok(Notification {
        id,
        user_id: UserId(user_id),
        channel: decode(channel)?,
        subject,
        body,
        event_id: EventId(event_id),
        event_type,
        status: decode(status)?,
        created_at,
    })
}

#[async_trait]
impl NotificationRepository for PostgresNotificationRepository {
    async fn record_once(
        &self,
        event_id: EventId,
        notification: Notification,
    ) -> Result<bool, StoreError> {
        // One statement, so one implicit transaction and one round trip: the inbox row is
        // inserted unless the event was processed before, and the notification only with it;
        // if the notification cannot be inserted, the inbox row goes too.
        let recorded = sqlx::query(&format!(
            "WITH first_time AS ({}) \
             INSERT INTO notifications \
             (id, user_id, channel, subject, body, event_id, event_type, status, created_at) \
             SELECT $3, $4, $5, $6, $7, $8, $9, $10, $11 FROM first_time",
            inbox::FIRST_TIME
        ))
        .bind(&self.consumer)
        .bind(event_id.0)
        .bind(notification.id)
        .bind(notification.user_id.0)
        .bind(code(notification.channel)?)
        .bind(&notification.subject)
        .bind(&notification.body)
        .bind(notification.event_id.0)
        .bind(&notification.event_type)
        .bind(code(notification.status)?)
        .bind(notification.created_at)
        .execute(&self.pool)
        .await
        .map_err(|err| storage(&err))?
        .rows_affected();
        Ok(recorded == 1)
    }

    async fn set_status(&self, id: Uuid, status: DeliveryStatus) -> Result<(), StoreError> {
        sqlx::query("UPDATE notifications SET status = $2 WHERE id = $1")
            .bind(id)
            .bind(code(status)?)
            .execute(&self.pool)
            .await
            .map_err(|err| storage(&err))?;
        Ok(())
    }

    async fn list_for(
        &self,
        user: UserId,
        page: u32,
        per_page: u32,
    ) -> Result<Page<Notification>, StoreError> {
        let total: i64 =
            sqlx::query_scalar("SELECT count(*) FROM notifications WHERE user_id = $1")
                .bind(user.0)
                .fetch_one(&self.pool)
                .await
                .map_err(|err| storage(&err))?;
        let page = page.max(1);
        let limit = i64::from(per_page);
        let rows = sqlx::query_as::<_, NotificationRow>(
            "SELECT id, user_id, channel, subject, body, event_id, event_type, status, created_at \
             FROM notifications WHERE user_id = $1 ORDER BY seq DESC LIMIT $2 OFFSET $3",
        )
        .bind(user.0)
        .bind(limit)
        .bind(i64::from(page - 1) * limit)
        .fetch_all(&self.pool)
        .await
        .map_err(|err| storage(&err))?;
        Ok(Page {
            items: rows
                .into_iter()
                .map(notification_from_row)
                .collect::<Result<_, _>>()?,
            page,
            per_page,
            total: u64::try_from(total).unwrap_or(0),
        })
    }
}
