//! The catalogue in `PostgreSQL`. A change and its outbox rows are one transaction (the relay
//! publishes them); listing and search are one query each (plus the count), ordered like the
//! in-memory store: by lower-cased name in byte order, then id.

use async_trait::async_trait;
use platform::outbox;
use shared_events::EventEnvelope;
use shared_types::{Currency, Money, Page, ProductId};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{EventsFor, ProductRepository, RepositoryError};
use crate::models::{PageRequest, Product, ProductPatch};

/// The catalogue in `PostgreSQL`.
#[derive(Clone)]
pub struct PostgresProductRepository {
    pool: PgPool,
    /// Where the reads read replicas may serve go: the replicas, or `pool`.
    reads: PgPool,
}

impl PostgresProductRepository {
    /// The repository on `pool` (migrated with [`crate::MIGRATOR`]).
    #[must_use]
    pub fn new(pool: PgPool) -> Self {
        Self {
            reads: pool.clone(),
            pool,
        }
    }

    /// The same repository, serving the reads the architecture model lets read replicas serve
    /// from `reads` when given (`DATABASE_READ_URL`).
    #[must_use]
    pub fn with_reads(mut self, reads: Option<PgPool>) -> Self {
        if let Some(reads) = reads {
            self.reads = reads;
        }
        self
    }
}

fn storage(err: &sqlx::Error) -> RepositoryError {
    RepositoryError::Storage(err.to_string())
}

type ProductRow = (Uuid, String, String, String, i64, String, bool, i64);

const COLUMNS: &str = "id, name, description, category, price_minor, currency, active, version";

/// Listing order; `COLLATE "C"` makes it byte order whatever the database's collation.
const ORDER: &str = "lower(name) COLLATE \"C\", id";

fn currency_code(currency: Currency) -> String {
    currency.to_string()
}

fn product_from_row(
    (id, name, description, category, price_minor, currency, active, version): ProductRow,
) -> Result<Product, RepositoryError> {
    let currency: Currency = serde_json::from_value(serde_json::Value::String(currency))
        .map_err(|err| RepositoryError::Storage(format!("product {id}: {err}")))?;
    let version = u64::try_from(version)
        .map_err(|_| RepositoryError::Storage(format!("product {id}: version {version}")))?;
    Ok(Product {
        id: ProductId(id),
        name,
        description,
        category,
        price: Money::new(price_minor, currency),
        active,
        version,
    })
}

fn products(rows: Vec<ProductRow>) -> Result<Vec<Product>, RepositoryError> {
    rows.into_iter().map(product_from_row).collect()
}

/// `(LIMIT, OFFSET)` of a page.
fn window(page: PageRequest) -> (i64, i64) {
    let limit = i64::from(page.per_page);
    (limit, i64::from(page.page.max(1) - 1) * limit)
}

fn page_of(items: Vec<Product>, page: PageRequest, total: i64) -> Page<Product> {
    Page {
        items,
        page: page.page.max(1),
        per_page: page.per_page,
        total: u64::try_from(total).unwrap_or(0),
    }
}

