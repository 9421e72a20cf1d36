//! The use cases of the product service, and the stock lookup in the inventory service.

use std::sync::Arc;

use async_trait::async_trait;
use axum::http::StatusCode;
use platform::ApiError;
use platform::client::ServiceClient;
use serde::{Deserialize, Serialize};
use shared_types::{Page, ProductId};

use crate::events;
use crate::models::{NewProduct, PageRequest, Product, ProductPatch};
use crate::repository::{ProductRepository, RepositoryError};

impl From<RepositoryError> for ApiError {
    fn from(err: RepositoryError) -> Self {
        match err {
            RepositoryError::Duplicate(_) => Self::conflict(err.to_string()),
            RepositoryError::Storage(_) => Self::dependency("the catalogue store", err),
        }
    }
}

/// Stock as the catalogue shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Stock {
    pub available: u32,
}

/// A product with its stock; `stock` is `null` when inventory could not be asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProductDetail {
    #[serde(flatten)]
    pub product: Product,
    #[schema(required = true)]
    pub stock: Option<Stock>,
}

/// How many units of a product can be sold right now.
#[async_trait]
pub trait StockLookup: Send + Sync {
    /// The stock of `product_id`; a product inventory keeps no stock for has none available.
    async fn stock(&self, product_id: ProductId) -> Result<Stock, ApiError>;
}

/// `StockLookup` over HTTP: `GET /api/v1/inventory/{product_id}` on the inventory service.
pub struct HttpStockLookup {
    client: ServiceClient,
}

impl HttpStockLookup {
    #[must_use]
    pub fn new(client: ServiceClient) -> Self {
        Self { client }
    }
}

#[async_trait]
impl StockLookup for HttpStockLookup {
    async fn stock(&self, product_id: ProductId) -> Result<Stock, ApiError> {
        match self
            .client
            .get_json::<Stock>(&format!("/api/v1/inventory/{product_id}"), None)
            .await
        {
            Err(err) if err.status == StatusCode::NOT_FOUND => Ok(Stock { available: 0 }),
            other => other,
        }
    }
}

/// The catalogue's use cases. Cloning shares it.
#[derive(Clone)]
pub struct ProductService {
    repository: Arc<dyn ProductRepository>,
    stock: Arc<dyn StockLookup>,
}

fn invalid(err: impl std::fmt::Display) -> ApiError {
    ApiError::unprocessable(err.to_string())
}

impl ProductService {
    #[must_use]
    pub fn new(repository: Arc<dyn ProductRepository>, stock: Arc<dyn StockLookup>) -> Self {
        Self { repository, stock }
    }

    /// Active products, optionally of one category, by name.
    pub async fn list(
        &self,
        category: Option<&str>,
        page: PageRequest,
    ) -> Result<Page<Product>, ApiError> {
        let category = category
            .map(|c| c.trim().to_lowercase())
            .filter(|c| !c.is_empty());
        Ok(self.repository.list(category.as_deref(), page).await?)
    }

    /// Active products matching `query` (case-insensitive) in name or description; name
    /// matches first. A blank query is a 400.
    pub async fn search(&self, query: &str, page: PageRequest) -> Result<Page<Product>, ApiError> {
        let needle = query.trim().to_lowercase();
        if needle.is_empty() {
            return Err(ApiError::bad_request(
                "the search query `q` must not be empty",
            ));
        }
        Ok(self.repository.search(&needle, page).await?)
    }

    /// A product (active or not) with its stock. Inventory being down does not take the
    /// catalogue down: the product is served with `stock: null`.
    pub async fn get(&self, id: ProductId) -> Result<ProductDetail, ApiError> {
        let product = self
            .repository
            .get(id)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("no product {id}")))?;
        let stock = match self.stock.stock(id).await {
            Ok(stock) => Some(stock),
            Err(err) => {
                tracing::warn!(product_id = %id, error = %err, "stock lookup failed; serving the product without stock");
                None
            }
        };
        Ok(ProductDetail { product, stock })
    }

    /// Adds a product together with its `product.updated` event.
    pub async fn create(&self, new: NewProduct) -> Result<Product, ApiError> {
        let product = new.into_product().map_err(invalid)?;
        self.repository
            .insert(product.clone(), &events::caused_by_change(&product))
            .await?;
        tracing::info!(product_id = %product.id, name = %product.name, "product created");
        Ok(product)
    }

    /// Changes a product together with its `product.updated` event.
    pub async fn update(&self, id: ProductId, patch: ProductPatch) -> Result<Product, ApiError> {
        let patch = patch.validated().map_err(invalid)?;
        let product = self
            .repository
            .update(id, &patch, &events::caused_by_change)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("no product {id}")))?;
        tracing::info!(product_id = %id, "product updated");
        Ok(product)
    }
}
