//! Carts and their rules: quantity bounds per line, one currency per cart, totals in integer
//! minor units, pricing at the catalogue's newest terms, and what a confirmed order takes out.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use shared_types::{Currency, Money, MoneyError, ProductId, UserId};

/// Most units of one product a cart line may hold.
pub const MAX_LINE_QUANTITY: u32 = 99;

/// What the catalogue says about a product at one of its versions: the terms a cart line is
/// sold on. Later versions replace earlier ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductTerms {
    pub name: String,
    pub unit_price: Money,
    /// Whether the product is on sale.
    pub active: bool,
    /// The catalogue's version of the product (0 when the catalogue did not say).
    pub version: u64,
}

impl ProductTerms {
    /// Whether these terms replace terms of `version`: they are at least as new. (Equal
    /// versions are the same terms, except for catalogues that send no version: there the
    /// latest word wins.)
    #[must_use]
    pub fn replaces(&self, version: u64) -> bool {
        self.version >= version
    }
}

/// One product in a cart, with the terms the catalogue gave when it was last added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CartItem {
    pub product_id: ProductId,
    pub name: String,
    pub unit_price: Money,
    pub quantity: u32,
    /// The catalogue version of `name` and `unit_price` (0 in carts stored before versions).
    #[serde(default)]
    pub version: u64,
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

/// What a confirmed order took out of its buyer's cart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bought {
    /// These units of these products (one pair per order line).
    Units(Vec<(ProductId, u32)>),
    /// Everything: a confirmation from before `order.confirmed` listed its lines.
    Everything,
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

    /// The currency of the cart: the one its items were added in, or the default for an empty
    /// cart.
    #[must_use]
    pub fn currency(&self) -> Currency {
        self.items
            .first()
            .map_or_else(Currency::default, |item| item.unit_price.currency)
    }

    /// The products in the cart.
    #[must_use]
    pub fn product_ids(&self) -> Vec<ProductId> {
        self.items.iter().map(|item| item.product_id).collect()
    }

    /// Adds `quantity` units of a product on its current `terms`; a product already in the
    /// cart gets the units added, and the terms unless the line holds newer ones.
    pub fn add(
        &mut self,
        product_id: ProductId,
        terms: &ProductTerms,
        quantity: u32,
    ) -> Result<(), CartError> {
        let quantity = line_quantity(quantity)?;
        let unit_price = terms.unit_price;
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
            if terms.replaces(item.version) {
                terms.name.clone_into(&mut item.name);
                item.unit_price = unit_price;
                item.version = terms.version;
            }
        } else {
            self.items.push(CartItem {
                product_id,
                name: terms.name.clone(),
                unit_price,
                quantity,
                version: terms.version,
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

    /// Takes out what an order bought: each bought unit leaves its line, and a line goes only
    /// when all its units were bought, so units added after the checkout stay.
    pub fn remove_bought(&mut self, bought: &Bought) {
        match bought {
            Bought::Everything => self.items.clear(),
            Bought::Units(units) => {
                for (product_id, quantity) in units {
                    if let Some(item) = self.items.iter_mut().find(|i| i.product_id == *product_id)
                    {
                        item.quantity = item.quantity.saturating_sub(*quantity);
                    }
                }
                self.items.retain(|item| item.quantity > 0);
            }
        }
    }

    /// The cart as clients see it, each line on the newest terms known: those in `book` when
    /// they are at least as new as the line's own, which win otherwise. A line whose product is
    /// off sale, or now priced in another currency than the cart, is shown but marked, and left
    /// out of the total.
    pub fn priced(&self, book: &HashMap<ProductId, ProductTerms>) -> Result<CartView, MoneyError> {
        let currency = self.currency();
        let items = self
            .items
            .iter()
            .map(|item| {
                let (name, unit_price, active) = match book.get(&item.product_id) {
                    Some(terms) if terms.replaces(item.version) => {
                        (terms.name.clone(), terms.unit_price, terms.active)
                    }
                    _ => (item.name.clone(), item.unit_price, true),
                };
                let status = if !active {
                    LineStatus::Discontinued
                } else if unit_price.currency != currency {
                    LineStatus::CurrencyChanged
                } else {
                    LineStatus::Available
                };
                Ok(CartLine {
                    product_id: item.product_id,
                    name,
                    quantity: item.quantity,
                    unit_price,
                    line_total: unit_price.checked_mul(item.quantity)?,
                    status,
                })
            })
            .collect::<Result<Vec<_>, MoneyError>>()?;
        let total = Money::sum(
            currency,
            items
                .iter()
                .filter(|line| line.status == LineStatus::Available)
                .map(|line| line.line_total),
        )?;
        Ok(CartView {
            user_id: self.user_id,
            items,
            total,
        })
    }
}

/// Whether a cart line can be bought as it stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LineStatus {
    /// On sale, priced in the cart's currency: checkout buys it at `unit_price`.
    Available,
    /// Taken off sale since it was added: checkout refuses the cart until it is removed.
    Discontinued,
    /// Now priced in another currency than the cart: checkout refuses the cart until it is
    /// removed.
    CurrencyChanged,
}

/// One line of the cart as clients see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CartLine {
    pub product_id: ProductId,
    pub name: String,
    pub quantity: u32,
    /// The product's current price.
    pub unit_price: Money,
    pub line_total: Money,
    pub status: LineStatus,
}

