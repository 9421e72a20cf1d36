//! Carts in Redis: one string key per user holding the cart as JSON, written with `PX` so it
//! expires a TTL after its last change (`GET` does not touch the TTL, so reads do not extend
//! it). A change is a read, the cart rules in Rust, then a compare-and-set Lua script that
//! writes only if the key still holds what was read; a concurrent change makes it retry, so
//! two replicas adding to one cart never lose an item. Taking out what an `order.confirmed`
//! event bought is such a change whose script also remembers the event id (a key with the
//! same TTL), and does nothing if it was remembered before. Every key a script touches
//! carries the user id as its hash tag (`cart:{<user>}`, `processed:{<user>}:<event>`), so on
//! Redis Cluster they share a slot.

use std::time::Duration;

use async_trait::async_trait;
use platform::health::Check;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands as _, Script};
use shared_types::{EventId, ProductId, UserId};

use super::{CartRepository, CartStoreError};
use crate::models::{Bought, Cart, CartError, ProductTerms};

/// The key prefix of a deployment's carts unless configured otherwise.
pub const DEFAULT_KEY_PREFIX: &str = "cart-service:";

/// How often a change is retried when another writer changed the cart in between.
const MAX_ATTEMPTS: usize = 16;

/// How long connecting and each command may take before the request fails with a 503.
const TIMEOUT: Duration = Duration::from_secs(2);

/// Writes cart `KEYS[1]` = `ARGV[3]` (or deletes it when that is empty) with a TTL of `ARGV[4]`
/// ms, only if the key holds `ARGV[2]` (`ARGV[1]` = "1") or is absent (`ARGV[1]` = "0"). With
/// a second key, the marker of the event causing the change: nothing is written if it exists,
/// and it is set (same TTL) with the write. 1 = written, 0 = the cart changed in between,
/// 2 = the event was handled before.
const COMPARE_AND_SET: &str = r"
if KEYS[2] and redis.call('EXISTS', KEYS[2]) == 1 then return 2 end
local current = redis.call('GET', KEYS[1])
if ARGV[1] == '1' then
  if current ~= ARGV[2] then return 0 end
elseif current then
  return 0
end
if KEYS[2] then redis.call('SET', KEYS[2], '1', 'PX', ARGV[4]) end
if ARGV[3] == '' then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
end
return 1
";

/// What the compare-and-set script answered.
const WRITTEN: i64 = 1;
const ALREADY_HANDLED: i64 = 2;

/// Opens the connection the cart store and the price table share (reconnecting on its own
/// after a connection loss), with 2 s connect and command timeouts.
pub async fn connect(url: &str) -> anyhow::Result<ConnectionManager> {
    let client =
        redis::Client::open(url).map_err(|err| anyhow::anyhow!("invalid REDIS_URL: {err}"))?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(TIMEOUT)
        .set_response_timeout(TIMEOUT);
    ConnectionManager::new_with_config(client, config)
        .await
        .map_err(|err| anyhow::anyhow!("cannot connect to Redis: {err}"))
}

/// `/ready`'s `redis` check: one `PING` on the connection the carts use. Carts live only in
/// Redis, so the service cannot serve without it.
#[must_use]
pub fn readiness_check(redis: &ConnectionManager) -> Check {
    let redis = redis.clone();
    Check::required("redis", move || {
        let mut redis = redis.clone();
        async move { redis::cmd("PING").query_async::<()>(&mut redis).await }
    })
}

fn storage(err: &redis::RedisError) -> CartStoreError {
    CartStoreError::Storage(format!("redis: {err}"))
}

/// Carts in Redis under `prefix`, expiring `ttl` after their last change.
#[derive(Clone)]
pub struct RedisCartRepository {
    redis: ConnectionManager,
    prefix: String,
    ttl_ms: u64,
    compare_and_set: Script,
}

impl RedisCartRepository {
    /// Connects to the Redis at `url` (see [`connect`]).
    pub async fn connect(url: &str, prefix: &str, ttl: Duration) -> anyhow::Result<Self> {
        Ok(Self::new(connect(url).await?, prefix, ttl))
    }

