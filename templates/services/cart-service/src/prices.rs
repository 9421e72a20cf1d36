//! The price table: for each product the catalogue has announced (`product.updated`), the
//! newest terms it announced — name, price, whether it is on sale, and their version. Carts are
//! priced from it whenever they are shown, so a repriced or withdrawn product does not keep
//! the terms it had when it was added. A record never replaces newer terms with older ones,
//! so events that arrive late, twice or out of order leave the newest. In memory here; in
//! Redis ([`redis::RedisPriceBook`], one hash every replica shares) when `REDIS_URL` is set.

pub mod redis;

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

use async_trait::async_trait;
use shared_types::ProductId;

use crate::models::ProductTerms;
use crate::repository::CartStoreError;

/// The newest announced terms of each product.
#[async_trait]
pub trait PriceBook: Send + Sync {
    /// Keeps `terms` for `product_id` unless the book holds newer ones; whether it kept them.
    async fn record(
        &self,
        product_id: ProductId,
        terms: &ProductTerms,
    ) -> Result<bool, CartStoreError>;

    /// The terms of those of `product_ids` the book has heard of.
    async fn terms(
        &self,
        product_ids: &[ProductId],
    ) -> Result<HashMap<ProductId, ProductTerms>, CartStoreError>;
}

/// The price table of one process.
#[derive(Default)]
pub struct InMemoryPriceBook {
    table: RwLock<HashMap<ProductId, ProductTerms>>,
}

#[async_trait]
impl PriceBook for InMemoryPriceBook {
    async fn record(
        &self,
        product_id: ProductId,
        terms: &ProductTerms,
    ) -> Result<bool, CartStoreError> {
        let mut table = self.table.write().unwrap_or_else(PoisonError::into_inner);
        let newer = table
            .get(&product_id)
            .is_none_or(|known| terms.replaces(known.version));
        if newer {
            table.insert(product_id, terms.clone());
        }
        Ok(newer)
    }

    async fn terms(
        &self,
        product_ids: &[ProductId],
    ) -> Result<HashMap<ProductId, ProductTerms>, CartStoreError> {
        let table = self.table.read().unwrap_or_else(PoisonError::into_inner);
        Ok(product_ids
            .iter()
            .filter_map(|id| Some((*id, table.get(id)?.clone())))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use shared_types::{Currency, Money};

    use super::*;

    fn terms(cents: i64, version: u64) -> ProductTerms {
        ProductTerms {
            name: "Pen".to_owned(),
            unit_price: Money::new(cents, Currency::Usd),
            active: true,
            version,
        }
    }

    #[tokio::test]
    async fn the_book_keeps_the_newest_terms_whatever_order_they_arrive_in() {
        let book = InMemoryPriceBook::default();
        let (pen, pad) = (ProductId::new(), ProductId::new());
        assert!(book.record(pen, &terms(150, 3)).await.unwrap());
        assert!(!book.record(pen, &terms(120, 2)).await.unwrap(), "older");
        assert!(
            book.record(pen, &terms(150, 3)).await.unwrap(),
            "a redelivery"
        );
        let known = book.terms(&[pen, pad]).await.unwrap();
        assert_eq!(known.len(), 1, "nothing announced for the pad");
        assert_eq!(known[&pen].unit_price, Money::new(150, Currency::Usd));
    }
}
