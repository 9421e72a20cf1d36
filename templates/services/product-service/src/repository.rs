//! Storage of the catalogue. Listing, search and update are single operations so that a
//! database implementation can run each as one query.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use async_trait::async_trait;
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

/// The catalogue.
#[async_trait]
pub trait ProductRepository: Send + Sync {
    /// Adds a product; its id must be new.
    async fn insert(&self, product: Product) -> Result<(), RepositoryError>;

    /// A product by id, active or not.
    async fn get(&self, id: ProductId) -> Result<Option<Product>, RepositoryError>;

    /// Applies a validated patch; `None` when the product does not exist.
    async fn update(
        &self,
        id: ProductId,
        patch: &ProductPatch,
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

/// The catalogue in memory.
#[derive(Default)]
pub struct InMemoryProductRepository {
    products: RwLock<HashMap<ProductId, Product>>,
}

impl InMemoryProductRepository {
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
    async fn insert(&self, product: Product) -> Result<(), RepositoryError> {
        let mut products = self.write();
        if products.contains_key(&product.id) {
            return Err(RepositoryError::Duplicate(product.id));
        }
        products.insert(product.id, product);
        Ok(())
    }

    async fn get(&self, id: ProductId) -> Result<Option<Product>, RepositoryError> {
        Ok(self.read().get(&id).cloned())
    }

    async fn update(
        &self,
        id: ProductId,
        patch: &ProductPatch,
    ) -> Result<Option<Product>, RepositoryError> {
        let mut products = self.write();
        Ok(products.get_mut(&id).map(|product| {
            patch.apply(product);
            product.clone()
        }))
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