    /// A store on an open connection.
    #[must_use]
    pub fn new(redis: ConnectionManager, prefix: &str, ttl: Duration) -> Self {
        Self {
            redis,
            prefix: prefix.to_owned(),
            // At least 1 ms: `PX 0` is an error in Redis.
            ttl_ms: u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1),
            compare_and_set: Script::new(COMPARE_AND_SET),
        }
    }

    /// The key holding `user_id`'s cart. The user id is the key's hash tag (`{…}`), so on
    /// Redis Cluster it lives in the same slot as that user's processed-event keys, which one
    /// script touches together (the prefix must therefore contain no `{`).
    #[must_use]
    pub fn cart_key(&self, user_id: UserId) -> String {
        format!("{}cart:{{{user_id}}}", self.prefix)
    }

    /// The key remembering that `event_id` (which changed `user_id`'s cart) was handled; hash
    /// tagged with the user like [`RedisCartRepository::cart_key`].
    #[must_use]
    pub fn processed_key(&self, user_id: UserId, event_id: EventId) -> String {
        format!("{}processed:{{{user_id}}}:{event_id}", self.prefix)
    }

    async fn load(&self, key: &str) -> Result<Option<String>, CartStoreError> {
        self.redis
            .clone()
            .get(key)
            .await
            .map_err(|err| storage(&err))
    }

    fn decode(user_id: UserId, raw: Option<&str>) -> Result<Cart, CartStoreError> {
        raw.map_or_else(
            || Ok(Cart::empty(user_id)),
            |json| {
                serde_json::from_str(json).map_err(|err| {
                    CartStoreError::Storage(format!("unreadable cart of user {user_id}: {err}"))
                })
            },
        )
    }

    /// Reads the cart, applies `change`, and writes it back with a fresh TTL (deleting it when
    /// it ends up empty) if nobody changed it in between; otherwise starts over.
    async fn modify(
        &self,
        user_id: UserId,
        change: impl Fn(&mut Cart) -> Result<(), CartError> + Send + Sync,
    ) -> Result<Cart, CartStoreError> {
        let changed = self.modify_once(user_id, None, change).await?;
        // Only a change caused by an event can find its event handled before.
        changed.ok_or_else(|| {
            CartStoreError::Storage("the cart script saw an event marker it was not given".into())
        })
    }

    /// [`RedisCartRepository::modify`], and when the change is caused by event `event_id`,
    /// only if that event was not handled before (`None` then), remembering it with the write.
    async fn modify_once(
        &self,
        user_id: UserId,
        event_id: Option<EventId>,
        change: impl Fn(&mut Cart) -> Result<(), CartError> + Send + Sync,
    ) -> Result<Option<Cart>, CartStoreError> {
        let key = self.cart_key(user_id);
        for _ in 0..MAX_ATTEMPTS {
            let current = self.load(&key).await?;
            let mut cart = Self::decode(user_id, current.as_deref())?;
            change(&mut cart)?;
            let next = if cart.items.is_empty() {
                String::new()
            } else {
                serde_json::to_string(&cart)
                    .map_err(|err| CartStoreError::Storage(err.to_string()))?
            };
            let mut script = self.compare_and_set.key(&key);
            if let Some(event_id) = event_id {
                script.key(self.processed_key(user_id, event_id));
            }
            let answer: i64 = script
                .arg(if current.is_some() { "1" } else { "0" })
                .arg(current.as_deref().unwrap_or_default())
                .arg(next)
                .arg(self.ttl_ms)
                .invoke_async(&mut self.redis.clone())
                .await
                .map_err(|err| storage(&err))?;
            match answer {
                WRITTEN => return Ok(Some(cart)),
                ALREADY_HANDLED => return Ok(None),
                _ => {}
            }
            tracing::debug!(%user_id, "cart changed concurrently; retrying the change");
        }
        Err(CartStoreError::Storage(format!(
            "the cart of user {user_id} kept changing; gave up after {MAX_ATTEMPTS} attempts"
        )))
    }
}

#[async_trait]
impl CartRepository for RedisCartRepository {
    async fn get(&self, user_id: UserId) -> Result<Cart, CartStoreError> {
        let raw = self.load(&self.cart_key(user_id)).await?;
        Self::decode(user_id, raw.as_deref())
    }

    async fn add_item(
        &self,
        user_id: UserId,
        product_id: ProductId,
        terms: &ProductTerms,
        quantity: u32,
    ) -> Result<Cart, CartStoreError> {
        self.modify(user_id, |cart| cart.add(product_id, terms, quantity))
            .await
    }

    async fn set_quantity(
        &self,
        user_id: UserId,
        product_id: ProductId,
        quantity: u32,
    ) -> Result<Cart, CartStoreError> {
        self.modify(user_id, |cart| cart.set_quantity(product_id, quantity))
            .await
    }

    async fn remove_item(
        &self,
        user_id: UserId,
        product_id: ProductId,
    ) -> Result<Cart, CartStoreError> {
        self.modify(user_id, |cart| cart.remove(product_id)).await
    }

    async fn clear(&self, user_id: UserId) -> Result<(), CartStoreError> {
        let _: i64 = self
            .redis
            .clone()
            .del(self.cart_key(user_id))
            .await
            .map_err(|err| storage(&err))?;
        Ok(())
    }

    async fn remove_bought(
        &self,
        user_id: UserId,
        event_id: EventId,
        bought: &Bought,
    ) -> Result<bool, CartStoreError> {
        let changed = self
            .modify_once(user_id, Some(event_id), |cart| {
                cart.remove_bought(bought);
                Ok(())
            })
            .await?;
        Ok(changed.is_some())
    }
}
