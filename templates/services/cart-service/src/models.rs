//! Carts and their rules: quantity bounds per line, one currency per cart, and totals in
//! integer minor units.

use serde::{Deserialize, Serialize};
use shared_types::{Currency, Money, MoneyError, ProductId, UserId};

/// Most units of one product a cart line may hold.
pub const MAX_LINE_QUANTITY: u32 = 99;

/// One product in a cart, priced as the catalogue priced it when it was last added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CartItem {
    pub product_id: ProductId,
    pub name: String,
    pub unit_price: Money,
    pub quantity: u32,
}

/// A user's cart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cart {
    pub user_id: UserId,
    pub items: Vec<CartItem>,
}

/// A change the cart rules refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CartError {
    #[error("quantity must be between 1 and {MAX_LINE_QUANTITY}, got {0}")]
    QuantityOutOfRange(u32),
    #[error(
        "a cart line holds at most {MAX_LINE_QUANTITY} units; product {product_id} would have {quantity}"
    )]
    LineLimit {
        product_id: ProductId,
        quantity: u64,
    },
    #[error("the cart is priced in {cart}; product {product_id} is priced in {product}")]
    CurrencyMismatch {
        product_id: ProductId,
        cart: Currency,
        product: Currency,
    },
    #[error("product {0} is not in the cart")]
    NotInCart(ProductId),
}

/// `quantity` if it is a valid line quantity (`1..=MAX_LINE_QUANTITY`).
pub fn line_quantity(quantity: u32) -> Result<u32, CartError> {
    if (1..=MAX_LINE_QUANTITY).contains(&quantity) {
        Ok(quantity)
    } else {
        Err(CartError::QuantityOutOfRange(quantity))
    }
}

impl Cart {
    /// An empty cart for `user_id`.
    #[must_use]
    pub fn empty(user_id: UserId) -> Self {
        Self {
            user_id,
            items: Vec::new(),
        }
    }

    /// The currency of the cart: its items', or the default for an empty cart.
    #[must_use]
    pub fn currency(&self) -> Currency {
        self.items
            .first()
            .map_or_else(Currency::default, |item| item.unit_price.currency)
    }

    /// Adds `quantity` units of a product at its current name and price; a product already in
    /// the cart gets the units added and the current name and price.
    pub fn add(
        &mut self,
        product_id: ProductId,
        name: &str,
        unit_price: Money,
        quantity: u32,
    ) -> Result<(), CartError> {
        let quantity = line_quantity(quantity)?;
        let others_currency = self
            .items
            .iter()
            .find(|item| item.product_id != product_id)
            .map(|item| item.unit_price.currency);
        if let Some(cart) = others_currency.filter(|c| *c != unit_price.currency) {
            return Err(CartError::CurrencyMismatch {
                product_id,
                cart,
                product: unit_price.currency,
            });
        }
        if let Some(item) = self.items.iter_mut().find(|i| i.product_id == product_id) {
            let total = u64::from(item.quantity) + u64::from(quantity);
            item.quantity = u32::try_from(total)
                .ok()
                .filter(|q| *q <= MAX_LINE_QUANTITY)
                .ok_or(CartError::LineLimit {
                    product_id,
                    quantity: total,
                })?;
            name.clone_into(&mut item.name);
            item.unit_price = unit_price;
        } else {
            self.items.push(CartItem {
                product_id,
                name: name.to_owned(),
                unit_price,
                quantity,
            });
        }
        Ok(())
    }

    /// Sets the quantity of a product in the cart; 0 removes it.
    pub fn set_quantity(&mut self, product_id: ProductId, quantity: u32) -> Result<(), CartError> {
        if quantity == 0 {
            return self.remove(product_id);
        }
        let quantity = line_quantity(quantity)?;
        let item = self
            .items
            .iter_mut()
            .find(|i| i.product_id == product_id)
            .ok_or(CartError::NotInCart(product_id))?;
        item.quantity = quantity;
        Ok(())
    }

