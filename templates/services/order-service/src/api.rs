//! HTTP API of the order service under `/api/v1/orders`.

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRef, Path, Query, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use platform::ApiError;
use platform::auth::{AuthUser, JwtKeys};
use serde::Deserialize;
use shared_types::{OrderId, Page};

use crate::models::Order;
use crate::service::{OrderService, Placed};

/// The request header carrying the client's idempotency key.
pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
/// The response header marking a replayed response.
pub const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    pub service: OrderService,
    pub keys: JwtKeys,
    /// Largest `per_page` a listing honours.
    pub max_page_size: u32,
}

impl FromRef<AppState> for JwtKeys {
    fn from_ref(state: &AppState) -> Self {
        state.keys.clone()
    }
}

/// The routes of the order service.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/v1/orders", post(place_order).get(list_orders))
        .route("/api/v1/orders/{id}", get(get_order))
        .route("/api/v1/orders/{id}/cancel", post(cancel_order))
        .with_state(state)
}

fn parse_id(raw: &str) -> Result<OrderId, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::bad_request(format!("`{raw}` is not an order id")))
}

/// `POST /api/v1/orders`: checkout from the caller's cart, once per `Idempotency-Key`.
async fn place_order(
    State(state): State<AppState>,
    user: AuthUser,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let key = headers
        .get(&IDEMPOTENCY_KEY)
        .ok_or_else(|| ApiError::bad_request("header `Idempotency-Key` is required"))?
        .to_str()
        .map_err(|_| ApiError::bad_request("header `Idempotency-Key` must be visible ASCII"))?;
    let Placed { response, replayed } = state
        .service
        .place_order(user.claims.sub, &user.token, key, &body)
        .await?;
    let status = StatusCode::from_u16(response.status).map_err(ApiError::internal)?;
    let mut out = (status, Json(response.body)).into_response();
    if let Some(location) = response.location {
        out.headers_mut().insert(
            header::LOCATION,
            HeaderValue::from_str(&location).map_err(ApiError::internal)?,
        );
    }
    if replayed {
        out.headers_mut()
            .insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    }
    Ok(out)
}

/// Query of a listing.
#[derive(Debug, Deserialize)]
struct PageQuery {
    page: Option<u32>,
    per_page: Option<u32>,
}

/// `GET /api/v1/orders`: the caller's orders, newest first.
async fn list_orders(
    State(state): State<AppState>,
    user: AuthUser,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<Page<Order>>, ApiError> {
    let Query(query) = query.map_err(|err| ApiError::bad_request(err.body_text()))?;
    let per_page = query.per_page.unwrap_or(20);
    if per_page == 0 || per_page > state.max_page_size {
        return Err(ApiError::bad_request(format!(
            "per_page must be between 1 and {}",
            state.max_page_size
        )));
    }
    let page = query.page.unwrap_or(1).max(1);
    Ok(Json(
        state
            .service
            .list_orders(user.claims.sub, page, per_page)
            .await?,
    ))
}

/// `GET /api/v1/orders/{id}`: one order with its status history (owner or admin).
async fn get_order(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<Order>, ApiError> {
    let id = parse_id(&id)?;
    Ok(Json(state.service.get_order(&user.claims, id).await?))
}

/// `POST /api/v1/orders/{id}/cancel`: cancels the order (owner or admin).
async fn cancel_order(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<Order>, ApiError> {
    let id = parse_id(&id)?;
    Ok(Json(state.service.cancel_order(&user.claims, id).await?))
}
