//! HTTP API under `/api/v1/products`: browsing is public, changes need an admin token.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRef, Path, Query, State};
use axum::http::StatusCode;
use axum::{Json, Router};
use platform::auth::{AuthUser, JwtKeys};
use platform::error::Problem;
use platform::{ApiError, PROBLEM_JSON};
use serde::Deserialize;
use shared_types::{Page, ProductId};
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::models::{MAX_PER_PAGE, NewProduct, PageRequest, Product, ProductPatch};
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

/// The routes, each with its part of the API document: the router and the document are
/// made from this one list, so they cannot disagree.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(list, create))
        .routes(routes!(search))
        .routes(routes!(product, update))
}

/// The product routes.
pub fn router(state: AppState) -> Router {
    let (router, _) = routes().split_for_parts();
    router.with_state(state)
}

/// The service's part of the API document.
#[must_use]
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes().into_openapi()
}

/// Query of the listing.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// The page, from 1 (default 1).
    // Any u32; utoipa would document it as an int32, whose range is narrower.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 4_294_967_295_i64)]
    pub page: Option<u32>,
    /// Products per page (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub per_page: Option<u32>,
    /// Only products of this category.
    pub category: Option<String>,
}

/// Query of the search.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// Words to find in the name or description; must not be blank.
    #[serde(default)]
    #[param(required = true, min_length = 1, pattern = r"\S")]
    pub q: String,
    /// The page, from 1 (default 1).
    // Any u32; utoipa would document it as an int32, whose range is narrower.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 4_294_967_295_i64)]
    pub page: Option<u32>,
    /// Products per page (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub per_page: Option<u32>,
}

// utoipa takes only literals as bounds: the document's must be the code's.
const _: () = assert!(MAX_PER_PAGE == 100);

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

/// The active products, by name, optionally of one category.
#[utoipa::path(
    get,
    path = "/api/v1/products",
    operation_id = "list_products",
    tag = "products",
    params(ListParams),
    responses(
        (status = OK, description = "One page of products", body = Page<Product>),
        (status = BAD_REQUEST, description = "A query parameter is invalid", body = Problem, content_type = PROBLEM_JSON),
    )
)]
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

/// Active products whose name or description matches `q`.
#[utoipa::path(
    get,
    path = "/api/v1/products/search",
    operation_id = "search_products",
    tag = "products",
    params(SearchParams),
    responses(
        (status = OK, description = "One page of matches", body = Page<Product>),
        (status = BAD_REQUEST, description = "`q` is empty or a query parameter is invalid", body = Problem, content_type = PROBLEM_JSON),
    )
)]
async fn search(
    State(state): State<AppState>,
    params: Result<Query<SearchParams>, QueryRejection>,
) -> Result<Json<Page<Product>>, ApiError> {
    let params = query(params)?;
    let page = page(params.page, params.per_page)?;
    Ok(Json(state.service.search(&params.q, page).await?))
}

/// One product with its current stock.
#[utoipa::path(
    get,
    path = "/api/v1/products/{id}",
    operation_id = "get_product",
    tag = "products",
    params(("id" = ProductId, Path, description = "The product")),
    responses(
        (status = OK, description = "The product", body = ProductDetail),
        (status = BAD_REQUEST, description = "`id` is not a product id", body = Problem, content_type = PROBLEM_JSON),
        (status = NOT_FOUND, description = "No such product", body = Problem, content_type = PROBLEM_JSON),
    )
)]
async fn product(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<ProductDetail>, ApiError> {
    let Path(id) = id?;
    Ok(Json(state.service.get(product_id(&id)?).await?))
}

/// Adds a product to the catalogue (admin).
#[utoipa::path(
    post,
    path = "/api/v1/products",
    operation_id = "create_product",
    tag = "products",
    request_body = NewProduct,
    security(("bearer" = [])),
    responses(
        (status = CREATED, description = "The new product", body = Product),
        (status = BAD_REQUEST, description = "The body is not JSON", body = Problem, content_type = PROBLEM_JSON),
        (status = FORBIDDEN, description = "The caller is no admin", body = Problem, content_type = PROBLEM_JSON),
        (status = UNPROCESSABLE_ENTITY, description = "A field is invalid", body = Problem, content_type = PROBLEM_JSON),
    )
)]
async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    body: Result<Json<NewProduct>, JsonRejection>,
) -> Result<(StatusCode, Json<Product>), ApiError> {
    user.require_admin()?;
    let Json(new) = body?;
    Ok((StatusCode::CREATED, Json(state.service.create(new).await?)))
}

/// Changes the given fields of a product (admin).
#[utoipa::path(
    patch,
    path = "/api/v1/products/{id}",
    operation_id = "update_product",
    tag = "products",
    params(("id" = ProductId, Path, description = "The product")),
    request_body = ProductPatch,
    security(("bearer" = [])),
    responses(
        (status = OK, description = "The changed product", body = Product),
        (status = BAD_REQUEST, description = "`id` is not a product id, or the body is not JSON", body = Problem, content_type = PROBLEM_JSON),
        (status = FORBIDDEN, description = "The caller is no admin", body = Problem, content_type = PROBLEM_JSON),
        (status = NOT_FOUND, description = "No such product", body = Problem, content_type = PROBLEM_JSON),
        (status = UNPROCESSABLE_ENTITY, description = "A field is invalid", body = Problem, content_type = PROBLEM_JSON),
    )
)]
async fn update(
    State(state): State<AppState>,
    user: AuthUser,
    id: Result<Path<String>, PathRejection>,
    body: Result<Json<ProductPatch>, JsonRejection>,
) -> Result<Json<Product>, ApiError> {
    user.require_admin()?;
    let Path(id) = id?;
    let id = product_id(&id)?;
    let Json(patch) = body?;
    Ok(Json(state.service.update(id, patch).await?))
}
