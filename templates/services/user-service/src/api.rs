//! HTTP routes under `/api/v1/auth` and `/api/v1/users`.

use axum::extract::rejection::PathRejection;
use axum::extract::{FromRef, Path, State};
use axum::http::StatusCode;
use axum::{Json, Router};
use platform::ApiError;
use platform::PROBLEM_JSON;
use platform::auth::{AuthUser, JwtKeys};
use platform::error::Problem;
use serde::Deserialize;
use shared_types::UserId;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::models::{
    MAX_EMAIL_LEN, MAX_NAME_CHARS, MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS, UserView,
};
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

/// The routes, each with its part of the API document: the router and the document are
/// made from this one list, so they cannot disagree.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(request_reset))
        .routes(routes!(confirm_reset))
        .routes(routes!(verify_email))
        .routes(routes!(resend_verification))
        .routes(routes!(me))
        .routes(routes!(profile, update_profile))
}

/// The service's routes.
pub fn router(state: AppState) -> Router {
    let (router, _) = routes().split_for_parts();
    router.with_state(state)
}

/// The service's part of the API document.
#[must_use]
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes().into_openapi()
}

/// Body of `POST /api/v1/auth/register`.
#[derive(Debug, Deserialize, ToSchema)]
struct RegisterRequest {
    /// Compared trimmed and lower-cased.
    #[schema(format = Email, max_length = 254)]
    email: String,
    #[schema(min_length = 12, max_length = 256)]
    password: String,
    /// Stored trimmed; must not be blank.
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    name: String,
}

// utoipa takes only literals as bounds: the document's (here and on `ProfileChange`) must be
// the code's.
const _: () = assert!(
    MAX_EMAIL_LEN == 254
        && MIN_PASSWORD_CHARS == 12
        && MAX_PASSWORD_CHARS == 256
        && MAX_NAME_CHARS == 100
);

/// Creates a customer account with an unverified email address and mails it a verification
/// token.
#[utoipa::path(
    post,
    path = "/api/v1/auth/register",
    tag = "auth",
    request_body = RegisterRequest,
    responses(
        (status = CREATED, description = "The new account", body = UserView),
        (status = BAD_REQUEST, description = "The body is not JSON", body = Problem, content_type = PROBLEM_JSON),
        (status = CONFLICT, description = "The email is taken", body = Problem, content_type = PROBLEM_JSON),
        (status = UNPROCESSABLE_ENTITY, description = "A field is invalid", body = Problem, content_type = PROBLEM_JSON),
    )
)]
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

/// Body of `POST /api/v1/auth/login`.
#[derive(Debug, Deserialize, ToSchema)]
struct LoginRequest {
    email: String,
    password: String,
}

/// Exchanges an email and password for an access and a refresh token.
#[utoipa::path(
    post,
    path = "/api/v1/auth/login",
    tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = OK, description = "The tokens", body = TokenPair),
        (status = BAD_REQUEST, description = "The body is not JSON", body = Problem, content_type = PROBLEM_JSON),
        (status = UNAUTHORIZED, description = "Unknown email or wrong password", body = Problem, content_type = PROBLEM_JSON),
        (status = UNPROCESSABLE_ENTITY, description = "A field is missing", body = Problem, content_type = PROBLEM_JSON),
    )
)]
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

/// Body of `POST /api/v1/auth/refresh` and `POST /api/v1/auth/logout`.
#[derive(Debug, Deserialize, ToSchema)]
struct RefreshRequest {
    refresh_token: String,
}

/// Exchanges a refresh token for new tokens; the old refresh token is used up.
#[utoipa::path(
    post,
    path = "/api/v1/auth/refresh",
    tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = OK, description = "The new tokens", body = TokenPair),
        (status = BAD_REQUEST, description = "The body is not JSON", body = Problem, content_type = PROBLEM_JSON),
        (status = UNAUTHORIZED, description = "The refresh token is refused", body = Problem, content_type = PROBLEM_JSON),
        (status = UNPROCESSABLE_ENTITY, description = "A field is missing", body = Problem, content_type = PROBLEM_JSON),
    )
)]
async fn refresh(
    State(state): State<AppState>,
    body: Body<RefreshRequest>,
) -> Result<Json<TokenPair>, ApiError> {
    let Json(request) = body?;
    Ok(Json(state.service.refresh(&request.refresh_token).await?))
}

