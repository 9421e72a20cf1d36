//! Products and the catalogue's rules: what a valid product is, how listings are ordered and
//! paginated, and how search results are ranked.

use serde::{Deserialize, Serialize};
use shared_types::{Money, ProductId};

/// Longest accepted product name, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// Page size when the client does not ask for one.
pub const DEFAULT_PER_PAGE: u32 = 20;
/// Largest page a client may ask for.
pub const MAX_PER_PAGE: u32 = 100;
/// Highest price, in minor units (1,000,000,000.00): far above any product, and low enough
/// that no cart's or order's total in integer cents can overflow.
pub const MAX_PRICE_MINOR: i64 = 100_000_000_000;

/// A catalogue entry. Inactive products are kept (orders refer to them) but are not listed and
/// cannot be added to a cart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Product {
    pub id: ProductId,
    pub name: String,
    pub description: String,
    pub category: String,
    pub price: Money,
    pub active: bool,
    /// 1 when created, one higher with every change: the order of the product's
    /// `product.updated` events, so consumers can tell newer terms from older ones.
    pub version: u64,
}

/// Why a product (or a change to one) is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    #[error("name must not be empty")]
    EmptyName,
    #[error("name must be at most {MAX_NAME_CHARS} characters")]
    NameTooLong,
    #[error("category must not be empty")]
    EmptyCategory,
    #[error("price must be greater than zero, got {0}")]
    NonPositivePrice(Money),
    #[error("price must be at most {max}, got {0}", max = Money::new(MAX_PRICE_MINOR, .0.currency))]
    PriceTooHigh(Money),
}

fn valid_name(name: &str) -> Result<String, ValidationError> {
    let name = name.trim();
    if name.is_empty() {
        Err(ValidationError::EmptyName)
    } else if name.chars().count() > MAX_NAME_CHARS {
        Err(ValidationError::NameTooLong)
    } else {
        Ok(name.to_owned())
    }
}

/// Categories are compared case-insensitively, so they are stored trimmed and lowercase.
fn valid_category(category: &str) -> Result<String, ValidationError> {
    let category = category.trim().to_lowercase();
    if category.is_empty() {
        Err(ValidationError::EmptyCategory)
    } else {
        Ok(category)
    }
}

fn valid_price(price: Money) -> Result<Money, ValidationError> {
    if price.amount_minor <= 0 {
        Err(ValidationError::NonPositivePrice(price))
    } else if price.amount_minor > MAX_PRICE_MINOR {
        Err(ValidationError::PriceTooHigh(price))
    } else {
        Ok(price)
    }
}

/// A product to create.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct NewProduct {
    /// Stored trimmed; must not be blank.
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Stored trimmed and lower-cased; must not be blank.
    #[schema(min_length = 1, pattern = r"\S")]
    pub category: String,
    #[schema(value_type = Price)]
    pub price: Money,
}

// How the API document shows the `price` of `NewProduct` and `ProductPatch`: `Money` with the
// catalogue's rule on its amount (`valid_price`).
/// A price: `amount_minor` cents of `currency`, more than nothing and at most 1,000,000,000.00.
#[derive(utoipa::ToSchema)]
#[allow(dead_code, reason = "a schema for the API document, never built")]
pub struct Price {
    /// The amount in the currency's minor unit (cents).
    #[schema(minimum = 1, maximum = 100_000_000_000_i64)]
    amount_minor: i64,
    currency: shared_types::Currency,
}

// utoipa takes only literals as bounds: the document's must be the code's.
const _: () = assert!(MAX_NAME_CHARS == 200 && MAX_PRICE_MINOR == 100_000_000_000);

impl NewProduct {
    /// The product, validated and normalised, on sale, with a new id.
    pub fn into_product(self) -> Result<Product, ValidationError> {
        Ok(Product {
            id: ProductId::new(),
            name: valid_name(&self.name)?,
            description: self.description.trim().to_owned(),
            category: valid_category(&self.category)?,
            price: valid_price(self.price)?,
            active: true,
            version: 1,
        })
    }
}

/// A change to a product: only the given fields change.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
pub struct ProductPatch {
    /// Stored trimmed; must not be blank.
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub name: Option<String>,
    pub description: Option<String>,
    /// Stored trimmed and lower-cased; must not be blank.
    #[schema(min_length = 1, pattern = r"\S")]
    pub category: Option<String>,
    #[schema(value_type = Option<Price>)]
    pub price: Option<Money>,
    pub active: Option<bool>,
}

impl ProductPatch {
    /// The patch with every given field validated and normalised. Each field's rule stands
    /// alone, so a validated patch applied to a valid product leaves it valid.
    pub fn validated(self) -> Result<Self, ValidationError> {
        Ok(Self {
            name: self.name.as_deref().map(valid_name).transpose()?,
            description: self.description.map(|d| d.trim().to_owned()),
            category: self.category.as_deref().map(valid_category).transpose()?,
            price: self.price.map(valid_price).transpose()?,
            active: self.active,
        })
    }

