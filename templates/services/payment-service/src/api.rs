//! HTTP API of the payment service under `/api/v1/payments`: reading payments and refunding
//! them. There is deliberately no route that charges: charging belongs to the checkout saga
//! (`inventory.reserved` → [`crate::events`]), which charges an order's owner exactly the
//! order's total under the order's id. A public charge route could do neither check — it
//! would let any customer charge any amount against any order id, collide with the saga's key
//! and freeze that checkout, and test stolen cards against the provider.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{FromRef, Path, Query, State};
use axum::{Json, Router};
use platform::auth::{AuthUser, JwtKeys};
use platform::error::Problem;
use platform::{ApiError, PROBLEM_JSON};
use serde::Deserialize;
use shared_types::{OrderId, PaymentId};
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::models::Payment;
use crate::service::PaymentService;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    pub service: PaymentService,
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
        .routes(routes!(list))
        .routes(routes!(get_one))
        .routes(routes!(refund))
}

/// The routes of the payment service.
pub fn router(state: AppState) -> Router {
    let (router, _) = routes().split_for_parts();
    router.with_state(state)
}

/// The service's part of the API document.
#[must_use]
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes().into_openapi()
}

fn parse_id(raw: &str) -> Result<PaymentId, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::bad_request(format!("`{raw}` is not a payment id")))
}

/// Query of `GET /api/v1/payments`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// The order whose payments to list.
    #[param(required = true, value_type = OrderId)]
    order_id: Option<String>,
}

/// The payments of an order (its payer or an admin).
#[utoipa::path(
    get,
    path = "/api/v1/payments",
    operation_id = "list_payments",
    tag = "payments",
    params(ListQuery),
    security(("bearer" = [])),
    responses(
        (status = OK, description = "The order's payments", body = Vec<Payment>),
        (status = BAD_REQUEST, description = "`order_id` is missing or not an order id", body = Problem, content_type = PROBLEM_JSON),
        (status = FORBIDDEN, description = "Another user's order, and the caller is no admin", body = Problem, content_type = PROBLEM_JSON),
    )
)]
async fn list(
    State(state): State<AppState>,
    user: AuthUser,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Vec<Payment>>, ApiError> {
    let Query(query) = query.map_err(|err| ApiError::bad_request(err.body_text()))?;
    let raw = query
        .order_id
        .ok_or_else(|| ApiError::bad_request("query parameter `order_id` is required"))?;
    let order_id: OrderId = raw
        .parse()
        .map_err(|_| ApiError::bad_request(format!("`{raw}` is not an order id")))?;
    Ok(Json(
        state.service.list_for_order(&user.claims, order_id).await?,
    ))
}

/// One payment (its payer or an admin).
#[utoipa::path(
    get,
    path = "/api/v1/payments/{id}",
    operation_id = "get_payment",
    tag = "payments",
    params(("id" = PaymentId, Path, description = "The payment")),
    security(("bearer" = [])),
    responses(
        (status = OK, description = "The payment", body = Payment),
        (status = BAD_REQUEST, description = "`id` is not a payment id", body = Problem, content_type = PROBLEM_JSON),
        (status = FORBIDDEN, description = "Another user's payment, and the caller is no admin", body = Problem, content_type = PROBLEM_JSON),
        (status = NOT_FOUND, description = "No such payment", body = Problem, content_type = PROBLEM_JSON),
    )
)]
async fn get_one(
    State(state): State<AppState>,
    user: AuthUser,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<Payment>, ApiError> {
    let Path(id) = id?;
    let id = parse_id(&id)?;
    Ok(Json(state.service.get(&user.claims, id).await?))
}

/// Refunds a payment once (admin); a second refund is 409.
#[utoipa::path(
    post,
    path = "/api/v1/payments/{id}/refund",
    operation_id = "refund_payment",
    tag = "payments",
    params(("id" = PaymentId, Path, description = "The payment")),
    security(("bearer" = [])),
    responses(
        (status = OK, description = "The refunded payment", body = Payment),
        (status = BAD_REQUEST, description = "`id` is not a payment id", body = Problem, content_type = PROBLEM_JSON),
        (status = FORBIDDEN, description = "The caller is no admin", body = Problem, content_type = PROBLEM_JSON),
        (status = NOT_FOUND, description = "No such payment", body = Problem, content_type = PROBLEM_JSON),
        (status = CONFLICT, description = "Already refunded, or not a succeeded payment", body = Problem, content_type = PROBLEM_JSON),
    )
)]
async fn refund(
    State(state): State<AppState>,
    user: AuthUser,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<Payment>, ApiError> {
    user.require_admin()?;
    let Path(id) = id?;
    let id = parse_id(&id)?;
    Ok(Json(state.service.refund(id).await?))
}
