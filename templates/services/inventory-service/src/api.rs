//! HTTP API under `/api/v1/inventory`. Reading stock is public (the catalogue shows it);
//! changing stock and the reservation routes (for operations; the saga uses events) need an
//! admin token.

use std::str::FromStr;

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRef, Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use platform::ApiError;
use platform::auth::{AuthUser, JwtKeys};
use serde::{Deserialize, Serialize};
use shared_types::{OrderId, ProductId};

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

/// The inventory routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/v1/inventory/reservations", post(reserve))
        .route(
            "/api/v1/inventory/reservations/{order_id}",
            get(reservation),
        )
        .route(
            "/api/v1/inventory/reservations/{order_id}/release",
            post(release),
        )
        .route("/api/v1/inventory/{product_id}", get(stock).put(set_stock))
        .with_state(state)
}

fn parse_id<T: FromStr>(raw: &str, what: &str) -> Result<T, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::bad_request(format!("`{raw}` is not a valid {what}")))
}

/// Body of `PUT /api/v1/inventory/{product_id}`.
#[derive(Debug, Deserialize)]
pub struct SetStock {
    /// Signed so that a negative count is reported as such rather than as a type error.
    pub available: i64,
}

/// Body of `POST /api/v1/inventory/reservations`.
#[derive(Debug, Deserialize)]
pub struct ReserveRequest {
    pub order_id: OrderId,
    pub lines: Vec<ReservationLine>,
}

/// Answer of a release: whether stock came back, and the reservation if there is one.
#[derive(Debug, Serialize)]
pub struct ReleaseResponse {
    pub order_id: OrderId,
    pub released: bool,
    pub reservation: Option<Reservation>,
}

async fn stock(
    State(state): State<AppState>,
    Path(product_id): Path<String>,
) -> Result<Json<StockLevel>, ApiError> {
    let product_id: ProductId = parse_id(&product_id, "product id")?;
    Ok(Json(state.service.stock(product_id).await?))
}

async fn set_stock(
    State(state): State<AppState>,
    user: AuthUser,
    Path(product_id): Path<String>,
    body: Result<Json<SetStock>, JsonRejection>,
) -> Result<Json<StockLevel>, ApiError> {
    user.require_admin()?;
    let product_id: ProductId = parse_id(&product_id, "product id")?;
    let Json(body) = body?;
    Ok(Json(
        state
            .service
            .set_available(product_id, body.available)
            .await?,
    ))
}

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

async fn reservation(
    State(state): State<AppState>,
    user: AuthUser,
    Path(order_id): Path<String>,
) -> Result<Json<Reservation>, ApiError> {
    user.require_admin()?;
    let order_id: OrderId = parse_id(&order_id, "order id")?;
    Ok(Json(state.service.reservation(order_id).await?))
}

async fn release(
    State(state): State<AppState>,
    user: AuthUser,
    Path(order_id): Path<String>,
) -> Result<Json<ReleaseResponse>, ApiError> {
    user.require_admin()?;
    let order_id: OrderId = parse_id(&order_id, "order id")?;
    let outcome = state.service.release(order_id).await?;
    Ok(Json(ReleaseResponse {
        order_id,
        released: outcome.released_something(),
        reservation: outcome.reservation().cloned(),
    }))
}
