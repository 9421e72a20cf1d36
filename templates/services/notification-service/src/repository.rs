//! Storage of notifications and of the inbox of processed event ids. Recording a
//! notification and marking its event processed is ONE atomic operation, so a redelivered
//! event can never produce a second notification.

use std::collections::HashSet;
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use shared_types::{EventId, Page, UserId};
use uuid::Uuid;

use crate::models::{DeliveryStatus, Notification};

/// Notifications and the processed-event inbox.
#[async_trait]
pub trait NotificationRepository: Send + Sync {
    /// Records `notification` and marks `event_id` processed, unless it already was; whether
    /// it was recorded now.
    async fn record_once(&self, event_id: EventId, notification: Notification) -> bool;
    /// Sets the delivery status of notification `id`.
    async fn set_status(&self, id: Uuid, status: DeliveryStatus);
    /// `page` (1-based) of `user`'s notifications, newest first.
    async fn list_for(&self, user: UserId, page: u32, per_page: u32) -> Page<Notification>;
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
    async fn record_once(&self, event_id: EventId, notification: Notification) -> bool {
        let mut store = self.lock();
        if !store.inbox.insert(event_id) {
            return false;
        }
        store.notifications.push(notification);
        true
    }

    async fn set_status(&self, id: Uuid, status: DeliveryStatus) {
        if let Some(notification) = self.lock().notifications.iter_mut().find(|n| n.id == id) {
            notification.status = status;
        }
    }

    async fn list_for(&self, user: UserId, page: u32, per_page: u32) -> Page<Notification> {
        let mine = self
            .lock()
            .notifications
            .iter()
            .rev()
            .filter(|n| n.user_id == user)
            .cloned()
            .collect();
        Page::slice(mine, page, per_page)
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
        assert!(repo.record_once(event.event_id, notification.clone()).await);
        assert!(!repo.record_once(event.event_id, notification).await);
        assert_eq!(repo.list_for(user, 1, 10).await.total, 1);
    }

    #[tokio::test]
    async fn listing_is_newest_first_and_paginated() {
        let repo = InMemoryNotificationRepository::default();
        let user = UserId::new();
        let mut ids = Vec::new();
        for _ in 0..3 {
            let (event, notification) = notification_for(user);
            ids.push(notification.id);
            repo.record_once(event.event_id, notification).await;
        }
        let first = repo.list_for(user, 1, 2).await;
        assert_eq!(
            first.items.iter().map(|n| n.id).collect::<Vec<_>>(),
            vec![ids[2], ids[1]]
        );
        assert_eq!(first.total, 3);
        let second = repo.list_for(user, 2, 2).await;
        assert_eq!(second.items[0].id, ids[0]);
    }
}
