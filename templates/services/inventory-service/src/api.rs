//! HTTP API under `/api/v1/inventory`. Reading stock is public (the catalogue shows it);
//! changing stock and the reservation routes (for operations; the saga uses events) need an
//! admin token.

use std::str::FromStr;

use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{FromRef, Path, State};
use axum::http::StatusCode;
use axum::{Json, Router};
use platform::auth::{AuthUser, JwtKeys};
use platform::error::Problem;
use platform::{ApiError, PROBLEM_JSON};
use serde::{Deserialize, Serialize};
use shared_types::{OrderId, ProductId};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::models::{Reservation, ReservationLine, StockLevel};
use crate::service::InventoryService;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    pub service: InventoryService,
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
        .routes(routes!(reserve))
        .routes(routes!(reservation))
        .routes(routes!(release))
        .routes(routes!(stock, set_stock))
}

/// The inventory routes.
pub fn router(state: AppState) -> Router {
    let (router, _) = routes().split_for_parts();
    router.with_state(state)
}

/// The service's part of the API document.
#[must_use]
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes().into_openapi()
}

fn parse_id<T: FromStr>(raw: &str, what: &str) -> Result<T, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::bad_request(format!("`{raw}` is not a valid {what}")))
}

/// Body of `PUT /api/v1/inventory/{product_id}`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SetStock {
    /// Signed so that a negative count is reported as such rather than as a type error; at
    /// most `u32::MAX`.
    #[schema(minimum = 0, maximum = 4_294_967_295_i64)]
    pub available: i64,
}

/// Body of `POST /api/v1/inventory/reservations`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ReserveRequest {
    pub order_id: OrderId,
    /// Lines for the same product are added up.
    #[schema(min_items = 1)]
    pub lines: Vec<ReservationLine>,
}

/// Answer of a release: whether stock came back, and the reservation if there is one.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReleaseResponse {
    pub order_id: OrderId,
    pub released: bool,
    #[schema(required = true)]
    pub reservation: Option<Reservation>,
}

/// The stock of a product.
#[utoipa::path(
    get,
    path = "/api/v1/inventory/{product_id}",
    operation_id = "get_stock",
    tag = "inventory",
    params(("product_id" = ProductId, Path, description = "The product")),
    responses(
        (status = OK, description = "Units available and reserved", body = StockLevel),
        (status = BAD_REQUEST, description = "`product_id` is not a product id", body = Problem, content_type = PROBLEM_JSON),
        (status = NOT_FOUND, description = "No stock is kept for the product", body = Problem, content_type = PROBLEM_JSON),
    )
)]
async fn stock(
    State(state): State<AppState>,
    product_id: Result<Path<String>, PathRejection>,
) -> Result<Json<StockLevel>, ApiError> {
    let Path(product_id) = product_id?;
    let product_id: ProductId = parse_id(&product_id, "product id")?;
    Ok(Json(state.service.stock(product_id).await?))
}

/// Sets the units of a product free to sell (admin).
#[utoipa::path(
    put,
    path = "/api/v1/inventory/{product_id}",
    tag = "inventory",
    params(("product_id" = ProductId, Path, description = "The product")),
    request_body = SetStock,
    security(("bearer" = [])),
    responses(
        (status = OK, description = "The new stock level", body = StockLevel),
        (status = BAD_REQUEST, description = "`product_id` is not a product id, or the body is not JSON", body = Problem, content_type = PROBLEM_JSON),
        (status = FORBIDDEN, description = "The caller is no admin", body = Problem, content_type = PROBLEM_JSON),
        (status = UNPROCESSABLE_ENTITY, description = "The count is negative or too large", body = Problem, content_type = PROBLEM_JSON),
    )
)]
async fn set_stock(
    State(state): State<AppState>,
    user: AuthUser,
    product_id: Result<Path<String>, PathRejection>,
    body: Result<Json<SetStock>, JsonRejection>,
) -> Result<Json<StockLevel>, ApiError> {
    user.require_admin()?;
    let Path(product_id) = product_id?;
    let product_id: ProductId = parse_id(&product_id, "product id")?;
    let Json(body) = body?;
    Ok(Json(
        state
            .service
            .set_available(product_id, body.available)
            .await?,
    ))
}