    /// Removes a product from the cart.
    pub fn remove(&mut self, product_id: ProductId) -> Result<(), CartError> {
        let before = self.items.len();
        self.items.retain(|i| i.product_id != product_id);
        if self.items.len() == before {
            Err(CartError::NotInCart(product_id))
        } else {
            Ok(())
        }
    }

    /// The cart as clients see it, with line totals and the total.
    pub fn view(&self) -> Result<CartView, MoneyError> {
        let items = self
            .items
            .iter()
            .map(|item| {
                Ok(CartLine {
                    product_id: item.product_id,
                    name: item.name.clone(),
                    quantity: item.quantity,
                    unit_price: item.unit_price,
                    line_total: item.unit_price.checked_mul(item.quantity)?,
                })
            })
            .collect::<Result<Vec<_>, MoneyError>>()?;
        let total = Money::sum(self.currency(), items.iter().map(|line| line.line_total))?;
        Ok(CartView {
            user_id: self.user_id,
            items,
            total,
        })
    }
}

/// One line of the cart as clients see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CartLine {
    pub product_id: ProductId,
    pub name: String,
    pub quantity: u32,
    pub unit_price: Money,
    pub line_total: Money,
}

/// The cart as clients (and order-service at checkout) see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CartView {
    pub user_id: UserId,
    pub items: Vec<CartLine>,
    pub total: Money,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd(cents: i64) -> Money {
        Money::new(cents, Currency::Usd)
    }

    #[test]
    fn totals_are_summed_in_minor_units() {
        let mut cart = Cart::empty(UserId::new());
        cart.add(ProductId::new(), "Pen", usd(199), 3).unwrap();
        cart.add(ProductId::new(), "Pad", usd(1), 1).unwrap();
        let view = cart.view().unwrap();
        assert_eq!(view.items[0].line_total, usd(597));
        assert_eq!(view.total, usd(598));
        assert_eq!(Cart::empty(UserId::new()).view().unwrap().total, usd(0));
    }

    #[test]
    fn adding_a_product_again_adds_units_up_to_the_line_limit() {
        let mut cart = Cart::empty(UserId::new());
        let pen = ProductId::new();
        cart.add(pen, "Pen", usd(199), 90).unwrap();
        cart.add(pen, "Blue pen", usd(149), 9).unwrap();
        assert_eq!(cart.items.len(), 1);
        assert_eq!(cart.items[0].quantity, 99);
        assert_eq!(cart.items[0].unit_price, usd(149), "the current price");
        assert_eq!(
            cart.add(pen, "Pen", usd(149), 1),
            Err(CartError::LineLimit {
                product_id: pen,
                quantity: 100
            })
        );
        assert_eq!(cart.items[0].quantity, 99);
    }

    #[test]
    fn a_line_quantity_is_between_1_and_99() {
        let mut cart = Cart::empty(UserId::new());
        let pen = ProductId::new();
        assert_eq!(
            cart.add(pen, "Pen", usd(1), 0),
            Err(CartError::QuantityOutOfRange(0))
        );
        assert_eq!(
            cart.add(pen, "Pen", usd(1), 100),
            Err(CartError::QuantityOutOfRange(100))
        );
        cart.add(pen, "Pen", usd(1), 1).unwrap();
        assert!(cart.set_quantity(pen, 100).is_err());
        cart.set_quantity(pen, 0).unwrap();
        assert!(cart.items.is_empty());
        assert_eq!(cart.remove(pen), Err(CartError::NotInCart(pen)));
    }

    #[test]
    fn a_cart_holds_one_currency() {
        let mut cart = Cart::empty(UserId::new());
        cart.add(ProductId::new(), "Pen", usd(1), 1).unwrap();
        let euro = ProductId::new();
        assert!(matches!(
            cart.add(euro, "Stift", Money::new(1, Currency::Eur), 1),
            Err(CartError::CurrencyMismatch { .. })
        ));
    }
}
