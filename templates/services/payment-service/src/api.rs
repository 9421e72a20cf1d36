//! HTTP API of the payment service under `/api/v1/payments`.

use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRef, Path, Query, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use platform::auth::{AuthUser, JwtKeys};
use platform::error::Problem;
use platform::{ApiError, PROBLEM_JSON};
use serde::Deserialize;
use shared_types::{Money, OrderId, PaymentId};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::models::{ChargeRequest, Payment, PaymentStatus};
use crate::service::{Charge, PaymentService};

/// The request header carrying the client's idempotency key.
pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
/// The response header marking the answer to a repeated key.
pub const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

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
        .routes(routes!(create, list))
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

/// Body of `POST /api/v1/payments`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CreatePayment {
    order_id: OrderId,
    amount: Money,
}

/// Charges the caller once per `Idempotency-Key`.
///
/// 201 with the payment, or 402 if the provider declined (recorded as failed; a repeat gets the
/// same 402).
#[utoipa::path(
    post,
    path = "/api/v1/payments",
    operation_id = "create_payment",
    tag = "payments",
    params(
        ("Idempotency-Key" = String, Header, description = "Makes a retried charge charge once; 1 to 255 visible ASCII characters"),
    ),
    request_body = CreatePayment,
    security(("bearer" = [])),
    responses(
        (status = CREATED, description = "The payment", body = Payment,
            headers(("Idempotent-Replayed" = String, description = "`true` when this answers an earlier request with the same key"))),
        (status = BAD_REQUEST, description = "No or a bad `Idempotency-Key`, or the body is not JSON", body = Problem, content_type = PROBLEM_JSON),
        (status = PAYMENT_REQUIRED, description = "The provider declined; nothing was charged", body = Problem, content_type = PROBLEM_JSON,
            headers(("Idempotent-Replayed" = String, description = "`true` when this answers an earlier request with the same key"))),
        (status = CONFLICT, description = "The order is cancelled, or a charge with the key is in progress", body = Problem, content_type = PROBLEM_JSON),
        (status = UNPROCESSABLE_ENTITY, description = "A field is invalid, or the key was used for another charge", body = Problem, content_type = PROBLEM_JSON),
    )
)]
async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    headers: HeaderMap,
    body: Result<Json<CreatePayment>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let key = headers
        .get(&IDEMPOTENCY_KEY)
        .ok_or_else(|| ApiError::bad_request("header `Idempotency-Key` is required"))?
        .to_str()
        .map_err(|_| ApiError::bad_request("header `Idempotency-Key` must be visible ASCII"))?
        .to_owned();
    let Json(body) = body?;
    let Charge { payment, fresh } = state
        .service
        .charge(ChargeRequest {
            idempotency_key: key,
            order_id: body.order_id,
            user_id: user.claims.sub,
            amount: body.amount,
        })
        .await?;
    let mut response = match &payment.status {
        PaymentStatus::Failed { reason } => ApiError::new(
            StatusCode::PAYMENT_REQUIRED,
            format!("payment {} declined: {reason}", payment.id),
        )
        .into_response(),
        PaymentStatus::Succeeded | PaymentStatus::Refunded | PaymentStatus::Pending => {
            (StatusCode::CREATED, Json(payment)).into_response()
        }
    };
    if !fresh {
        response
            .headers_mut()
            .insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    }
    Ok(response)
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
    Path(id): Path<String>,
) -> Result<Json<Payment>, ApiError> {
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
    Path(id): Path<String>,
) -> Result<Json<Payment>, ApiError> {
    user.require_admin()?;
    let id = parse_id(&id)?;
    Ok(Json(state.service.refund(id).await?))
}
