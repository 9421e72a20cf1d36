//! HTTP API of the order service under `/api/v1/orders`.

use axum::body::Bytes;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{FromRef, Path, Query, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use platform::auth::{AuthUser, JwtKeys};
use platform::error::Problem;
use platform::{ApiError, PROBLEM_JSON};
use serde::Deserialize;
use shared_types::{OrderId, Page};
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::models::Order;
use crate::service::{OrderAccepted, OrderService, PlaceOrderRequest, Placed};

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

/// The routes, each with its part of the API document: the router and the document are
/// made from this one list, so they cannot disagree.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(place_order, list_orders))
        .routes(routes!(get_order))
        .routes(routes!(cancel_order))
}

/// The routes of the order service.
pub fn router(state: AppState) -> Router {
    let (router, _) = routes().split_for_parts();
    router.with_state(state)
}

/// The service's part of the API document.
#[must_use]
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = routes().into_openapi();
    // A checkout's body may be left out (`#[utoipa::path]` would call it required, or allow
    // `null`, which is refused).
    if let Some(body) = doc
        .paths
        .paths
        .get_mut("/api/v1/orders")
        .and_then(|item| item.post.as_mut())
        .and_then(|operation| operation.request_body.as_mut())
    {
        body.required = Some(utoipa::openapi::Required::False);
    }
    doc
}

fn parse_id(raw: &str) -> Result<OrderId, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::bad_request(format!("`{raw}` is not an order id")))
}

/// Checkout from the caller's cart, once per `Idempotency-Key`.
#[utoipa::path(
    post,
    path = "/api/v1/orders",
    tag = "orders",
    description = "Checks out the caller's cart: the order is created `pending` and the checkout \
        saga reserves stock and charges the payment. A repeated `Idempotency-Key` with the same \
        body gets the first answer again, marked `Idempotent-Replayed: true`.",
    params(
        ("Idempotency-Key" = String, Header, min_length = 1, max_length = 255, pattern = "^[!-~]+$",
            description = "Makes a retried checkout place one order; 1 to 255 visible ASCII characters"),
    ),
    request_body(content = PlaceOrderRequest, description = "Optional: the total the customer saw"),
    security(("bearer" = [])),
    responses(
        (status = ACCEPTED, description = "The order is placed and the saga runs", body = OrderAccepted,
            headers(
                ("Location" = String, description = "The order's URL"),
                ("Idempotent-Replayed" = String, description = "`true` when this answers an earlier request with the same key"),
            )),
        (status = BAD_REQUEST, description = "No or a bad `Idempotency-Key`, or the body is not JSON", body = Problem, content_type = PROBLEM_JSON),
        (status = CONFLICT, description = "A request with the same key is still in progress", body = Problem, content_type = PROBLEM_JSON),
        (status = UNPROCESSABLE_ENTITY, description = "The cart is empty, totals other than expected, or the key was used with another body", body = Problem, content_type = PROBLEM_JSON),
    )
)]
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
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct PageQuery {
    /// The page, from 1 (default 1; 0 is taken as 1).
    // Any u32; utoipa would document it as an int32, whose range is narrower.
    #[param(value_type = Option<i64>, minimum = 0, maximum = 4_294_967_295_i64)]
    page: Option<u32>,
    /// Orders per page (default 20, at most `ORDER_SERVICE_MAX_PAGE_SIZE`, 100 unless changed).
    #[param(minimum = 1, maximum = 100)]
    per_page: Option<u32>,
}

// utoipa takes only literals as bounds: the document's must be the code's.
const _: () = assert!(crate::config::DEFAULT_MAX_PAGE_SIZE == 100);
const _: () = assert!(crate::service::MAX_IDEMPOTENCY_KEY_LEN == 255);

/// The caller's orders, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/orders",
    tag = "orders",
    params(PageQuery),
    security(("bearer" = [])),
    responses(
        (status = OK, description = "One page of the caller's orders", body = Page<Order>),
        (status = BAD_REQUEST, description = "A query parameter is invalid", body = Problem, content_type = PROBLEM_JSON),
    )
)]
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

/// One order with its status history (owner or admin).
#[utoipa::path(
    get,
    path = "/api/v1/orders/{id}",
    tag = "orders",
    params(("id" = OrderId, Path, description = "The order")),
    security(("bearer" = [])),
    responses(
        (status = OK, description = "The order", body = Order),
        (status = BAD_REQUEST, description = "`id` is not an order id", body = Problem, content_type = PROBLEM_JSON),
        (status = FORBIDDEN, description = "Another user's order, and the caller is no admin", body = Problem, content_type = PROBLEM_JSON),
        (status = NOT_FOUND, description = "No such order", body = Problem, content_type = PROBLEM_JSON),
    )
)]
async fn get_order(
    State(state): State<AppState>,
    user: AuthUser,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<Order>, ApiError> {
    let Path(id) = id?;
    let id = parse_id(&id)?;
    Ok(Json(state.service.get_order(&user.claims, id).await?))
}

/// Cancels the order (owner or admin).
#[utoipa::path(
    post,
    path = "/api/v1/orders/{id}/cancel",
    tag = "orders",
    params(("id" = OrderId, Path, description = "The order")),
    security(("bearer" = [])),
    responses(
        (status = OK, description = "The cancelled order", body = Order),
        (status = BAD_REQUEST, description = "`id` is not an order id", body = Problem, content_type = PROBLEM_JSON),
        (status = FORBIDDEN, description = "Another user's order, and the caller is no admin", body = Problem, content_type = PROBLEM_JSON),
        (status = NOT_FOUND, description = "No such order", body = Problem, content_type = PROBLEM_JSON),
        (status = CONFLICT, description = "The order is already cancelled", body = Problem, content_type = PROBLEM_JSON),
    )
)]
async fn cancel_order(
    State(state): State<AppState>,
    user: AuthUser,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<Order>, ApiError> {
    let Path(id) = id?;
    let id = parse_id(&id)?;
    Ok(Json(state.service.cancel_order(&user.claims, id).await?))
}
