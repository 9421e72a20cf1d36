//! HTTP routes under `/api/v1/notifications`.

use axum::extract::{FromRef, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use platform::ApiError;
use platform::auth::{AuthUser, JwtKeys};
use serde::Deserialize;
use shared_types::{Page, UserId};

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

/// The service's routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/v1/notifications", get(list))
        .with_state(state)
}

/// `?page=&per_page=&user_id=`; ids stay strings so a bad one is a problem, not a bare 400.
#[derive(Debug, Deserialize)]
struct ListQuery {
    page: Option<u32>,
    per_page: Option<u32>,
    user_id: Option<String>,
}

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