/// `needle` as a `LIKE` pattern matching it anywhere, its wildcards taken literally.
fn contains_pattern(needle: &str) -> String {
    let mut pattern = String::with_capacity(needle.len() + 2);
    pattern.push('%');
    for c in needle.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// Makes sure the product's category exists.
async fn ensure_category(tx: &mut PgConnection, category: &str) -> Result<(), RepositoryError> {
    sqlx::query("INSERT INTO categories (name) VALUES ($1) ON CONFLICT DO NOTHING")
        .bind(category)
        .execute(tx)
        .await
        .map_err(|err| storage(&err))?;
    Ok(())
}

/// Inserts `product` unless its id exists; whether it was inserted.
async fn insert_row(tx: &mut PgConnection, product: &Product) -> Result<bool, RepositoryError> {
    ensure_category(tx, &product.category).await?;
    let inserted = sqlx::query(
        "INSERT INTO products \
         (id, name, description, category, price_minor, currency, active, version) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING",
    )
    .bind(product.id.0)
    .bind(&product.name)
    .bind(&product.description)
    .bind(&product.category)
    .bind(product.price.amount_minor)
    .bind(currency_code(product.price.currency))
    .bind(product.active)
    .bind(i64::try_from(product.version).unwrap_or(i64::MAX))
    .execute(tx)
    .await
    .map_err(|err| storage(&err))?;
    Ok(inserted.rows_affected() == 1)
}

async fn enqueue_all(
    tx: &mut PgConnection,
    events: &[EventEnvelope],
) -> Result<(), RepositoryError> {
    for event in events {
        outbox::enqueue(tx, event)
            .await
            .map_err(|err| storage(&err))?;
    }
    Ok(())
}

#[async_trait]
impl ProductRepository for PostgresProductRepository {
    async fn insert(
        &self,
        product: Product,
        events: &[EventEnvelope],
    ) -> Result<(), RepositoryError> {
        let mut tx = self.pool.begin().await.map_err(|err| storage(&err))?;
        if !insert_row(&mut tx, &product).await? {
            return Err(RepositoryError::Duplicate(product.id));
        }
        enqueue_all(&mut tx, events).await?;
        tx.commit().await.map_err(|err| storage(&err))
    }

    async fn seed(&self, seed: &[Product]) -> Result<usize, RepositoryError> {
        let mut tx = self.pool.begin().await.map_err(|err| storage(&err))?;
        let populated: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM products)")
            .fetch_one(&mut *tx)
            .await
            .map_err(|err| storage(&err))?;
        if populated {
            return Ok(0);
        }
        // Replicas seeding at once both see an empty table; ON CONFLICT makes the second
        // one's inserts no-ops once the first commits.
        let mut added = 0;
        for product in seed {
            if insert_row(&mut tx, product).await? {
                added += 1;
            }
        }
        tx.commit().await.map_err(|err| storage(&err))?;
        Ok(added)
    }

    async fn get(&self, id: ProductId) -> Result<Option<Product>, RepositoryError> {
        sqlx::query_as::<_, ProductRow>(&format!("SELECT {COLUMNS} FROM products WHERE id = $1"))
            .bind(id.0)
            .fetch_optional(&self.reads)
            .await
            .map_err(|err| storage(&err))?
            .map(product_from_row)
            .transpose()
    }

    async fn update(
        &self,
        id: ProductId,
        patch: &ProductPatch,
        events: EventsFor<'_>,
    ) -> Result<Option<Product>, RepositoryError> {
        let mut tx = self.pool.begin().await.map_err(|err| storage(&err))?;
        if let Some(category) = &patch.category {
            ensure_category(&mut tx, category).await?;
        }
        let row = sqlx::query_as::<_, ProductRow>(&format!(
            "UPDATE products SET name = COALESCE($2, name), \
             description = COALESCE($3, description), category = COALESCE($4, category), \
             price_minor = COALESCE($5, price_minor), currency = COALESCE($6, currency), \
             active = COALESCE($7, active), version = version + 1, updated_at = now() \
             WHERE id = $1 RETURNING {COLUMNS}"
        ))
        .bind(id.0)
        .bind(patch.name.as_deref())
        .bind(patch.description.as_deref())
        .bind(patch.category.as_deref())
        .bind(patch.price.map(|price| price.amount_minor))
        .bind(patch.price.map(|price| currency_code(price.currency)))
        .bind(patch.active)
        .fetch_optional(&mut *tx)
        .await
        .map_err(|err| storage(&err))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let product = product_from_row(row)?;
        enqueue_all(&mut tx, &events(&product)).await?;
        tx.commit().await.map_err(|err| storage(&err))?;
        Ok(Some(product))
    }

    async fn list(
        &self,
        category: Option<&str>,
        page: PageRequest,
    ) -> Result<Page<Product>, RepositoryError> {
        let filter = "active AND ($1::text IS NULL OR category = $1)";
        let total: i64 =
            sqlx::query_scalar(&format!("SELECT count(*) FROM products WHERE {filter}"))
                .bind(category)
                .fetch_one(&self.reads)
                .await
                .map_err(|err| storage(&err))?;
        let (limit, offset) = window(page);
        let rows = sqlx::query_as::<_, ProductRow>(&format!(
            "SELECT {COLUMNS} FROM products WHERE {filter} ORDER BY {ORDER} LIMIT $2 OFFSET $3"
        ))
        .bind(category)
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.reads)
        .await
        .map_err(|err| storage(&err))?;
        Ok(page_of(products(rows)?, page, total))
    }

    async fn search(
        &self,
        needle: &str,
        page: PageRequest,
    ) -> Result<Page<Product>, RepositoryError> {
        let pattern = contains_pattern(needle);
        let filter = "active AND (lower(name) LIKE $1 OR lower(description) LIKE $1)";
        let total: i64 =
            sqlx::query_scalar(&format!("SELECT count(*) FROM products WHERE {filter}"))
                .bind(&pattern)
                .fetch_one(&self.reads)
                .await
                .map_err(|err| storage(&err))?;
        let (limit, offset) = window(page);
        // Rank as `models::search_rank`: name prefix, then name match, then description.
        let rows = sqlx::query_as::<_, ProductRow>(&format!(
            "SELECT {COLUMNS} FROM products WHERE {filter} \
             ORDER BY CASE WHEN starts_with(lower(name), $2) THEN 0 \
                           WHEN lower(name) LIKE $1 THEN 1 ELSE 2 END, {ORDER} \
             LIMIT $3 OFFSET $4"
        ))
        .bind(&pattern)
        .bind(needle)
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.reads)
        .await
        .map_err(|err| storage(&err))?;
        Ok(page_of(products(rows)?, page, total))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_wildcards_in_the_needle_match_literally() {
        assert_eq!(contains_pattern("lamp"), "%lamp%");
        assert_eq!(contains_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
    }
}
