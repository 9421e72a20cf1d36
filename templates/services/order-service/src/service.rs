//! The order use cases: checkout with idempotency keys, reading and cancelling orders, and
//! applying the saga's events. The cart is read through [`CartReader`] (HTTP to cart-service
//! in production, a fake in tests).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{SubsecRound, Utc};
use platform::ApiError;
use platform::auth::Claims;
use platform::client::ServiceClient;
use platform::inflight::{Check, InFlight, Waited};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use shared_events::{EventEnvelope, OrderCreated, OrderLine};
use shared_types::{EventId, Money, OrderId, Page, ProductId, UserId};

use crate::models::{Order, OrderEvent, OrderStatus};
use crate::repository::{
    Claim, Completion, Delivery, OrderRepository, RepositoryError, StoredResponse,
};

/// The consumer group of this service: its subscriptions (`events`) and the inbox that
/// remembers the events it has applied.
pub const GROUP: &str = "order-service";

/// The longest accepted `Idempotency-Key`.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;

/// How often a waiting duplicate re-checks the store, in case the first request finished in
/// another replica (whose wake-up this process cannot see).
const DUPLICATE_POLL: Duration = Duration::from_millis(50);

/// One line of the caller's cart as cart-service reports it: priced at the catalogue's
/// current terms, and whether it can be bought as it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CartItem {
    pub product_id: ProductId,
    /// The product's name, for the customer (absent from older cart-services).
    #[serde(default)]
    pub name: String,
    pub quantity: u32,
    #[serde(alias = "price")]
    pub unit_price: Money,
    /// Whether the line can be bought (absent from older cart-services: it can).
    #[serde(default)]
    pub status: LineStatus,
}

/// Whether a cart line can be bought, as cart-service reports it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineStatus {
    /// On sale, priced in the cart's currency.
    #[default]
    Available,
    /// The product was taken off sale after it was put in the cart.
    Discontinued,
    /// The product is now priced in another currency than the rest of the cart.
    CurrencyChanged,
    /// A status this service does not know (a newer cart-service): not bought, to be safe.
    #[serde(other)]
    Unavailable,
}

impl LineStatus {
    /// Why a line in this status cannot be bought; `None` when it can.
    #[must_use]
    pub fn refusal(self) -> Option<&'static str> {
        match self {
            Self::Available => None,
            Self::Discontinued => Some("is no longer on sale"),
            Self::CurrencyChanged => Some("is now priced in another currency than the cart"),
            Self::Unavailable => Some("cannot be bought"),
        }
    }
}

/// A 422 naming every line of `cart` that cannot be bought, if there is one.
fn unavailable_lines(cart: &Cart) -> Result<(), ApiError> {
    let refused: Vec<String> = cart
        .items
        .iter()
        .filter_map(|item| {
            let why = item.status.refusal()?;
            Some(if item.name.is_empty() {
                format!("product {} {why}", item.product_id)
            } else {
                format!("{} (product {}) {why}", item.name, item.product_id)
            })
        })
        .collect();
    if refused.is_empty() {
        Ok(())
    } else {
        let them = if refused.len() == 1 { "it" } else { "them" };
        Err(ApiError::unprocessable(format!(
            "{}: remove {them} from the cart to check out",
            refused.join("; ")
        )))
    }
}

/// The caller's cart (cart-service's `GET /api/v1/cart`; other fields are ignored).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cart {
    #[serde(default, alias = "lines")]
    pub items: Vec<CartItem>,
}

/// Reads the cart of the user a bearer token belongs to.
#[async_trait]
pub trait CartReader: Send + Sync {
    async fn read_cart(&self, bearer: &str) -> Result<Cart, ApiError>;
}

/// [`CartReader`] over HTTP: `GET /api/v1/cart` on cart-service, forwarding the caller's token.
#[derive(Debug, Clone)]
pub struct HttpCartReader {
    client: ServiceClient,
}

impl HttpCartReader {
    #[must_use]
    pub fn new(client: ServiceClient) -> Self {
        Self { client }
    }
}

