//! The use cases of the cart service, and the product lookup in the product service.

use std::sync::Arc;

use async_trait::async_trait;
use platform::ApiError;
use platform::client::ServiceClient;
use serde::{Deserialize, Serialize};
use shared_types::{EventId, Money, ProductId, UserId};

use crate::models::{Cart, CartView, line_quantity};
use crate::repository::{CartRepository, CartStoreError};

/// What the cart needs to know about a product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogProduct {
    pub id: ProductId,
    pub name: String,
    pub price: Money,
    pub active: bool,
}

/// Where products, their prices and whether they are on sale come from.
#[async_trait]
pub trait ProductCatalog: Send + Sync {
    /// The product: 404 when it does not exist, 503 when the catalogue cannot be asked.
    async fn product(&self, id: ProductId) -> Result<CatalogProduct, ApiError>;
}

/// `ProductCatalog` over HTTP: `GET /api/v1/products/{id}` on the product service.
pub struct HttpProductCatalog {
    client: ServiceClient,
}

impl HttpProductCatalog {
    #[must_use]
    pub fn new(client: ServiceClient) -> Self {
        Self { client }
    }
}

#[async_trait]
impl ProductCatalog for HttpProductCatalog {
    async fn product(&self, id: ProductId) -> Result<CatalogProduct, ApiError> {
        self.client
            .get_json(&format!("/api/v1/products/{id}"), None)
            .await
    }
}

/// The cart use cases. Cloning shares it.
#[derive(Clone)]
pub struct CartService {
    repository: Arc<dyn CartRepository>,
    catalog: Arc<dyn ProductCatalog>,
}

fn view(cart: &Cart) -> Result<CartView, ApiError> {
    Ok(cart.view()?)
}

impl CartService {
    #[must_use]
    pub fn new(repository: Arc<dyn CartRepository>, catalog: Arc<dyn ProductCatalog>) -> Self {
        Self {
            repository,
            catalog,
        }
    }

    /// The user's cart with totals.
    pub async fn cart(&self, user_id: UserId) -> Result<CartView, ApiError> {
        view(&self.repository.get(user_id).await?)
    }

    /// Adds units of a product at its current catalogue price: 404 for an unknown product,
    /// 422 for an inactive one or a quantity outside `1..=99`, 503 when the catalogue is down.
    pub async fn add_item(
        &self,
        user_id: UserId,
        product_id: ProductId,
        quantity: u32,
    ) -> Result<CartView, ApiError> {
        line_quantity(quantity).map_err(|err| ApiError::unprocessable(err.to_string()))?;
        let product = self.catalog.product(product_id).await?;
        if !product.active {
            return Err(ApiError::unprocessable(format!(
                "product {product_id} is not on sale"
            )));
        }
        let cart = self
            .repository
            .add_item(user_id, product_id, &product.name, product.price, quantity)
            .await?;
        view(&cart)
    }

    /// Sets a line's quantity; 0 removes the line.
    pub async fn set_quantity(
        &self,
        user_id: UserId,
        product_id: ProductId,
        quantity: u32,
    ) -> Result<CartView, ApiError> {
        view(
            &self
                .repository
                .set_quantity(user_id, product_id, quantity)
                .await?,
        )
    }

    /// Removes a line.
    pub async fn remove_item(
        &self,
        user_id: UserId,
        product_id: ProductId,
    ) -> Result<CartView, ApiError> {
        view(&self.repository.remove_item(user_id, product_id).await?)
    }

    /// Empties the user's cart.
    pub async fn clear(&self, user_id: UserId) -> Result<(), CartStoreError> {
        self.repository.clear(user_id).await
    }

    /// Empties the user's cart because their order was confirmed by event `event_id`, once per
    /// event id; whether it was emptied now (`false` for a redelivered event).
    pub async fn clear_after_order(
        &self,
        user_id: UserId,
        event_id: EventId,
    ) -> Result<bool, CartStoreError> {
        self.repository.clear_for_event(user_id, event_id).await
    }
}
