//! HTTP API under `/api/v1/products`: browsing is public, changes need an admin token.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRef, Path, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use platform::ApiError;
use platform::auth::{AuthUser, JwtKeys};
use serde::Deserialize;
use shared_types::{Page, ProductId};

use crate::models::{NewProduct, PageRequest, Product, ProductPatch};
use crate::service::{ProductDetail, ProductService};

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    pub service: ProductService,
    pub keys: JwtKeys,
}

impl FromRef<AppState> for JwtKeys {
    fn from_ref(state: &AppState) -> Self {
        state.keys.clone()
    }
}

/// The product routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/v1/products", get(list).post(create))
        .route("/api/v1/products/search", get(search))
        .route("/api/v1/products/{id}", get(product).patch(update))
        .with_state(state)
}

/// Query of the listing.
#[derive(Debug, Deserialize)]
pub struct ListParams {
    pub page: Option<u32>,
    pub per_page: Option<u32>,
    pub category: Option<String>,
}

/// Query of the search.
#[derive(Debug, Deserialize)]
pub struct SearchParams {
    #[serde(default)]
    pub q: String,
    pub page: Option<u32>,
    pub per_page: Option<u32>,
}

fn query<T>(params: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    params
        .map(|Query(params)| params)
        .map_err(|rejection| ApiError::bad_request(rejection.body_text()))
}

fn page(page: Option<u32>, per_page: Option<u32>) -> Result<PageRequest, ApiError> {
    PageRequest::new(page, per_page).map_err(ApiError::bad_request)
}

fn product_id(raw: &str) -> Result<ProductId, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::bad_request(format!("`{raw}` is not a valid product id")))
}

async fn list(
    State(state): State<AppState>,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<Page<Product>>, ApiError> {
    let params = query(params)?;
    let page = page(params.page, params.per_page)?;
    Ok(Json(
        state.service.list(params.category.as_deref(), page).await?,
    ))
}

async fn search(
    State(state): State<AppState>,
    params: Result<Query<SearchParams>, QueryRejection>,
) -> Result<Json<Page<Product>>, ApiError> {
    let params = query(params)?;
    let page = page(params.page, params.per_page)?;
    Ok(Json(state.service.search(&params.q, page).await?))
}

async fn product(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ProductDetail>, ApiError> {
    Ok(Json(state.service.get(product_id(&id)?).await?))
}

async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    body: Result<Json<NewProduct>, JsonRejection>,
) -> Result<(StatusCode, Json<Product>), ApiError> {
    user.require_admin()?;
    let Json(new) = body?;
    Ok((StatusCode::CREATED, Json(state.service.create(new).await?)))
}

async fn update(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    body: Result<Json<ProductPatch>, JsonRejection>,
) -> Result<Json<Product>, ApiError> {
    user.require_admin()?;
    let id = product_id(&id)?;
    let Json(patch) = body?;
    Ok(Json(state.service.update(id, patch).await?))
}