#[async_trait]
impl CartReader for HttpCartReader {
    async fn read_cart(&self, bearer: &str) -> Result<Cart, ApiError> {
        match self
            .client
            .get_json::<Cart>("/api/v1/cart", Some(bearer))
            .await
        {
            // A user who never added anything may have no cart at all.
            Err(err) if err.status.as_u16() == 404 => Ok(Cart::default()),
            other => other,
        }
    }
}

/// The optional body of `POST /api/v1/orders`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlaceOrderRequest {
    /// The total the customer saw; if the cart now totals something else (a price changed),
    /// the order is refused rather than charged differently.
    #[serde(default)]
    pub expected_total: Option<Money>,
}

/// The body of a `202 Accepted` to `POST /api/v1/orders`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct OrderAccepted {
    pub order_id: OrderId,
    /// Always `pending`: the saga has just started.
    pub status: OrderStatus,
}

/// The answer to `POST /api/v1/orders`: the stored response, and whether it is a replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    pub response: StoredResponse,
    pub replayed: bool,
}

/// Checks an `Idempotency-Key` header value: 1 to 255 visible ASCII characters.
pub fn validate_idempotency_key(key: &str) -> Result<(), ApiError> {
    if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY_LEN {
        return Err(ApiError::bad_request(format!(
            "header `Idempotency-Key` must be 1 to {MAX_IDEMPOTENCY_KEY_LEN} characters"
        )));
    }
    if !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::bad_request(
            "header `Idempotency-Key` must be visible ASCII characters",
        ));
    }
    Ok(())
}

/// Parses the request body (empty means `{}`) and fingerprints it: the SHA-256 of its
/// canonical JSON, so key order and whitespace do not make two equal requests differ.
pub fn parse_body(body: &[u8]) -> Result<(PlaceOrderRequest, String), ApiError> {
    let value: serde_json::Value = if body.iter().all(u8::is_ascii_whitespace) {
        serde_json::Value::Object(serde_json::Map::new())
    } else {
        serde_json::from_slice(body)
            .map_err(|err| ApiError::bad_request(format!("invalid JSON body: {err}")))?
    };
    // serde would also take a struct from an array of its fields (`[]` for this one).
    if !value.is_object() {
        return Err(ApiError::unprocessable(
            "invalid order request: the body must be a JSON object",
        ));
    }
    let request: PlaceOrderRequest = serde_json::from_value(value.clone())
        .map_err(|err| ApiError::unprocessable(format!("invalid order request: {err}")))?;
    let digest = Sha256::digest(value.to_string().as_bytes());
    let fingerprint = digest
        .iter()
        .fold(String::with_capacity(64), |mut hex, byte| {
            use std::fmt::Write as _;
            let _ = write!(hex, "{byte:02x}");
            hex
        });
    Ok((request, fingerprint))
}

type KeySlot = (UserId, String);

/// The order use cases. Cloning shares everything.
#[derive(Clone)]
pub struct OrderService {
    repo: Arc<dyn OrderRepository>,
    cart: Arc<dyn CartReader>,
    in_flight: Arc<InFlight<KeySlot>>,
    idempotency_wait: Duration,
}

fn storage(err: RepositoryError) -> ApiError {
    match err {
        RepositoryError::NotFound(id) => ApiError::not_found(format!("order {id} not found")),
        RepositoryError::Illegal(illegal) => ApiError::conflict(illegal.to_string()),
        RepositoryError::Duplicate(_)
        | RepositoryError::ClaimLost(_)
        | RepositoryError::Unavailable(_) => ApiError::internal(err),
    }
}

impl OrderService {
    #[must_use]
    pub fn new(
        repo: Arc<dyn OrderRepository>,
        cart: Arc<dyn CartReader>,
        idempotency_wait: Duration,
    ) -> Self {
        Self {
            repo,
            cart,
            in_flight: Arc::new(InFlight::new(DUPLICATE_POLL)),
            idempotency_wait,
        }
    }

