//! HTTP API under `/api/v1/cart`. Every route acts on the cart of the bearer token's user.

use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{FromRef, Path, State};
use axum::http::StatusCode;
use axum::{Json, Router};
use platform::auth::{AuthUser, JwtKeys};
use platform::error::Problem;
use platform::{ApiError, PROBLEM_JSON};
use serde::Deserialize;
use shared_types::ProductId;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::models::{CartView, MAX_LINE_QUANTITY};
use crate::service::CartService;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    pub service: CartService,
    pub keys: JwtKeys,
}

impl FromRef<AppState> for JwtKeys {
    fn from_ref(state: &AppState) -> Self {
        state.keys.clone()
    }
}

/// The routes, each with its part of the API document: the router and the document are
/// made from this one list, so they cannot disagree.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(cart, clear))
        .routes(routes!(add_item))
        .routes(routes!(set_quantity, remove_item))
}

/// The cart routes.
pub fn router(state: AppState) -> Router {
    let (router, _) = routes().split_for_parts();
    router.with_state(state)
}

/// The service's part of the API document.
#[must_use]
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes().into_openapi()
}

/// Body of `POST /api/v1/cart/items`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct AddItem {
    pub product_id: ProductId,
    /// Units to add to the line (the line holds 1 to 99).
    #[schema(minimum = 1, maximum = 99)]
    pub quantity: u32,
}

/// Body of `PUT /api/v1/cart/items/{product_id}`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SetQuantity {
    /// The line's new quantity (0 removes it).
    #[schema(minimum = 0, maximum = 99)]
    pub quantity: u32,
}

// utoipa takes only literals as bounds: the document's must be the code's.
const _: () = assert!(MAX_LINE_QUANTITY == 99);

fn product_id(raw: &str) -> Result<ProductId, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::bad_request(format!("`{raw}` is not a valid product id")))
}

/// The caller's cart with its totals, each line at the product's current price; a line whose
/// product was taken off sale (or is now priced in another currency) is marked in its `status`
/// and left out of the total, and checkout refuses the cart until it is removed.
#[utoipa::path(
    get,
    path = "/api/v1/cart",
    operation_id = "get_cart",
    tag = "cart",
    security(("bearer" = [])),
    responses((status = OK, description = "The cart (empty if never used)", body = CartView))
)]
async fn cart(State(state): State<AppState>, user: AuthUser) -> Result<Json<CartView>, ApiError> {
    Ok(Json(state.service.cart(user.claims.sub).await?))
}

/// Empties the caller's cart.
#[utoipa::path(
    delete,
    path = "/api/v1/cart",
    operation_id = "clear_cart",
    tag = "cart",
    security(("bearer" = [])),
    responses((status = NO_CONTENT, description = "The cart is empty"))
)]
async fn clear(State(state): State<AppState>, user: AuthUser) -> Result<StatusCode, ApiError> {
    state.service.clear(user.claims.sub).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Adds units of an active product to the caller's cart, at its current price.
#[utoipa::path(
    post,
    path = "/api/v1/cart/items",
    operation_id = "add_cart_item",
    tag = "cart",
    request_body = AddItem,
    security(("bearer" = [])),
    responses(
        (status = OK, description = "The cart", body = CartView),
        (status = BAD_REQUEST, description = "The body is not JSON", body = Problem, content_type = PROBLEM_JSON),
        (status = NOT_FOUND, description = "No such product", body = Problem, content_type = PROBLEM_JSON),
        (status = UNPROCESSABLE_ENTITY, description = "Bad quantity, inactive product or other currency", body = Problem, content_type = PROBLEM_JSON),
    )
)]
async fn add_item(
    State(state): State<AppState>,
    user: AuthUser,
    body: Result<Json<AddItem>, JsonRejection>,
) -> Result<Json<CartView>, ApiError> {
    let Json(body) = body?;
    Ok(Json(
        state
            .service
            .add_item(user.claims.sub, body.product_id, body.quantity)
            .await?,
    ))
}

/// Sets the quantity of a line of the caller's cart; 0 removes it.
#[utoipa::path(
    put,
    path = "/api/v1/cart/items/{product_id}",
    operation_id = "set_cart_item_quantity",
    tag = "cart",
    params(("product_id" = ProductId, Path, description = "The product of the line")),
    request_body = SetQuantity,
    security(("bearer" = [])),
    responses(
        (status = OK, description = "The cart", body = CartView),
        (status = BAD_REQUEST, description = "`product_id` is not a product id, or the body is not JSON", body = Problem, content_type = PROBLEM_JSON),
        (status = NOT_FOUND, description = "The product is not in the cart", body = Problem, content_type = PROBLEM_JSON),
        (status = UNPROCESSABLE_ENTITY, description = "The quantity is out of range", body = Problem, content_type = PROBLEM_JSON),
    )
)]
async fn set_quantity(
    State(state): State<AppState>,
    user: AuthUser,
    id: Result<Path<String>, PathRejection>,
    body: Result<Json<SetQuantity>, JsonRejection>,
) -> Result<Json<CartView>, ApiError> {
    let Path(id) = id?;
    let id = product_id(&id)?;
    let Json(body) = body?;
    Ok(Json(
        state
            .service
            .set_quantity(user.claims.sub, id, body.quantity)
            .await?,
    ))
}

/// Removes a line from the caller's cart.
#[utoipa::path(
    delete,
    path = "/api/v1/cart/items/{product_id}",
    operation_id = "remove_cart_item",
    tag = "cart",
    params(("product_id" = ProductId, Path, description = "The product of the line")),
    security(("bearer" = [])),
    responses(
        (status = OK, description = "The cart", body = CartView),
        (status = BAD_REQUEST, description = "`product_id` is not a product id", body = Problem, content_type = PROBLEM_JSON),
        (status = NOT_FOUND, description = "The product is not in the cart", body = Problem, content_type = PROBLEM_JSON),
    )
)]
async fn remove_item(
    State(state): State<AppState>,
    user: AuthUser,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<CartView>, ApiError> {
    let Path(id) = id?;
    let id = product_id(&id)?;
    Ok(Json(state.service.remove_item(user.claims.sub, id).await?))
}
