//! The use cases of the cart service, and the product lookup in the product service. Every
//! cart a use case answers with is priced from the price table first (see [`crate::prices`]).

use std::sync::Arc;

use async_trait::async_trait;
use platform::ApiError;
use platform::client::ServiceClient;
use serde::{Deserialize, Serialize};
use shared_types::{EventId, Money, ProductId, UserId};

use crate::models::{Bought, Cart, CartView, ProductTerms, line_quantity};
use crate::prices::PriceBook;
use crate::repository::{CartRepository, CartStoreError};

/// What the cart needs to know about a product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogProduct {
    pub id: ProductId,
    pub name: String,
    pub price: Money,
    pub active: bool,
    /// The catalogue's version of the product (absent from older product-services: 0).
    #[serde(default)]
    pub version: u64,
}

impl CatalogProduct {
    /// The terms a cart line gets from this lookup.
    #[must_use]
    pub fn terms(&self) -> ProductTerms {
        ProductTerms {
            name: self.name.clone(),
            unit_price: self.price,
            active: self.active,
            version: self.version,
        }
    }
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
    prices: Arc<dyn PriceBook>,
    catalog: Arc<dyn ProductCatalog>,
}

impl CartService {
    #[must_use]
    pub fn new(
        repository: Arc<dyn CartRepository>,
        prices: Arc<dyn PriceBook>,
        catalog: Arc<dyn ProductCatalog>,
    ) -> Self {
        Self {
            repository,
            prices,
            catalog,
        }
    }

    /// `cart` as the customer (and checkout) sees it: each line on the newest terms known.
    async fn view(&self, cart: &Cart) -> Result<CartView, ApiError> {
        let book = self.prices.terms(&cart.product_ids()).await?;
        Ok(cart.priced(&book)?)
    }

    /// The user's cart with totals, priced at the newest terms known.
    pub async fn cart(&self, user_id: UserId) -> Result<CartView, ApiError> {
        self.view(&self.repository.get(user_id).await?).await
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
            .add_item(user_id, product_id, &product.terms(), quantity)
            .await?;
        self.view(&cart).await
    }

    /// Sets a line's quantity; 0 removes the line.
    pub async fn set_quantity(
        &self,
        user_id: UserId,
        product_id: ProductId,
        quantity: u32,
    ) -> Result<CartView, ApiError> {
        let cart = self
            .repository
            .set_quantity(user_id, product_id, quantity)
            .await?;
        self.view(&cart).await
    }

    /// Removes a line.
    pub async fn remove_item(
        &self,
        user_id: UserId,
        product_id: ProductId,
    ) -> Result<CartView, ApiError> {
        let cart = self.repository.remove_item(user_id, product_id).await?;
        self.view(&cart).await
    }

    /// Empties the user's cart.
    pub async fn clear(&self, user_id: UserId) -> Result<(), CartStoreError> {
        self.repository.clear(user_id).await
    }

    /// Takes what the user's order bought out of their cart because event `event_id` confirmed
    /// it, once per event id; whether it did so now (`false` for a redelivered event).
    pub async fn remove_bought(
        &self,
        user_id: UserId,
        event_id: EventId,
        bought: &Bought,
    ) -> Result<bool, CartStoreError> {
        self.repository
            .remove_bought(user_id, event_id, bought)
            .await
    }

    /// Records a product's announced terms in the price table, unless it holds newer ones;
    /// whether they were recorded.
    pub async fn record_terms(
        &self,
        product_id: ProductId,
        terms: &ProductTerms,
    ) -> Result<bool, CartStoreError> {
        self.prices.record(product_id, terms).await
    }
}