    /// Checkout: places an order from `user`'s cart once per idempotency `key`. A repeated
    /// key replays the first response; a concurrent one waits for the first to finish (up to
    /// the configured wait, then 409) — woken at once in this process, re-reading the store
    /// every 50 ms for a first request in another replica; a key reused with another body is
    /// refused (422).
    pub async fn place_order(
        &self,
        user: UserId,
        bearer: &str,
        key: &str,
        body: &[u8],
    ) -> Result<Placed, ApiError> {
        validate_idempotency_key(key)?;
        let (request, fingerprint) = parse_body(body)?;
        let slot: KeySlot = (user, key.to_owned());
        if let Some(earlier) = self.claim_or_wait(&slot, &fingerprint).await? {
            return earlier;
        }
        // The key is ours. Finish the work even if the client goes away, so the claim is
        // always completed or released.
        let this = self.clone();
        let bearer = bearer.to_owned();
        tokio::spawn(async move {
            let result = this
                .place_claimed(user, &slot.1, &bearer, request)
                .await
                .map(|response| Placed {
                    response,
                    replayed: false,
                });
            if result.is_err()
                && let Err(err) = this.repo.release(user, &slot.1).await
            {
                tracing::error!(error = %err, "could not release an idempotency key");
            }
            this.in_flight.finished(&slot);
            result
        })
        .await
        .map_err(ApiError::internal)?
    }

    /// Claims `slot` for this request (`None`), or says how to answer without doing the work:
    /// a replay, a mismatch, or still in progress after the wait.
    async fn claim_or_wait(
        &self,
        slot: &KeySlot,
        fingerprint: &str,
    ) -> Result<Option<Result<Placed, ApiError>>, ApiError> {
        let (user, key) = (slot.0, slot.1.as_str());
        let waited = self
            .in_flight
            .wait_for(slot, self.idempotency_wait, || async {
                Ok::<_, ApiError>(
                    match self
                        .repo
                        .claim(user, key, fingerprint)
                        .await
                        .map_err(storage)?
                    {
                        Claim::InProgress => Check::InProgress(()),
                        Claim::Claimed => Check::Done(None),
                        Claim::Completed(response) => Check::Done(Some(Ok(Placed {
                            response,
                            replayed: true,
                        }))),
                        Claim::Mismatch => Check::Done(Some(Err(ApiError::unprocessable(format!(
                            "Idempotency-Key `{key}` was already used with a different request body"
                        ))))),
                    },
                )
            })
            .await?;
        Ok(match waited {
            Waited::Done(outcome) => outcome,
            Waited::TimedOut(()) => Some(Err(ApiError::conflict(format!(
                "a request with Idempotency-Key `{key}` is still in progress; retry later"
            )))),
        })
    }

    /// Places the order for the claimed `key`: the order, its `order.created` and the
    /// response to replay for `key` are stored in one repository call.
    async fn place_claimed(
        &self,
        user: UserId,
        key: &str,
        bearer: &str,
        request: PlaceOrderRequest,
    ) -> Result<StoredResponse, ApiError> {
        let cart = self.cart.read_cart(bearer).await?;
        if cart.items.is_empty() {
            return Err(ApiError::unprocessable("the cart is empty"));
        }
        // The cart is priced at the catalogue's current terms; a line the catalogue no longer
        // sells on them is refused rather than charged at what it cost when it was added.
        unavailable_lines(&cart)?;
        let lines = cart
            .items
            .into_iter()
            .map(|item| OrderLine {
                product_id: item.product_id,
                quantity: item.quantity,
                unit_price: item.unit_price,
            })
            .collect();
        let order = Order::place(user, lines, now())
            .map_err(|err| ApiError::unprocessable(err.to_string()))?;
        if let Some(expected) = request.expected_total
            && expected != order.total
        {
            return Err(ApiError::unprocessable(format!(
                "the cart totals {} but {expected} was expected; review the cart",
                order.total
            )));
        }
        let created = OrderCreated {
            order_id: order.id,
            user_id: order.user_id,
            lines: order.lines.clone(),
            total: order.total,
        };
        let id = order.id;
        let response = StoredResponse {
            status: 202,
            body: serde_json::to_value(OrderAccepted {
                order_id: id,
                status: OrderStatus::Pending,
            })
            .map_err(ApiError::internal)?,
            location: Some(format!("/api/v1/orders/{id}")),
        };
        let completes = Completion {
            key: key.to_owned(),
            response: response.clone(),
        };
        self.repo
            .create(order, &[EventEnvelope::wrap(&created)], Some(completes))
            .await
            .map_err(storage)?;
        tracing::info!(order_id = %id, user_id = %user, "order placed");
        Ok(response)
    }