    /// Applies the given fields to `product` and counts the change in its version (a patch
    /// that changes nothing is still a change: it is published like any other).
    pub fn apply(&self, product: &mut Product) {
        product.version += 1;
        if let Some(name) = &self.name {
            product.name.clone_from(name);
        }
        if let Some(description) = &self.description {
            product.description.clone_from(description);
        }
        if let Some(category) = &self.category {
            product.category.clone_from(category);
        }
        if let Some(price) = self.price {
            product.price = price;
        }
        if let Some(active) = self.active {
            product.active = active;
        }
    }
}

/// A validated page request: `page` from 1, `per_page` in `1..=MAX_PER_PAGE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub page: u32,
    pub per_page: u32,
}

impl PageRequest {
    /// Page 1 of `DEFAULT_PER_PAGE` unless told otherwise; out-of-range values are refused.
    pub fn new(page: Option<u32>, per_page: Option<u32>) -> Result<Self, String> {
        let page = page.unwrap_or(1);
        let per_page = per_page.unwrap_or(DEFAULT_PER_PAGE);
        if page == 0 {
            return Err("page starts at 1".to_owned());
        }
        if !(1..=MAX_PER_PAGE).contains(&per_page) {
            return Err(format!(
                "per_page must be between 1 and {MAX_PER_PAGE}, got {per_page}"
            ));
        }
        Ok(Self { page, per_page })
    }
}

impl Default for PageRequest {
    fn default() -> Self {
        Self {
            page: 1,
            per_page: DEFAULT_PER_PAGE,
        }
    }
}

/// Listing order: by name, case-insensitively, ties broken by id so pages are stable.
#[must_use]
pub fn listing_key(product: &Product) -> (String, ProductId) {
    (product.name.to_lowercase(), product.id)
}

/// How well `product` matches the lowercase `needle`: `Some(0)` when the name starts with it,
/// `Some(1)` when the name contains it, `Some(2)` when only the description does, `None`
/// otherwise. Lower ranks come first.
#[must_use]
pub fn search_rank(product: &Product, needle: &str) -> Option<u8> {
    let name = product.name.to_lowercase();
    if name.starts_with(needle) {
        Some(0)
    } else if name.contains(needle) {
        Some(1)
    } else if product.description.to_lowercase().contains(needle) {
        Some(2)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared_types::Currency;

    fn usd(cents: i64) -> Money {
        Money::new(cents, Currency::Usd)
    }

    fn new_product(name: &str, cents: i64) -> NewProduct {
        NewProduct {
            name: name.to_owned(),
            description: String::new(),
            category: " Office ".to_owned(),
            price: usd(cents),
        }
    }

    #[test]
    fn a_new_product_needs_a_name_and_a_price_in_range() {
        assert_eq!(
            new_product("   ", 100).into_product(),
            Err(ValidationError::EmptyName)
        );
        assert_eq!(
            new_product("Lamp", 0).into_product(),
            Err(ValidationError::NonPositivePrice(usd(0)))
        );
        assert!(
            new_product(&"x".repeat(MAX_NAME_CHARS + 1), 1)
                .into_product()
                .is_err()
        );
        assert!(new_product("Lamp", MAX_PRICE_MINOR).into_product().is_ok());
        assert_eq!(
            new_product("Lamp", MAX_PRICE_MINOR + 1)
                .into_product()
                .unwrap_err()
                .to_string(),
            "price must be at most 1000000000.00 USD, got 1000000000.01 USD"
        );
        let product = new_product(" Lamp ", 100).into_product().unwrap();
        assert_eq!(product.name, "Lamp");
        assert_eq!(product.category, "office");
        assert!(product.active);
        assert_eq!(product.version, 1);
    }

    #[test]
    fn a_patch_changes_only_its_fields_and_validates_them() {
        let mut product = new_product("Lamp", 100).into_product().unwrap();
        let patch = ProductPatch {
            price: Some(usd(250)),
            active: Some(false),
            ..ProductPatch::default()
        }
        .validated()
        .unwrap();
        patch.apply(&mut product);
        assert_eq!(product.price, usd(250));
        assert!(!product.active);
        assert_eq!(product.name, "Lamp");
        assert_eq!(product.version, 2, "every change counts");
        ProductPatch::default().apply(&mut product);
        assert_eq!(product.version, 3);
        let bad = ProductPatch {
            price: Some(usd(-1)),
            ..ProductPatch::default()
        };
        assert!(bad.validated().is_err());
    }

    #[test]
    fn page_requests_are_bounded() {
        assert_eq!(
            PageRequest::new(None, None).unwrap(),
            PageRequest::default()
        );
        assert!(PageRequest::new(Some(0), None).is_err());
        assert!(PageRequest::new(None, Some(0)).is_err());
        assert!(PageRequest::new(None, Some(MAX_PER_PAGE + 1)).is_err());
        assert!(PageRequest::new(Some(7), Some(MAX_PER_PAGE)).is_ok());
    }

    #[test]
    fn name_prefixes_rank_before_name_matches_before_description_matches() {
        let mut product = new_product("Desk Lamp", 100).into_product().unwrap();
        product.description = "Warm light".to_owned();
        assert_eq!(search_rank(&product, "desk"), Some(0));
        assert_eq!(search_rank(&product, "lamp"), Some(1));
        assert_eq!(search_rank(&product, "light"), Some(2));
        assert_eq!(search_rank(&product, "mouse"), None);
    }
}