/// Holds stock for an order, all lines or none (admin).
///
/// The checkout saga reserves through events; this route is for operations.
#[utoipa::path(
    post,
    path = "/api/v1/inventory/reservations",
    operation_id = "reserve_stock",
    tag = "inventory",
    request_body = ReserveRequest,
    security(("bearer" = [])),
    responses(
        (status = CREATED, description = "The reservation", body = Reservation),
        (status = BAD_REQUEST, description = "The body is not JSON", body = Problem, content_type = PROBLEM_JSON),
        (status = FORBIDDEN, description = "The caller is no admin", body = Problem, content_type = PROBLEM_JSON),
        (status = CONFLICT, description = "A line lacks stock, or the order was cancelled", body = Problem, content_type = PROBLEM_JSON),
        (status = UNPROCESSABLE_ENTITY, description = "No lines, or a quantity is 0 or too large", body = Problem, content_type = PROBLEM_JSON),
    )
)]
async fn reserve(
    State(state): State<AppState>,
    user: AuthUser,
    body: Result<Json<ReserveRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<Reservation>), ApiError> {
    user.require_admin()?;
    let Json(body) = body?;
    let reservation = state.service.reserve(body.order_id, body.lines).await?;
    Ok((StatusCode::CREATED, Json(reservation)))
}

/// The reservation of an order (admin).
#[utoipa::path(
    get,
    path = "/api/v1/inventory/reservations/{order_id}",
    operation_id = "get_reservation",
    tag = "inventory",
    params(("order_id" = OrderId, Path, description = "The order")),
    security(("bearer" = [])),
    responses(
        (status = OK, description = "The reservation", body = Reservation),
        (status = BAD_REQUEST, description = "`order_id` is not an order id", body = Problem, content_type = PROBLEM_JSON),
        (status = FORBIDDEN, description = "The caller is no admin", body = Problem, content_type = PROBLEM_JSON),
        (status = NOT_FOUND, description = "No reservation for the order", body = Problem, content_type = PROBLEM_JSON),
    )
)]
async fn reservation(
    State(state): State<AppState>,
    user: AuthUser,
    order_id: Result<Path<String>, PathRejection>,
) -> Result<Json<Reservation>, ApiError> {
    user.require_admin()?;
    let Path(order_id) = order_id?;
    let order_id: OrderId = parse_id(&order_id, "order id")?;
    Ok(Json(state.service.reservation(order_id).await?))
}

/// Gives back the stock held or sold for an order (admin); releasing again changes nothing.
#[utoipa::path(
    post,
    path = "/api/v1/inventory/reservations/{order_id}/release",
    operation_id = "release_reservation",
    tag = "inventory",
    params(("order_id" = OrderId, Path, description = "The order")),
    security(("bearer" = [])),
    responses(
        (status = OK, description = "What the release did", body = ReleaseResponse),
        (status = BAD_REQUEST, description = "`order_id` is not an order id", body = Problem, content_type = PROBLEM_JSON),
        (status = FORBIDDEN, description = "The caller is no admin", body = Problem, content_type = PROBLEM_JSON),
    )
)]
async fn release(
    State(state): State<AppState>,
    user: AuthUser,
    order_id: Result<Path<String>, PathRejection>,
) -> Result<Json<ReleaseResponse>, ApiError> {
    user.require_admin()?;
    let Path(order_id) = order_id?;
    let order_id: OrderId = parse_id(&order_id, "order id")?;
    let outcome = state.service.release(order_id).await?;
    Ok(Json(ReleaseResponse {
        order_id,
        released: outcome.released_something(),
        reservation: outcome.reservation().cloned(),
    }))
}
