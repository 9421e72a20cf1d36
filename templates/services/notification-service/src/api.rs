//! HTTP routes under `/api/v1/notifications`.

use axum::extract::{FromRef, Query, State};
use axum::{Json, Router};
use platform::auth::{AuthUser, JwtKeys};
use platform::error::Problem;
use platform::{ApiError, PROBLEM_JSON};
use serde::Deserialize;
use shared_types::{Page, UserId};
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::config::Settings;
use crate::models::Notification;
use crate::service::NotificationService;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub service: NotificationService,
    pub keys: JwtKeys,
    pub settings: Settings,
}

impl FromRef<AppState> for JwtKeys {
    fn from_ref(state: &AppState) -> Self {
        state.keys.clone()
    }
}

/// The routes, each with its part of the API document: the router and the document are
/// made from this one list, so they cannot disagree.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::default().routes(routes!(list))
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

/// `?page=&per_page=&user_id=`; ids stay strings so a bad one is a problem, not a bare 400.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// The page, from 1 (default 1).
    // Any u32; utoipa would document it as an int32, whose range is narrower.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 4_294_967_295_i64)]
    page: Option<u32>,
    /// Notifications per page (default 20, at most `NOTIFICATION_SERVICE_MAX_PER_PAGE`, 100
    /// unless changed).
    #[param(minimum = 1, maximum = 100)]
    per_page: Option<u32>,
    /// Whose notifications (default the caller's; another user's only for an admin).
    #[param(value_type = Option<UserId>)]
    user_id: Option<String>,
}

// utoipa takes only literals as bounds: the document's must be the code's.
const _: () = assert!(crate::config::DEFAULT_MAX_PER_PAGE == 100);

/// The notifications sent to a user, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/notifications",
    operation_id = "list_notifications",
    tag = "notifications",
    params(ListQuery),
    security(("bearer" = [])),
    responses(
        (status = OK, description = "One page of notifications", body = Page<Notification>),
        (status = BAD_REQUEST, description = "A query parameter is invalid", body = Problem, content_type = PROBLEM_JSON),
        (status = FORBIDDEN, description = "Another user's notifications, and the caller is no admin", body = Problem, content_type = PROBLEM_JSON),
    )
)]
async fn list(
    State(state): State<AppState>,
    caller: AuthUser,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Page<Notification>>, ApiError> {
    let Query(query) = query.map_err(|err| ApiError::bad_request(err.body_text()))?;
    let user = match query.user_id.as_deref() {
        None => caller.claims.sub,
        Some(raw) => {
            let user: UserId = raw
                .parse()
                .map_err(|_| ApiError::bad_request(format!("`{raw}` is not a user id")))?;
            if !caller.claims.may_act_for(user) {
                return Err(ApiError::forbidden(
                    "only admins may list another user's notifications",
                ));
            }
            user
        }
    };
    let page = query.page.unwrap_or(1);
    if page == 0 {
        return Err(ApiError::bad_request("page starts at 1"));
    }
    let max = state.settings.max_per_page;
    let per_page = query.per_page.unwrap_or(state.settings.default_per_page);
    if !(1..=max).contains(&per_page) {
        return Err(ApiError::bad_request(format!(
            "per_page must be between 1 and {max}"
        )));
    }
    Ok(Json(state.service.list(user, page, per_page).await?))
}