/// Revokes a refresh token of the caller.
#[utoipa::path(
    post,
    path = "/api/v1/auth/logout",
    tag = "auth",
    request_body = RefreshRequest,
    security(("bearer" = [])),
    responses(
        (status = NO_CONTENT, description = "The refresh token no longer works"),
        (status = BAD_REQUEST, description = "The body is not JSON", body = Problem, content_type = PROBLEM_JSON),
        (status = UNPROCESSABLE_ENTITY, description = "A field is missing", body = Problem, content_type = PROBLEM_JSON),
    )
)]
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

/// Body of `POST /api/v1/auth/password-reset`.
#[derive(Debug, Deserialize, ToSchema)]
struct ResetRequest {
    email: String,
}

/// Mails a password-reset token if the email has an account; the answer is the same either way.
#[utoipa::path(
    post,
    path = "/api/v1/auth/password-reset",
    operation_id = "request_password_reset",
    tag = "auth",
    request_body = ResetRequest,
    responses(
        (status = ACCEPTED, description = "A token is on its way if the account exists"),
        (status = BAD_REQUEST, description = "The body is not JSON", body = Problem, content_type = PROBLEM_JSON),
        (status = UNPROCESSABLE_ENTITY, description = "A field is missing", body = Problem, content_type = PROBLEM_JSON),
    )
)]
async fn request_reset(
    State(state): State<AppState>,
    body: Body<ResetRequest>,
) -> Result<StatusCode, ApiError> {
    let Json(request) = body?;
    state.service.request_password_reset(&request.email).await?;
    Ok(StatusCode::ACCEPTED)
}

/// Body of `POST /api/v1/auth/password-reset/confirm`.
#[derive(Debug, Deserialize, ToSchema)]
struct ConfirmResetRequest {
    token: String,
    #[schema(min_length = 12, max_length = 256)]
    new_password: String,
}

/// Sets a new password with a reset token.
#[utoipa::path(
    post,
    path = "/api/v1/auth/password-reset/confirm",
    operation_id = "confirm_password_reset",
    tag = "auth",
    request_body = ConfirmResetRequest,
    responses(
        (status = NO_CONTENT, description = "The password is changed"),
        (status = BAD_REQUEST, description = "The body is not JSON or the token is refused", body = Problem, content_type = PROBLEM_JSON),
        (status = UNPROCESSABLE_ENTITY, description = "A field is missing or the password is too weak", body = Problem, content_type = PROBLEM_JSON),
    )
)]
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

/// Body of `POST /api/v1/auth/verify-email`.
#[derive(Debug, Deserialize, ToSchema)]
struct VerifyEmailRequest {
    token: String,
}

/// Confirms the caller's email address with the token mailed to it.
#[utoipa::path(
    post,
    path = "/api/v1/auth/verify-email",
    tag = "auth",
    request_body = VerifyEmailRequest,
    security(("bearer" = [])),
    responses(
        (status = NO_CONTENT, description = "The address is verified"),
        (status = BAD_REQUEST, description = "The body is not JSON, or the token is unknown, used, expired, another user's or for an address the account no longer has", body = Problem, content_type = PROBLEM_JSON),
        (status = UNPROCESSABLE_ENTITY, description = "A field is missing", body = Problem, content_type = PROBLEM_JSON),
    )
)]
async fn verify_email(
    State(state): State<AppState>,
    caller: AuthUser,
    body: Body<VerifyEmailRequest>,
) -> Result<StatusCode, ApiError> {
    let Json(request) = body?;
    state.service.verify_email(&caller, &request.token).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Mails the caller a new verification token.
#[utoipa::path(
    post,
    path = "/api/v1/auth/verify-email/resend",
    operation_id = "resend_verification_email",
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = ACCEPTED, description = "A new token is on its way"),
        (status = NOT_FOUND, description = "The account no longer exists", body = Problem, content_type = PROBLEM_JSON),
        (status = CONFLICT, description = "The address is verified already", body = Problem, content_type = PROBLEM_JSON),
    )
)]
async fn resend_verification(
    State(state): State<AppState>,
    caller: AuthUser,
) -> Result<StatusCode, ApiError> {
    state.service.resend_verification(&caller).await?;
    Ok(StatusCode::ACCEPTED)
}