    /// The order, if `caller` may see it (its owner or an admin).
    pub async fn get_order(&self, caller: &Claims, id: OrderId) -> Result<Order, ApiError> {
        let order = self
            .repo
            .get(id)
            .await
            .map_err(storage)?
            .ok_or_else(|| ApiError::not_found(format!("order {id} not found")))?;
        if !caller.may_act_for(order.user_id) {
            return Err(ApiError::forbidden("this order belongs to another user"));
        }
        Ok(order)
    }

    /// One page of `user`'s orders, newest first.
    pub async fn list_orders(
        &self,
        user: UserId,
        page: u32,
        per_page: u32,
    ) -> Result<Page<Order>, ApiError> {
        self.repo
            .list_for_user(user, page, per_page)
            .await
            .map_err(storage)
    }

    /// Cancels the order for its owner or an admin; the repository records `order.cancelled`
    /// with the change, so inventory releases or restocks and payment refunds. Already
    /// cancelled → 409.
    pub async fn cancel_order(&self, caller: &Claims, id: OrderId) -> Result<Order, ApiError> {
        let order = self.get_order(caller, id).await?;
        if order.status == OrderStatus::Cancelled {
            return Err(ApiError::conflict(format!(
                "order {id} is already cancelled"
            )));
        }
        let cancelled = self
            .repo
            .transition(id, &OrderEvent::CancelledByCustomer, now(), None)
            .await
            .map_err(storage)?
            // Someone else cancelled it between the read and the transition.
            .ok_or_else(|| ApiError::conflict(format!("order {id} is already cancelled")))?;
        tracing::info!(order_id = %id, by = %caller.sub, "order cancelled");
        Ok(cancelled)
    }

    /// Applies a saga event to its order; the repository records what the new status means
    /// (`order.confirmed` or `order.cancelled`) in the same step. `delivered` is the id of the
    /// consumed event: a redelivery of it changes nothing. A no-op event records nothing; an
    /// unknown order or an illegal transition is an error.
    pub async fn apply_saga_event(
        &self,
        id: OrderId,
        event: &OrderEvent,
        delivered: Option<EventId>,
    ) -> Result<Option<Order>, RepositoryError> {
        let delivery = delivered.map(|event_id| Delivery {
            consumer: GROUP,
            event_id,
        });
        let Some(order) = self.repo.transition(id, event, now(), delivery).await? else {
            tracing::debug!(order_id = %id, event = event.name(), "no-op saga event");
            return Ok(None);
        };
        tracing::info!(order_id = %id, status = %order.status, "order status changed");
        Ok(Some(order))
    }
}

impl OrderService {
    /// Gives up every order still pending or reserved `timeout` after it was placed: each is
    /// cancelled with its `order.cancelled` (inventory releases the stock, payment refunds a
    /// charge, even one still at the provider). The transition re-reads the order under its
    /// lock, so an order confirmed meanwhile stays confirmed. Returns the orders it cancelled.
    pub async fn time_out_unsettled(
        &self,
        timeout: Duration,
    ) -> Result<Vec<Order>, RepositoryError> {
        let cutoff = now() - chrono::Duration::from_std(timeout).unwrap_or(chrono::Duration::MAX);
        let mut cancelled = Vec::new();
        for id in self.repo.unsettled_before(cutoff, TIMEOUT_BATCH).await? {
            if let Some(order) = self
                .repo
                .transition(id, &OrderEvent::TimedOut, now(), None)
                .await?
            {
                tracing::warn!(order_id = %id, ?timeout, "order timed out; cancelled");
                cancelled.push(order);
            }
        }
        Ok(cancelled)
    }

