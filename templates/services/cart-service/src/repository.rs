//! Storage of carts, one per user, each expiring a TTL after its last change (Redis `SET … PX`
//! semantics: reads do not extend it). Every change is one atomic operation on the store.
//! In memory here; in Redis ([`redis::RedisCartRepository`]) when `REDIS_URL` is set.

pub mod redis;

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use platform::ApiError;
use shared_types::{EventId, ProductId, UserId};

use crate::models::{Bought, Cart, CartError, ProductTerms};

/// The time, injected so tests can move it.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that only moves when told to (tests).
#[derive(Debug)]
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    /// A clock showing `start`.
    #[must_use]
    pub fn new(start: DateTime<Utc>) -> Self {
        Self(Mutex::new(start))
    }

    /// Moves the clock forward by `by`.
    ///
    /// # Panics
    /// If `by` does not fit a `chrono` time span (hundreds of millions of years).
    pub fn advance(&self, by: Duration) {
        let by = TimeDelta::from_std(by).expect("a realistic duration");
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Why a cart operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CartStoreError {
    #[error(transparent)]
    Rule(#[from] CartError),
    #[error("cart storage failed: {0}")]
    Storage(String),
}

impl From<CartStoreError> for ApiError {
    fn from(err: CartStoreError) -> Self {
        match err {
            CartStoreError::Rule(CartError::NotInCart(_)) => Self::not_found(err.to_string()),
            CartStoreError::Rule(_) => Self::unprocessable(err.to_string()),
            CartStoreError::Storage(_) => Self::dependency("the cart store", err),
        }
    }
}

/// Carts by user. A missing or expired cart reads as empty.
#[async_trait]
pub trait CartRepository: Send + Sync {
    /// The user's cart (empty when there is none or it expired).
    async fn get(&self, user_id: UserId) -> Result<Cart, CartStoreError>;

    /// Adds units of a product on its current terms (see [`Cart::add`]) and restarts the
    /// cart's TTL.
    async fn add_item(
        &self,
        user_id: UserId,
        product_id: ProductId,
        terms: &ProductTerms,
        quantity: u32,
    ) -> Result<Cart, CartStoreError>;

    /// Sets a line's quantity, 0 removing it (see [`Cart::set_quantity`]); restarts the TTL.
    async fn set_quantity(
        &self,
        user_id: UserId,
        product_id: ProductId,
        quantity: u32,
    ) -> Result<Cart, CartStoreError>;

    /// Removes a line; restarts the TTL.
    async fn remove_item(
        &self,
        user_id: UserId,
        product_id: ProductId,
    ) -> Result<Cart, CartStoreError>;

    /// Deletes the cart; deleting a missing cart is fine.
    async fn clear(&self, user_id: UserId) -> Result<(), CartStoreError>;

    /// Takes what an order bought out of the cart (see [`Cart::remove_bought`]) because of
    /// event `event_id`, and remembers the event (for the TTL), in one atomic step; `false`
    /// (and nothing taken) when the event was handled before, so a redelivered confirmation
    /// cannot take the same units twice.
    async fn remove_bought(
        &self,
        user_id: UserId,
        event_id: EventId,
        bought: &Bought,
    ) -> Result<bool, CartStoreError>;
}

struct Stored {
    cart: Cart,
    expires_at: DateTime<Utc>,
}

#[derive(Default)]
struct State {
    carts: HashMap<UserId, Stored>,
    /// Handled event ids and until when they are remembered.
    processed: HashMap<EventId, DateTime<Utc>>,
    last_sweep: Option<DateTime<Utc>>,
}

impl State {
    /// Drops expired carts and event ids, at most once per [`SWEEP_EVERY`].
    fn sweep(&mut self, now: DateTime<Utc>) {
        if self.last_sweep.is_none_or(|at| now - at >= SWEEP_EVERY) {
            self.carts.retain(|_, stored| stored.expires_at > now);
            self.processed.retain(|_, until| *until > now);
            self.last_sweep = Some(now);
        }
    }
}

/// How often writes drop expired carts of other users, so abandoned carts do not pile up.
const SWEEP_EVERY: TimeDelta = TimeDelta::minutes(1);

/// Carts in memory, expiring like they will in Redis.
pub struct InMemoryCartRepository {
    state: Mutex<State>,
    ttl: TimeDelta,
    clock: std::sync::Arc<dyn Clock>,
}

impl InMemoryCartRepository {
    /// A store whose carts live `ttl` after their last change, timed by `clock`.
    #[must_use]
    pub fn new(ttl: Duration, clock: std::sync::Arc<dyn Clock>) -> Self {
        Self {
            state: Mutex::default(),
            ttl: TimeDelta::from_std(ttl).unwrap_or(TimeDelta::MAX),
            clock,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn expiry(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now.checked_add_signed(self.ttl)
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    /// Loads the user's live cart, applies `change`, and stores it with a fresh TTL (or deletes
    /// it when it ends up empty), all under one lock.
    fn modify(
        &self,
        user_id: UserId,
        change: impl FnOnce(&mut Cart) -> Result<(), CartError>,
    ) -> Result<Cart, CartStoreError> {
        let now = self.clock.now();
        let mut state = self.lock();
        state.sweep(now);
        self.modify_locked(&mut state, now, user_id, change)
    }

    /// [`InMemoryCartRepository::modify`] under a lock the caller holds.
    fn modify_locked(
        &self,
        state: &mut State,
        now: DateTime<Utc>,
        user_id: UserId,
        change: impl FnOnce(&mut Cart) -> Result<(), CartError>,
    ) -> Result<Cart, CartStoreError> {
        let mut cart = match state.carts.get(&user_id) {
            Some(stored) if stored.expires_at > now => stored.cart.clone(),
            _ => Cart::empty(user_id),
        };
        change(&mut cart)?;
        if cart.items.is_empty() {
            state.carts.remove(&user_id);
        } else {
            let expires_at = self.expiry(now);
            state.carts.insert(
                user_id,
                Stored {
                    cart: cart.clone(),
                    expires_at,
                },
            );
        }
        Ok(cart)
    }
}

#[async_trait]
impl CartRepository for InMemoryCartRepository {
    async fn get(&self, user_id: UserId) -> Result<Cart, CartStoreError> {
        let now = self.clock.now();
        let mut state = self.lock();
        match state.carts.get(&user_id) {
            Some(stored) if stored.expires_at > now => Ok(stored.cart.clone()),
            Some(_) => {
                state.carts.remove(&user_id);
                Ok(Cart::empty(user_id))
            }
            None => Ok(Cart::empty(user_id)),
        }
    }

    async fn add_item(
        &self,
        user_id: UserId,
        product_id: ProductId,
        terms: &ProductTerms,
        quantity: u32,
    ) -> Result<Cart, CartStoreError> {
        self.modify(user_id, |cart| cart.add(product_id, terms, quantity))
    }

    async fn set_quantity(
        &self,
        user_id: UserId,
        product_id: ProductId,
        quantity: u32,
    ) -> Result<Cart, CartStoreError> {
        self.modify(user_id, |cart| cart.set_quantity(product_id, quantity))
    }

    async fn remove_item(
        &self,
        user_id: UserId,
        product_id: ProductId,
    ) -> Result<Cart, CartStoreError> {
        self.modify(user_id, |cart| cart.remove(product_id))
    }

    async fn clear(&self, user_id: UserId) -> Result<(), CartStoreError> {
        self.lock().carts.remove(&user_id);
        Ok(())
    }

    async fn remove_bought(
        &self,
        user_id: UserId,
        event_id: EventId,
        bought: &Bought,
    ) -> Result<bool, CartStoreError> {
        let now = self.clock.now();
        let mut state = self.lock();
        state.sweep(now);
        if state
            .processed
            .get(&event_id)
            .is_some_and(|until| *until > now)
        {
            return Ok(false);
        }
        let until = self.expiry(now);
        state.processed.insert(event_id, until);
        self.modify_locked(&mut state, now, user_id, |cart| {
            cart.remove_bought(bought);
            Ok(())
        })?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use shared_types::{Currency, Money};

    const TTL: Duration = Duration::from_secs(3_600);
    /// One second short of the TTL.
    const ALMOST_TTL: Duration = Duration::from_secs(3_599);

    fn store() -> (InMemoryCartRepository, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new(Utc::now()));
        (InMemoryCartRepository::new(TTL, clock.clone()), clock)
    }

    fn pen() -> ProductTerms {
        ProductTerms {
            name: "Pen".to_owned(),
            unit_price: Money::new(100, Currency::Usd),
            active: true,
            version: 1,
        }
    }

    async fn add_one(store: &InMemoryCartRepository, user: UserId) -> Cart {
        store
            .add_item(user, ProductId::new(), &pen(), 1)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_cart_expires_a_ttl_after_its_last_change() {
        let (store, clock) = store();
        let user = UserId::new();
        add_one(&store, user).await;
        clock.advance(ALMOST_TTL);
        assert_eq!(store.get(user).await.unwrap().items.len(), 1);
        add_one(&store, user).await;
        clock.advance(ALMOST_TTL);
        assert_eq!(
            store.get(user).await.unwrap().items.len(),
            2,
            "the change restarted the TTL"
        );
        clock.advance(Duration::from_secs(1));
        assert!(store.get(user).await.unwrap().items.is_empty());
    }

    #[tokio::test]
    async fn an_expired_cart_starts_over_on_the_next_change() {
        let (store, clock) = store();
        let user = UserId::new();
        add_one(&store, user).await;
        clock.advance(TTL);
        assert_eq!(add_one(&store, user).await.items.len(), 1);
    }

    #[tokio::test]
    async fn expired_carts_of_other_users_are_swept_on_writes() {
        let (store, clock) = store();
        add_one(&store, UserId::new()).await;
        clock.advance(TTL);
        add_one(&store, UserId::new()).await;
        assert_eq!(store.lock().carts.len(), 1);
    }

    #[tokio::test]
    async fn what_an_order_bought_is_taken_out_once_per_event_id() {
        let (store, _) = store();
        let user = UserId::new();
        let event = EventId::new();
        let bought = add_one(&store, user).await.items[0].product_id;
        store.set_quantity(user, bought, 3).await.unwrap();
        let units = Bought::Units(vec![(bought, 2)]);
        assert!(store.remove_bought(user, event, &units).await.unwrap());
        assert_eq!(store.get(user).await.unwrap().items[0].quantity, 1);
        assert!(
            !store.remove_bought(user, event, &units).await.unwrap(),
            "a redelivery"
        );
        assert_eq!(
            store.get(user).await.unwrap().items[0].quantity,
            1,
            "the redelivery took nothing more"
        );
        let everything = Bought::Everything;
        assert!(
            store
                .remove_bought(user, EventId::new(), &everything)
                .await
                .unwrap()
        );
        assert!(store.get(user).await.unwrap().items.is_empty());
        assert!(store.lock().carts.is_empty(), "an emptied cart is deleted");
    }
}
