//! HTTP API under `/api/v1/cart`. Every route acts on the cart of the bearer token's user.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRef, Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use platform::ApiError;
use platform::auth::{AuthUser, JwtKeys};
use serde::Deserialize;
use shared_types::ProductId;

use crate::models::CartView;
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

/// The cart routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/v1/cart", get(cart).delete(clear))
        .route("/api/v1/cart/items", post(add_item))
        .route(
            "/api/v1/cart/items/{product_id}",
            put(set_quantity).delete(remove_item),
        )
        .with_state(state)
}

/// Body of `POST /api/v1/cart/items`.
#[derive(Debug, Deserialize)]
pub struct AddItem {
    pub product_id: ProductId,
    pub quantity: u32,
}

/// Body of `PUT /api/v1/cart/items/{product_id}`.
#[derive(Debug, Deserialize)]
pub struct SetQuantity {
    pub quantity: u32,
}

fn product_id(raw: &str) -> Result<ProductId, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::bad_request(format!("`{raw}` is not a valid product id")))
}

async fn cart(State(state): State<AppState>, user: AuthUser) -> Result<Json<CartView>, ApiError> {
    Ok(Json(state.service.cart(user.claims.sub).await?))
}

async fn clear(State(state): State<AppState>, user: AuthUser) -> Result<StatusCode, ApiError> {
    state.service.clear(user.claims.sub).await?;
    Ok(StatusCode::NO_CONTENT)
}

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

async fn set_quantity(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    body: Result<Json<SetQuantity>, JsonRejection>,
) -> Result<Json<CartView>, ApiError> {
    let id = product_id(&id)?;
    let Json(body) = body?;
    Ok(Json(
        state
            .service
            .set_quantity(user.claims.sub, id, body.quantity)
            .await?,
    ))
}

async fn remove_item(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<CartView>, ApiError> {
    let id = product_id(&id)?;
    Ok(Json(state.service.remove_item(user.claims.sub, id).await?))
}
