//! Demo data: stock for the demo catalogue, so a fresh local stack can take orders at once.
//!
//! The product ids are the ones product-service seeds (its `seed` module lists the same ids with
//! names and prices); keep the two lists identical. Turn seeding off with
//! `INVENTORY_SERVICE_SEED=false`.

use shared_types::ProductId;
use uuid::Uuid;

use crate::repository::{InventoryRepository, RepositoryError};

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

/// Units available per demo product.
pub const DEMO_STOCK: [(ProductId, u32); 6] = [
    (KEYBOARD, 40),
    (MOUSE, 100),
    (MONITOR, 25),
    (USB_C_HUB, 60),
    (DESK_LAMP, 35),
    (NOTEBOOK, 80),
];

/// Stocks every demo product that has no stock entry yet (a restart against a database keeps
/// the stock it has).
pub async fn load(repository: &dyn InventoryRepository) -> Result<(), RepositoryError> {
    for (product_id, available) in DEMO_STOCK {
        repository.ensure_stock(product_id, available).await?;
    }
    Ok(())
}