/// The cart as clients (and order-service at checkout) see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CartView {
    pub user_id: UserId,
    pub items: Vec<CartLine>,
    /// The total of the available lines.
    pub total: Money,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd(cents: i64) -> Money {
        Money::new(cents, Currency::Usd)
    }

    fn terms(name: &str, cents: i64, version: u64) -> ProductTerms {
        ProductTerms {
            name: name.to_owned(),
            unit_price: usd(cents),
            active: true,
            version,
        }
    }

    fn unpriced(cart: &Cart) -> CartView {
        cart.priced(&HashMap::new()).unwrap()
    }

    #[test]
    fn totals_are_summed_in_minor_units() {
        let mut cart = Cart::empty(UserId::new());
        cart.add(ProductId::new(), &terms("Pen", 199, 1), 3)
            .unwrap();
        cart.add(ProductId::new(), &terms("Pad", 1, 1), 1).unwrap();
        let view = unpriced(&cart);
        assert_eq!(view.items[0].line_total, usd(597));
        assert_eq!(view.total, usd(598));
        assert_eq!(unpriced(&Cart::empty(UserId::new())).total, usd(0));
    }

    #[test]
    fn adding_a_product_again_adds_units_up_to_the_line_limit() {
        let mut cart = Cart::empty(UserId::new());
        let pen = ProductId::new();
        cart.add(pen, &terms("Pen", 199, 1), 90).unwrap();
        cart.add(pen, &terms("Blue pen", 149, 2), 9).unwrap();
        assert_eq!(cart.items.len(), 1);
        assert_eq!(cart.items[0].quantity, 99);
        assert_eq!(cart.items[0].unit_price, usd(149), "the current price");
        assert_eq!(
            cart.add(pen, &terms("Pen", 149, 2), 1),
            Err(CartError::LineLimit {
                product_id: pen,
                quantity: 100
            })
        );
        assert_eq!(cart.items[0].quantity, 99);
    }

    #[test]
    fn adding_on_older_terms_than_the_line_holds_keeps_the_newer_ones() {
        let mut cart = Cart::empty(UserId::new());
        let pen = ProductId::new();
        cart.add(pen, &terms("Pen", 150, 3), 1).unwrap();
        cart.add(pen, &terms("Pen", 100, 2), 1).unwrap();
        assert_eq!(cart.items[0].quantity, 2);
        assert_eq!(
            (cart.items[0].unit_price, cart.items[0].version),
            (usd(150), 3)
        );
    }

    #[test]
    fn a_line_quantity_is_between_1_and_99() {
        let mut cart = Cart::empty(UserId::new());
        let pen = ProductId::new();
        assert_eq!(
            cart.add(pen, &terms("Pen", 1, 1), 0),
            Err(CartError::QuantityOutOfRange(0))
        );
        assert_eq!(
            cart.add(pen, &terms("Pen", 1, 1), 100),
            Err(CartError::QuantityOutOfRange(100))
        );
        cart.add(pen, &terms("Pen", 1, 1), 1).unwrap();
        assert!(cart.set_quantity(pen, 100).is_err());
        cart.set_quantity(pen, 0).unwrap();
        assert!(cart.items.is_empty());
        assert_eq!(cart.remove(pen), Err(CartError::NotInCart(pen)));
    }

    #[test]
    fn a_cart_holds_one_currency() {
        let mut cart = Cart::empty(UserId::new());
        cart.add(ProductId::new(), &terms("Pen", 1, 1), 1).unwrap();
        let mut euro = terms("Stift", 1, 1);
        euro.unit_price = Money::new(1, Currency::Eur);
        assert!(matches!(
            cart.add(ProductId::new(), &euro, 1),
            Err(CartError::CurrencyMismatch { .. })
        ));
    }

    #[test]
    fn the_newest_terms_price_each_line_whether_in_the_book_or_the_cart() {
        let mut cart = Cart::empty(UserId::new());
        let (pen, pad, ink) = (ProductId::new(), ProductId::new(), ProductId::new());
        cart.add(pen, &terms("Pen", 100, 1), 2).unwrap();
        cart.add(pad, &terms("Pad", 300, 5), 1).unwrap();
        cart.add(ink, &terms("Ink", 50, 1), 1).unwrap();
        let book = HashMap::from([
            // Repriced since it was added: the book wins.
            (pen, terms("Pen (blue)", 150, 2)),
            // Added after a change the book has not heard of yet: the cart's terms win.
            (pad, terms("Pad", 250, 4)),
        ]);
        let view = cart.priced(&book).unwrap();
        let prices: Vec<(&str, Money, LineStatus)> = view
            .items
            .iter()
            .map(|line| (line.name.as_str(), line.unit_price, line.status))
            .collect();
        assert_eq!(
            prices,
            [
                ("Pen (blue)", usd(150), LineStatus::Available),
                ("Pad", usd(300), LineStatus::Available),
                ("Ink", usd(50), LineStatus::Available),
            ]
        );
        assert_eq!(view.total, usd(2 * 150 + 300 + 50));
    }

    #[test]
    fn a_line_off_sale_or_in_another_currency_is_marked_and_left_out_of_the_total() {
        let mut cart = Cart::empty(UserId::new());
        let (pen, fax, stift) = (ProductId::new(), ProductId::new(), ProductId::new());
        cart.add(pen, &terms("Pen", 100, 1), 1).unwrap();
        cart.add(fax, &terms("Fax", 9_900, 1), 1).unwrap();
        cart.add(stift, &terms("Stift", 200, 1), 1).unwrap();
        let mut retired = terms("Fax", 9_900, 2);
        retired.active = false;
        let mut euro = terms("Stift", 180, 2);
        euro.unit_price = Money::new(180, Currency::Eur);
        let view = cart
            .priced(&HashMap::from([(fax, retired), (stift, euro)]))
            .unwrap();
        let statuses: Vec<LineStatus> = view.items.iter().map(|line| line.status).collect();
        assert_eq!(
            statuses,
            [
                LineStatus::Available,
                LineStatus::Discontinued,
                LineStatus::CurrencyChanged
            ]
        );
        assert_eq!(view.total, usd(100));
        assert_eq!(view.items[2].line_total, Money::new(180, Currency::Eur));
    }

    #[test]
    fn an_order_takes_out_only_the_units_it_bought() {
        let mut cart = Cart::empty(UserId::new());
        let (pen, pad, ink) = (ProductId::new(), ProductId::new(), ProductId::new());
        cart.add(pen, &terms("Pen", 100, 1), 3).unwrap();
        cart.add(pad, &terms("Pad", 300, 1), 1).unwrap();
        cart.add(ink, &terms("Ink", 50, 1), 1).unwrap();
        let other = ProductId::new();
        cart.remove_bought(&Bought::Units(vec![(pen, 2), (pad, 1), (other, 4)]));
        let left: Vec<(&str, u32)> = cart
            .items
            .iter()
            .map(|item| (item.name.as_str(), item.quantity))
            .collect();
        assert_eq!(left, [("Pen", 1), ("Ink", 1)]);
        cart.remove_bought(&Bought::Units(vec![(pen, 5)]));
        assert_eq!(
            cart.product_ids(),
            [ink],
            "more bought than held empties the line"
        );
        cart.remove_bought(&Bought::Everything);
        assert!(cart.items.is_empty());
    }

    #[test]
    fn a_cart_stored_before_versions_reads_as_version_0() {
        let pen = ProductId::new();
        let json = format!(
            r#"{{"user_id":"{}","items":[{{"product_id":"{pen}","name":"Pen","unit_price":{{"amount_minor":100,"currency":"USD"}},"quantity":1}}]}}"#,
            UserId::new()
        );
        let cart: Cart = serde_json::from_str(&json).unwrap();
        assert_eq!(cart.items[0].version, 0);
        let view = cart
            .priced(&HashMap::from([(pen, terms("Pen", 120, 0))]))
            .unwrap();
        assert_eq!(view.total, usd(120), "any announced terms are newer");
    }
}
