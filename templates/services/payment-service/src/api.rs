//! HTTP API of the payment service under `/api/v1/payments`.

use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRef, Path, Query, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use platform::ApiError;
use platform::auth::{AuthUser, JwtKeys};
use serde::Deserialize;
use shared_types::{Money, OrderId, PaymentId};

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

/// The routes of the payment service.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/v1/payments", post(create).get(list))
        .route("/api/v1/payments/{id}", get(get_one))
        .route("/api/v1/payments/{id}/refund", post(refund))
        .with_state(state)
}

fn parse_id(raw: &str) -> Result<PaymentId, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::bad_request(format!("`{raw}` is not a payment id")))
}

/// Body of `POST /api/v1/payments`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreatePayment {
    order_id: OrderId,
    amount: Money,
}

/// `POST /api/v1/payments`: charges the caller once per `Idempotency-Key`. 201 with the
/// payment, or 402 if the provider declined (recorded as failed; a repeat gets the same 402).
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
#[derive(Debug, Deserialize)]
struct ListQuery {
    order_id: Option<String>,
}

/// `GET /api/v1/payments?order_id=`: the payments of an order (its payer or an admin).
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

/// `GET /api/v1/payments/{id}` (its payer or an admin).
async fn get_one(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<Payment>, ApiError> {
    let id = parse_id(&id)?;
    Ok(Json(state.service.get(&user.claims, id).await?))
}

/// `POST /api/v1/payments/{id}/refund` (admin): refunds once; a second refund is 409.
async fn refund(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<Payment>, ApiError> {
    user.require_admin()?;
    let id = parse_id(&id)?;
    Ok(Json(state.service.refund(id).await?))
}