fn parse_user_id(raw: &str) -> Result<UserId, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::bad_request(format!("`{raw}` is not a user id")))
}

/// The caller's own account.
#[utoipa::path(
    get,
    path = "/api/v1/users/me",
    operation_id = "get_current_user",
    tag = "users",
    security(("bearer" = [])),
    responses(
        (status = OK, description = "The caller's account", body = UserView),
        (status = NOT_FOUND, description = "The account no longer exists", body = Problem, content_type = PROBLEM_JSON),
    )
)]
async fn me(State(state): State<AppState>, caller: AuthUser) -> Result<Json<UserView>, ApiError> {
    let id = caller.claims.sub;
    Ok(Json(state.service.profile(&caller, id).await?))
}

/// An account: the caller's own, or any for an admin with a verified address.
#[utoipa::path(
    get,
    path = "/api/v1/users/{id}",
    operation_id = "get_user",
    tag = "users",
    params(("id" = UserId, Path, description = "The user")),
    security(("bearer" = [])),
    responses(
        (status = OK, description = "The account", body = UserView),
        (status = BAD_REQUEST, description = "`id` is not a user id", body = Problem, content_type = PROBLEM_JSON),
        (status = FORBIDDEN, description = "Another user's account, and the caller is no admin with a verified address", body = Problem, content_type = PROBLEM_JSON),
        (status = NOT_FOUND, description = "No such user", body = Problem, content_type = PROBLEM_JSON),
    )
)]
async fn profile(
    State(state): State<AppState>,
    caller: AuthUser,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<UserView>, ApiError> {
    let Path(id) = id?;
    let id = parse_user_id(&id)?;
    Ok(Json(state.service.profile(&caller, id).await?))
}

/// Changes the name or email of an account: the caller's own, or any for an admin with a
/// verified address. A new email needs the caller's `current_password`; it is unverified until
/// the token mailed to it is sent to `verify-email`, and the old address is told of the change.
#[utoipa::path(
    patch,
    path = "/api/v1/users/{id}",
    operation_id = "update_user",
    tag = "users",
    params(("id" = UserId, Path, description = "The user")),
    request_body = ProfileChange,
    security(("bearer" = [])),
    responses(
        (status = OK, description = "The changed account", body = UserView),
        (status = BAD_REQUEST, description = "`id` is not a user id, or the body is not JSON", body = Problem, content_type = PROBLEM_JSON),
        (status = FORBIDDEN, description = "Another user's account and the caller is no admin with a verified address, or a new email without the caller's correct `current_password`", body = Problem, content_type = PROBLEM_JSON),
        (status = NOT_FOUND, description = "No such user", body = Problem, content_type = PROBLEM_JSON),
        (status = CONFLICT, description = "The new email is taken", body = Problem, content_type = PROBLEM_JSON),
        (status = UNPROCESSABLE_ENTITY, description = "A field is invalid", body = Problem, content_type = PROBLEM_JSON),
    )
)]
async fn update_profile(
    State(state): State<AppState>,
    caller: AuthUser,
    id: Result<Path<String>, PathRejection>,
    body: Body<ProfileChange>,
) -> Result<Json<UserView>, ApiError> {
    let Path(id) = id?;
    let id = parse_user_id(&id)?;
    let Json(change) = body?;
    Ok(Json(
        state.service.update_profile(&caller, id, change).await?,
    ))
}
