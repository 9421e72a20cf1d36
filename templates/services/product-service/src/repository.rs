//! Storage of the catalogue. Listing, search and update are single operations so that a
//! database implementation can run each as one query, and a change is stored together with
//! the events it causes: in `PostgreSQL` ([`postgres::PostgresProductRepository`]) one
//! transaction writes the product and its outbox rows; in memory the events are published on
//! the bus once the change is made.

pub mod postgres;

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use async_trait::async_trait;
use shared_events::{EventBus, EventEnvelope};
use shared_types::{Page, ProductId};

use crate::models::{PageRequest, Product, ProductPatch, listing_key, search_rank};

/// The store failed or refused the operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RepositoryError {
    #[error("product {0} already exists")]
    Duplicate(ProductId),
    #[error("product storage failed: {0}")]
    Storage(String),
}

/// The events a change causes, built from the product as the change left it.
pub type EventsFor<'a> = &'a (dyn Fn(&Product) -> Vec<EventEnvelope> + Send + Sync);

/// The catalogue.
#[async_trait]
pub trait ProductRepository: Send + Sync {
    /// Adds a product (its id must be new) together with the events that report it.
    async fn insert(
        &self,
        product: Product,
        events: &[EventEnvelope],
    ) -> Result<(), RepositoryError>;

    /// Adds `products` if the catalogue is empty, all or none, without events (demo data);
    /// answers how many were added. Safe when several replicas seed at once.
    async fn seed(&self, products: &[Product]) -> Result<usize, RepositoryError>;

    /// A product by id, active or not.
    async fn get(&self, id: ProductId) -> Result<Option<Product>, RepositoryError>;

    /// Applies a validated patch together with the events `events` builds from the changed
    /// product; `None` (and no events) when the product does not exist.
    async fn update(
        &self,
        id: ProductId,
        patch: &ProductPatch,
        events: EventsFor<'_>,
    ) -> Result<Option<Product>, RepositoryError>;

    /// Active products, optionally of one (normalised) category, ordered by name.
    async fn list(
        &self,
        category: Option<&str>,
        page: PageRequest,
    ) -> Result<Page<Product>, RepositoryError>;

    /// Active products matching the lowercase `needle` in name or description, best first.
    async fn search(
        &self,
        needle: &str,
        page: PageRequest,
    ) -> Result<Page<Product>, RepositoryError>;
}

/// The catalogue in memory; publishes the events of a change on `bus` once it is made.
pub struct InMemoryProductRepository {
    products: RwLock<HashMap<ProductId, Product>>,
    bus: Arc<dyn EventBus>,
}

impl InMemoryProductRepository {
    /// An empty catalogue publishing on `bus`.
    #[must_use]
    pub fn new(bus: Arc<dyn EventBus>) -> Self {
        Self {
            products: RwLock::default(),
            bus,
        }
    }

    /// Publishes `events` in order; the first refusal is the caller's error (the change is
    /// made: without an outbox nothing can make the publish atomic with it).
    async fn publish(&self, events: Vec<EventEnvelope>) -> Result<(), RepositoryError> {
        for event in events {
            self.bus
                .publish(event)
                .await
                .map_err(|err| RepositoryError::Storage(err.to_string()))?;
        }
        Ok(())
    }

    fn read(&self) -> RwLockReadGuard<'_, HashMap<ProductId, Product>> {
        self.products.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, HashMap<ProductId, Product>> {
        self.products
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl ProductRepository for InMemoryProductRepository {
    async fn insert(
        &self,
        product: Product,
        events: &[EventEnvelope],
    ) -> Result<(), RepositoryError> {
        {
            let mut products = self.write();
            if products.contains_key(&product.id) {
                return Err(RepositoryError::Duplicate(product.id));
            }
            products.insert(product.id, product);
        }
        self.publish(events.to_vec()).await
    }

    async fn seed(&self, seed: &[Product]) -> Result<usize, RepositoryError> {
        let mut products = self.write();
        if !products.is_empty() {
            return Ok(0);
        }
        products.extend(seed.iter().map(|product| (product.id, product.clone())));
        Ok(products.len())
    }

    async fn get(&self, id: ProductId) -> Result<Option<Product>, RepositoryError> {
        Ok(self.read().get(&id).cloned())
    }

    async fn update(
        &self,
        id: ProductId,
        patch: &ProductPatch,
        events: EventsFor<'_>,
    ) -> Result<Option<Product>, RepositoryError> {
        let updated = self.write().get_mut(&id).map(|product| {
            patch.apply(product);
            product.clone()
        });
        if let Some(product) = &updated {
            self.publish(events(product)).await?;
        }
        Ok(updated)
    }

    async fn list(
        &self,
        category: Option<&str>,
        page: PageRequest,
    ) -> Result<Page<Product>, RepositoryError> {
        let mut matching: Vec<Product> = self
            .read()
            .values()
            .filter(|p| p.active && category.is_none_or(|c| p.category == c))
            .cloned()
            .collect();
        matching.sort_by_cached_key(listing_key);
        Ok(Page::slice(matching, page.page, page.per_page))
    }

    async fn search(
        &self,
        needle: &str,
        page: PageRequest,
    ) -> Result<Page<Product>, RepositoryError> {
        let mut ranked: Vec<(u8, (String, ProductId), Product)> = self
            .read()
            .values()
            .filter(|p| p.active)
            .filter_map(|p| search_rank(p, needle).map(|rank| (rank, listing_key(p), p.clone())))
            .collect();
        ranked.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        let products = ranked.into_iter().map(|(_, _, p)| p).collect();
        Ok(Page::slice(products, page.page, page.per_page))
    }
}
