//! Identifiers and money shared by every service. Ids are distinct types so an order id can
//! never be passed where a user id is expected; money is integer minor units in one currency,
//! so totals never suffer floating-point rounding.

mod ids;
mod money;

pub use ids::{EventId, OrderId, PaymentId, ProductId, UserId};
pub use money::{Currency, Money, MoneyError};

/// One page of a listing, with what a client needs to ask for the next.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// This page's number, from 1.
    pub page: u32,
    pub per_page: u32,
    /// How many items all pages hold together.
    pub total: u64,
}

impl<T> Page<T> {
    /// Cuts `page` (1-based) of `per_page` items out of an already ordered list.
    #[must_use]
    pub fn slice(all: Vec<T>, page: u32, per_page: u32) -> Self {
        let total = all.len() as u64;
        let skip = (page.max(1) as usize - 1).saturating_mul(per_page as usize);
        let items = all.into_iter().skip(skip).take(per_page as usize).collect();
        Self {
            items,
            page: page.max(1),
            per_page,
            total,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Page;

    #[test]
    fn a_page_past_the_end_is_empty_but_keeps_the_total() {
        let page = Page::slice((1..=5).collect::<Vec<_>>(), 3, 2);
        assert_eq!(page.items, vec![5]);
        let page = Page::slice((1..=5).collect::<Vec<_>>(), 4, 2);
        assert!(page.items.is_empty());
        assert_eq!(page.total, 5);
    }
}
