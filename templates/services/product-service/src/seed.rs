//! Demo data: a small catalogue, so a fresh local stack has something to sell.
//!
//! The product ids are the ones inventory-service stocks (its `seed` module lists the same ids
//! with stock levels); keep the two lists identical. Turn seeding off with
//! `PRODUCT_SERVICE_SEED=false`.

use shared_types::{Currency, Money, ProductId};
use uuid::Uuid;

use crate::models::Product;
use crate::repository::{ProductRepository, RepositoryError};

/// Mechanical keyboard.
pub const KEYBOARD: ProductId = ProductId(Uuid::from_u128(0x5eed0000_0000_4000_8000_000000000001));
/// Wireless mouse.
pub const MOUSE: ProductId = ProductId(Uuid::from_u128(0x5eed0000_0000_4000_8000_000000000002));
/// 27-inch 4K monitor.
pub const MONITOR: ProductId = ProductId(Uuid::from_u128(0x5eed0000_0000_4000_8000_000000000003));
/// USB-C hub.
pub const USB_C_HUB: ProductId = ProductId(Uuid::from_u128(0x5eed0000_0000_4000_8000_000000000004));
/// LED desk lamp.
pub const DESK_LAMP: ProductId = ProductId(Uuid::from_u128(0x5eed0000_0000_4000_8000_000000000005));
/// Dotted notebook.
pub const NOTEBOOK: ProductId = ProductId(Uuid::from_u128(0x5eed0000_0000_4000_8000_000000000006));

/// One demo product: id, name, description, category, price in US cents.
pub struct DemoProduct {
    pub id: ProductId,
    pub name: &'static str,
    pub description: &'static str,
    pub category: &'static str,
    pub price_cents: i64,
}

/// The demo catalogue.
pub const DEMO_CATALOGUE: [DemoProduct; 6] = [
    DemoProduct {
        id: KEYBOARD,
        name: "Mechanical Keyboard",
        description: "Tenkeyless keyboard with hot-swappable tactile switches and a USB-C cable.",
        category: "peripherals",
        price_cents: 8_999,
    },
    DemoProduct {
        id: MOUSE,
        name: "Wireless Mouse",
        description: "Quiet ergonomic mouse with a 2.4 GHz receiver and a 70-day battery.",
        category: "peripherals",
        price_cents: 2_999,
    },
    DemoProduct {
        id: MONITOR,
        name: "27-inch 4K Monitor",
        description: "IPS panel, 3840x2160, USB-C power delivery to charge a laptop.",
        category: "displays",
        price_cents: 32_999,
    },
    DemoProduct {
        id: USB_C_HUB,
        name: "USB-C Hub",
        description: "Seven ports: HDMI, two USB-A, SD and microSD readers, Ethernet, USB-C passthrough.",
        category: "accessories",
        price_cents: 4_499,
    },
    DemoProduct {
        id: DESK_LAMP,
        name: "LED Desk Lamp",
        description: "Dimmable lamp with adjustable colour temperature for a long day at the desk.",
        category: "office",
        price_cents: 3_999,
    },
    DemoProduct {
        id: NOTEBOOK,
        name: "Dotted Notebook",
        description: "A5 notebook, 160 pages of dotted paper, lies flat when open.",
        category: "stationery",
        price_cents: 1_299,
    },
];

impl DemoProduct {
    /// The catalogue entry, on sale.
    #[must_use]
    pub fn product(&self) -> Product {
        Product {
            id: self.id,
            name: self.name.to_owned(),
            description: self.description.to_owned(),
            category: self.category.to_owned(),
            price: Money::new(self.price_cents, Currency::Usd),
            active: true,
            version: 1,
        }
    }
}

/// Adds the demo catalogue if the catalogue is empty (so a restart, or a second replica, adds
/// nothing); answers how many products were added.
pub async fn load(repository: &dyn ProductRepository) -> Result<usize, RepositoryError> {
    let products: Vec<Product> = DEMO_CATALOGUE.iter().map(DemoProduct::product).collect();
    repository.seed(&products).await
}
