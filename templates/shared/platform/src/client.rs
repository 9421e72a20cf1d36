//! Calls to other units over HTTP/JSON with a timeout, mapping their failures onto this
//! unit's errors: a 404 stays a 404, anything else upstream becomes 503 naming the unit.

use std::time::Duration;

use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, Problem};
use crate::topology::Unit;

/// A client for one other unit.
#[derive(Debug, Clone)]
pub struct ServiceClient {
    name: &'static str,
    base_url: String,
    http: reqwest::Client,
}

impl ServiceClient {
    /// A client for `unit` at its configured URL.
    ///
    /// # Panics
    /// If the HTTP client cannot be built, which only happens when the TLS backend is broken;
    /// this client has none.
    #[must_use]
    pub fn new(unit: Unit, timeout: Duration) -> Self {
        Self::with_base_url(unit.name, unit.base_url(), timeout)
    }

    /// A client for `name` at `base_url` (tests point it at a local listener).
    ///
    /// # Panics
    /// As [`ServiceClient::new`].
    #[must_use]
    pub fn with_base_url(name: &'static str, base_url: String, timeout: Duration) -> Self {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .expect("a plain-HTTP client with a timeout always builds");
        Self {
            name,
            base_url,
            http,
        }
    }

    /// GETs `path` (starting with `/`) as JSON, forwarding `bearer` when given.
    pub async fn get_json<T: DeserializeOwned>(
        &self,
        path: &str,
        bearer: Option<&str>,
    ) -> Result<T, ApiError> {
        let mut request = self.http.get(format!("{}{path}", self.base_url));
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        let response = request
            .send()
            .await
            .map_err(|err| ApiError::unavailable(format!("{} unreachable: {err}", self.name)))?;
        let status = response.status();
        if status.is_success() {
            return response.json().await.map_err(|err| {
                ApiError::unavailable(format!("{} sent an unreadable answer: {err}", self.name))
            });
        }
        let detail = response
            .json::<Problem>()
            .await
            .map_or_else(|_| status.to_string(), |problem| problem.detail);
        Err(if status.as_u16() == StatusCode::NOT_FOUND.as_u16() {
            ApiError::not_found(detail)
        } else {
            ApiError::unavailable(format!("{} answered {status}: {detail}", self.name))
        })
    }
}
