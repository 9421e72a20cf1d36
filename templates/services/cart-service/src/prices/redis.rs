//! The price table in Redis: one hash, `<prefix>prices`, shared by every replica (a consumer
//! group spreads `product.updated` over the replicas, so each sees only some of the events),
//! mapping product ids to their terms as JSON. A record is a Lua script that writes only when
//! the hash holds no newer version; a read is one `HMGET` of the cart's products. The hash has
//! no TTL: it holds one entry per announced product, as many as the catalogue.

use std::collections::HashMap;

use async_trait::async_trait;
use redis::Script;
use redis::aio::ConnectionManager;
use shared_types::ProductId;

use super::PriceBook;
use crate::models::ProductTerms;
use crate::repository::CartStoreError;

/// Sets field `ARGV[1]` of hash `KEYS[1]` to `ARGV[2]` unless it holds terms of a version
/// above `ARGV[3]`. 1 = written.
const RECORD_NEWEST: &str = r"
local known = redis.call('HGET', KEYS[1], ARGV[1])
if known then
  local ok, terms = pcall(cjson.decode, known)
  if ok and type(terms) == 'table' and tonumber(terms.version or 0) > tonumber(ARGV[3]) then
    return 0
  end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
";

fn storage(err: &redis::RedisError) -> CartStoreError {
    CartStoreError::Storage(format!("redis: {err}"))
}

/// The price table in the hash `<prefix>prices`.
#[derive(Clone)]
pub struct RedisPriceBook {
    redis: ConnectionManager,
    key: String,
    record_newest: Script,
}

impl RedisPriceBook {
    /// The table on an open connection, under the service's key prefix.
    #[must_use]
    pub fn new(redis: ConnectionManager, prefix: &str) -> Self {
        Self {
            redis,
            key: format!("{prefix}prices"),
            record_newest: Script::new(RECORD_NEWEST),
        }
    }

    /// The hash holding the table.
    #[must_use]
    pub fn key(&self) -> &str {
        &self.key
    }
}

#[async_trait]
impl PriceBook for RedisPriceBook {
    async fn record(
        &self,
        product_id: ProductId,
        terms: &ProductTerms,
    ) -> Result<bool, CartStoreError> {
        let json =
            serde_json::to_string(terms).map_err(|err| CartStoreError::Storage(err.to_string()))?;
        let written: i64 = self
            .record_newest
            .key(&self.key)
            .arg(product_id.to_string())
            .arg(json)
            .arg(terms.version)
            .invoke_async(&mut self.redis.clone())
            .await
            .map_err(|err| storage(&err))?;
        Ok(written == 1)
    }

    async fn terms(
        &self,
        product_ids: &[ProductId],
    ) -> Result<HashMap<ProductId, ProductTerms>, CartStoreError> {
        if product_ids.is_empty() {
            return Ok(HashMap::new());
        }
        let fields: Vec<String> = product_ids.iter().map(ToString::to_string).collect();
        let found: Vec<Option<String>> = redis::cmd("HMGET")
            .arg(&self.key)
            .arg(&fields)
            .query_async(&mut self.redis.clone())
            .await
            .map_err(|err| storage(&err))?;
        let mut book = HashMap::new();
        for (id, json) in product_ids.iter().zip(found) {
            let Some(json) = json else { continue };
            let terms = serde_json::from_str(&json).map_err(|err| {
                CartStoreError::Storage(format!("unreadable terms of product {id}: {err}"))
            })?;
            book.insert(*id, terms);
        }
        Ok(book)
    }
}
