//! HTTP routes under `/api/v1/auth` and `/api/v1/users`.

use axum::extract::{FromRef, Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use platform::ApiError;
use platform::auth::{AuthUser, JwtKeys};
use serde::Deserialize;
use shared_types::UserId;

use crate::models::UserView;
use crate::service::{ProfileChange, TokenPair, UserService};

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub service: UserService,
}

impl AppState {
    #[must_use]
    pub fn new(service: UserService) -> Self {
        Self { service }
    }
}

impl FromRef<AppState> for JwtKeys {
    fn from_ref(state: &AppState) -> Self {
        state.service.keys().clone()
    }
}

/// JSON body extractor whose rejections are problem+json.
type Body<T> = Result<Json<T>, axum::extract::rejection::JsonRejection>;

/// The service's routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/v1/auth/register", post(register))
        .route("/api/v1/auth/login", post(login))
        .route("/api/v1/auth/refresh", post(refresh))
        .route("/api/v1/auth/logout", post(logout))
        .route("/api/v1/auth/password-reset", post(request_reset))
        .route("/api/v1/auth/password-reset/confirm", post(confirm_reset))
        .route("/api/v1/users/me", get(me))
        .route("/api/v1/users/{id}", get(profile).patch(update_profile))
        .with_state(state)
}

#[derive(Debug, Deserialize)]
struct RegisterRequest {
    email: String,
    password: String,
    name: String,
}

async fn register(
    State(state): State<AppState>,
    body: Body<RegisterRequest>,
) -> Result<(StatusCode, Json<UserView>), ApiError> {
    let Json(request) = body?;
    let user = state
        .service
        .register(&request.email, request.password, &request.name)
        .await?;
    Ok((StatusCode::CREATED, Json(user)))
}

#[derive(Debug, Deserialize)]
struct LoginRequest {
    email: String,
    password: String,
}

async fn login(
    State(state): State<AppState>,
    body: Body<LoginRequest>,
) -> Result<Json<TokenPair>, ApiError> {
    let Json(request) = body?;
    Ok(Json(
        state
            .service
            .login(&request.email, request.password)
            .await?,
    ))
}

#[derive(Debug, Deserialize)]
struct RefreshRequest {
    refresh_token: String,
}

async fn refresh(
    State(state): State<AppState>,
    body: Body<RefreshRequest>,
) -> Result<Json<TokenPair>, ApiError> {
    let Json(request) = body?;
    Ok(Json(state.service.refresh(&request.refresh_token).await?))
}

async fn logout(
    State(state): State<AppState>,
    caller: AuthUser,
    body: Body<RefreshRequest>,
) -> Result<StatusCode, ApiError> {
    let Json(request) = body?;
    state
        .service
        .logout(&caller, &request.refresh_token)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
struct ResetRequest {
    email: String,
}

async fn request_reset(
    State(state): State<AppState>,
    body: Body<ResetRequest>,
) -> Result<StatusCode, ApiError> {
    let Json(request) = body?;
    state.service.request_password_reset(&request.email).await?;
    Ok(StatusCode::ACCEPTED)
}

#[derive(Debug, Deserialize)]
struct ConfirmResetRequest {
    token: String,
    new_password: String,
}

async fn confirm_reset(
    State(state): State<AppState>,
    body: Body<ConfirmResetRequest>,
) -> Result<StatusCode, ApiError> {
    let Json(request) = body?;
    state
        .service
        .confirm_password_reset(&request.token, request.new_password)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

fn parse_user_id(raw: &str) -> Result<UserId, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::bad_request(format!("`{raw}` is not a user id")))
}

async fn me(State(state): State<AppState>, caller: AuthUser) -> Result<Json<UserView>, ApiError> {
    let id = caller.claims.sub;
    Ok(Json(state.service.profile(&caller, id).await?))
}

async fn profile(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<UserView>, ApiError> {
    let id = parse_user_id(&id)?;
    Ok(Json(state.service.profile(&caller, id).await?))
}

async fn update_profile(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<String>,
    body: Body<ProfileChange>,
) -> Result<Json<UserView>, ApiError> {
    let id = parse_user_id(&id)?;
    let Json(change) = body?;
    Ok(Json(
        state.service.update_profile(&caller, id, change).await?,
    ))
}