    /// Runs [`OrderService::time_out_unsettled`] for the life of the process, every tenth of
    /// `timeout` (between 1 and 30 s), so an order is given up at most that long after its
    /// time is up.
    pub fn spawn_timeouts(&self, timeout: Duration) {
        let service = self.clone();
        let every = (timeout / 10).clamp(Duration::from_secs(1), Duration::from_secs(30));
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                if let Err(err) = service.time_out_unsettled(timeout).await {
                    tracing::warn!(error = %err, "timing out unsettled orders failed; trying again");
                }
            }
        });
    }
}

/// Orders one timeout pass gives up at most (the next pass takes the rest).
const TIMEOUT_BATCH: u32 = 500;

/// The current time, to the microsecond (what `PostgreSQL` keeps).
fn now() -> chrono::DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idempotency_keys_are_bounded_visible_ascii() {
        assert!(validate_idempotency_key("checkout-1").is_ok());
        assert!(validate_idempotency_key(&"k".repeat(255)).is_ok());
        assert!(validate_idempotency_key("").is_err());
        assert!(validate_idempotency_key(&"k".repeat(256)).is_err());
        assert!(validate_idempotency_key("has space").is_err());
    }

    #[test]
    fn equal_bodies_share_a_fingerprint_whatever_their_formatting() {
        let total = r#"{"amount_minor":100,"currency":"USD"}"#;
        let (_, a) = parse_body(format!(r#"{{"expected_total": {total}}}"#).as_bytes()).unwrap();
        let (_, b) =
            parse_body(br#"{ "expected_total" : { "currency":"USD", "amount_minor":100 } }"#)
                .unwrap();
        let (_, empty) = parse_body(b"").unwrap();
        let (_, braces) = parse_body(b"{}").unwrap();
        assert_eq!(a, b);
        assert_eq!(empty, braces);
        assert_ne!(a, empty);
        assert_eq!(a.len(), 64);
    }

    #[test]
    fn a_body_that_is_not_an_order_request_is_refused() {
        assert_eq!(parse_body(b"{").unwrap_err().status.as_u16(), 400);
        assert_eq!(
            parse_body(br#"{"surprise":1}"#)
                .unwrap_err()
                .status
                .as_u16(),
            422
        );
        assert_eq!(parse_body(b"[]").unwrap_err().status.as_u16(), 422);
    }

    #[test]
    fn a_line_without_a_status_is_available_and_an_unknown_status_is_not() {
        let product = ProductId::new();
        let line = |status: &str| {
            format!(
                r#"{{"product_id":"{product}","quantity":1,"unit_price":{{"amount_minor":5,"currency":"USD"}}{status}}}"#
            )
        };
        let read = |json: String| serde_json::from_str::<CartItem>(&json).unwrap().status;
        assert_eq!(read(line("")), LineStatus::Available);
        assert_eq!(
            read(line(r#","status":"discontinued""#)),
            LineStatus::Discontinued
        );
        assert_eq!(
            read(line(r#","status":"recalled""#)),
            LineStatus::Unavailable
        );
        assert!(LineStatus::Unavailable.refusal().is_some());
    }

    #[test]
    fn the_cart_is_read_whether_cart_service_says_items_or_lines() {
        let product = ProductId::new();
        let json = format!(
            r#"{{"user_id":"x","lines":[{{"product_id":"{product}","quantity":2,"price":{{"amount_minor":5,"currency":"USD"}}}}]}}"#
        );
        let cart: Cart = serde_json::from_str(&json).unwrap();
        assert_eq!(cart.items.len(), 1);
        assert_eq!(cart.items[0].product_id, product);
        assert_eq!(cart.items[0].unit_price.amount_minor, 5);
    }
}
