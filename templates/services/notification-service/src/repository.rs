//! Storage of notifications and of the inbox of processed event ids. Recording a
//! notification and marking its event processed is ONE atomic operation (one transaction in
//! `PostgreSQL`, [`postgres::PostgresNotificationRepository`]), so a redelivered event can never
//! produce a second notification.

pub mod postgres;

use std::collections::HashSet;
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use shared_types::{EventId, Page, UserId};
use uuid::Uuid;

use crate::models::{DeliveryStatus, Notification};

/// The store failed; the operation may be retried.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("notification storage failed: {0}")]
pub struct StoreError(pub String);

/// Notifications and the processed-event inbox.
#[async_trait]
pub trait NotificationRepository: Send + Sync {
    /// Records `notification` and marks `event_id` processed, unless it already was; whether
    /// it was recorded now (`false`: a redelivery, nothing recorded).
    async fn record_once(
        &self,
        event_id: EventId,
        notification: Notification,
    ) -> Result<bool, StoreError>;
    /// Sets the delivery status of notification `id`.
    async fn set_status(&self, id: Uuid, status: DeliveryStatus) -> Result<(), StoreError>;
    /// `page` (1-based) of `user`'s notifications, newest first.
    async fn list_for(
        &self,
        user: UserId,
        page: u32,
        per_page: u32,
    ) -> Result<Page<Notification>, StoreError>;
}

#[derive(Default)]
struct Store {
    inbox: HashSet<EventId>,
    /// In recording order, so reversing gives newest first even within one clock tick.
    notifications: Vec<Notification>,
}

/// The in-memory repository.
#[derive(Default)]
pub struct InMemoryNotificationRepository {
    store: Mutex<Store>,
}

impl InMemoryNotificationRepository {
    fn lock(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl NotificationRepository for InMemoryNotificationRepository {
    async fn record_once(
        &self,
        event_id: EventId,
        notification: Notification,
    ) -> Result<bool, StoreError> {
        let mut store = self.lock();
        if !store.inbox.insert(event_id) {
            return Ok(false);
        }
        store.notifications.push(notification);
        Ok(true)
    }

    async fn set_status(&self, id: Uuid, status: DeliveryStatus) -> Result<(), StoreError> {
        if let Some(notification) = self.lock().notifications.iter_mut().find(|n| n.id == id) {
            notification.status = status;
        }
        Ok(())
    }

    async fn list_for(
        &self,
        user: UserId,
        page: u32,
        per_page: u32,
    ) -> Result<Page<Notification>, StoreError> {
        let mine = self
            .lock()
            .notifications
            .iter()
            .rev()
            .filter(|n| n.user_id == user)
            .cloned()
            .collect();
        Ok(Page::slice(mine, page, per_page))
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use shared_events::{EventEnvelope, UserRegistered};

    use super::*;
    use crate::models::{Message, Notification};

    fn notification_for(user: UserId) -> (EventEnvelope, Notification) {
        let event = EventEnvelope::wrap(&UserRegistered {
            user_id: user,
            email: "a@example.com".to_owned(),
            name: "A".to_owned(),
        });
        let message = Message {
            user_id: user,
            subject: "s".to_owned(),
            body: "b".to_owned(),
        };
        let notification = Notification::new(message, &event, Utc::now());
        (event, notification)
    }

    #[tokio::test]
    async fn an_event_is_recorded_once_however_often_it_arrives() {
        let repo = InMemoryNotificationRepository::default();
        let user = UserId::new();
        let (event, notification) = notification_for(user);
        assert!(
            repo.record_once(event.event_id, notification.clone())
                .await
                .unwrap()
        );
        assert!(
            !repo
                .record_once(event.event_id, notification)
                .await
                .unwrap()
        );
        assert_eq!(repo.list_for(user, 1, 10).await.unwrap().total, 1);
    }

    #[tokio::test]
    async fn listing_is_newest_first_and_paginated() {
        let repo = InMemoryNotificationRepository::default();
        let user = UserId::new();
        let mut ids = Vec::new();
        for _ in 0..3 {
            let (event, notification) = notification_for(user);
            ids.push(notification.id);
            repo.record_once(event.event_id, notification)
                .await
                .unwrap();
        }
        let first = repo.list_for(user, 1, 2).await.unwrap();
        assert_eq!(
            first.items.iter().map(|n| n.id).collect::<Vec<_>>(),
            vec![ids[2], ids[1]]
        );
        assert_eq!(first.total, 3);
        let second = repo.list_for(user, 2, 2).await.unwrap();
        assert_eq!(second.items[0].id, ids[0]);
    }
}
