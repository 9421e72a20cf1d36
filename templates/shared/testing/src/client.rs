//! Requests through a unit's router with `tower::ServiceExt::oneshot`: no sockets, no ports.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use serde::Serialize;
use serde_json::Value;
use tower::ServiceExt;

/// The content type of an `ApiError` body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Sends requests to a `Router`. Cloning is cheap (the router is shared).
#[derive(Clone, Debug)]
pub struct TestClient {
    router: Router,
}

impl TestClient {
    #[must_use]
    pub fn new(router: Router) -> Self {
        Self { router }
    }

    /// The router requests go to.
    pub fn router(&self) -> &Router {
        &self.router
    }

    /// A request with `method` to `path` (path and query), without a body yet.
    pub fn request(&self, method: Method, path: &str) -> TestRequest {
        TestRequest {
            router: self.router.clone(),
            builder: Request::builder().method(method).uri(path),
            body: Body::empty(),
        }
    }

    pub fn get(&self, path: &str) -> TestRequest {
        self.request(Method::GET, path)
    }

    pub fn post(&self, path: &str) -> TestRequest {
        self.request(Method::POST, path)
    }

    pub fn put(&self, path: &str) -> TestRequest {
        self.request(Method::PUT, path)
    }

    pub fn patch(&self, path: &str) -> TestRequest {
        self.request(Method::PATCH, path)
    }

    pub fn delete(&self, path: &str) -> TestRequest {
        self.request(Method::DELETE, path)
    }

    /// `GET path` as the holder of `token`, sent.
    pub async fn get_as(&self, token: &str, path: &str) -> TestResponse {
        self.get(path).bearer(token).send().await
    }

    /// `POST path` without a body as the holder of `token`, sent.
    pub async fn post_as(&self, token: &str, path: &str) -> TestResponse {
        self.post(path).bearer(token).send().await
    }

    /// Sends a request built by hand (for extensions or unusual headers).
    pub async fn send(&self, request: Request<Body>) -> TestResponse {
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("a router is infallible");
        TestResponse::read(response).await
    }
}

/// A request being built; [`TestRequest::send`] sends it.
#[derive(Debug)]
#[must_use = "a request does nothing until it is sent"]
pub struct TestRequest {
    router: Router,
    builder: axum::http::request::Builder,
    body: Body,
}

impl TestRequest {
    /// Adds a header.
    pub fn header<K, V>(mut self, name: K, value: V) -> Self
    where
        HeaderName: TryFrom<K>,
        <HeaderName as TryFrom<K>>::Error: Into<axum::http::Error>,
        HeaderValue: TryFrom<V>,
        <HeaderValue as TryFrom<V>>::Error: Into<axum::http::Error>,
    {
        self.builder = self.builder.header(name, value);
        self
    }

    /// `Authorization: Bearer <token>`.
    pub fn bearer(self, token: &str) -> Self {
        self.header(AUTHORIZATION, format!("Bearer {token}"))
    }

    /// [`TestRequest::bearer`] when there is a token, else no `Authorization` header.
    pub fn maybe_bearer(self, token: Option<&str>) -> Self {
        match token {
            Some(token) => self.bearer(token),
            None => self,
        }
    }

    /// The `Idempotency-Key` header.
    pub fn idempotency_key(self, key: &str) -> Self {
        self.header("idempotency-key", key)
    }

    /// `body` serialised as JSON, with `Content-Type: application/json`.
    pub fn json<T: Serialize + ?Sized>(self, body: &T) -> Self {
        let text = serde_json::to_string(body).expect("a serialisable body");
        self.json_text(text)
    }

    /// [`TestRequest::json`] when there is a body, else an empty body and no content type.
    pub fn maybe_json<T: Serialize>(self, body: Option<&T>) -> Self {
        match body {
            Some(body) => self.json(body),
            None => self,
        }
    }

    /// `text` as it is (possibly empty or malformed), with `Content-Type: application/json`.
    pub fn json_text(self, text: impl Into<String>) -> Self {
        self.header(CONTENT_TYPE, "application/json")
            .body(text.into())
    }

    /// A raw body, without a content type.
    pub fn body(mut self, body: impl Into<Body>) -> Self {
        self.body = body.into();
        self
    }

    /// The `http::Request`, for sending some other way.
    #[must_use]
    pub fn into_request(self) -> Request<Body> {
        self.builder.body(self.body).expect("a valid request")
    }

    /// Sends the request through the router and reads the whole response.
    pub async fn send(self) -> TestResponse {
        let client = TestClient::new(self.router.clone());
        client.send(self.into_request()).await
    }
}

/// A response read to its end.
#[derive(Debug, Clone)]
pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl TestResponse {
    /// Reads `response` to its end.
    pub async fn read(response: Response<Body>) -> Self {
        let (parts, body) = response.into_parts();
        let body = body.collect().await.expect("a readable body").to_bytes();
        Self {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }

    /// The body as JSON; `Value::Null` when it is empty. Panics on anything else.
    #[must_use]
    pub fn json(&self) -> Value {
        if self.body.is_empty() {
            return Value::Null;
        }
        serde_json::from_slice(&self.body).unwrap_or_else(|err| {
            panic!(
                "{} answered a body that is not JSON ({err}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The body of a problem+json answer; panics unless the content type says it is one.
    #[must_use]
    pub fn problem(&self) -> Value {
        assert_eq!(
            self.headers.get(CONTENT_TYPE).map(HeaderValue::as_bytes),
            Some(PROBLEM_JSON.as_bytes()),
            "{} is not a problem: {}",
            self.status,
            String::from_utf8_lossy(&self.body)
        );
        self.json()
    }

    /// The status and the JSON body, for tests that compare both.
    #[must_use]
    pub fn status_and_json(&self) -> (StatusCode, Value) {
        (self.status, self.json())
    }
}

#[cfg(test)]
mod tests {
    use axum::extract::Json;
    use axum::http::HeaderMap;
    use axum::routing::{get, post};
    use platform::ApiError;
    use serde_json::json;

    use super::*;

    fn echo() -> TestClient {
        TestClient::new(
            Router::new()
                .route(
                    "/echo",
                    post(|headers: HeaderMap, Json(body): Json<Value>| async move {
                        let header =
                            |name: &str| headers.get(name).map(|v| v.to_str().unwrap().to_owned());
                        Json(json!({
                            "body": body,
                            "authorization": header("authorization"),
                            "idempotency_key": header("idempotency-key"),
                        }))
                    }),
                )
                .route(
                    "/missing",
                    get(|| async { ApiError::not_found("no such thing") }),
                )
                .route("/empty", get(|| async { StatusCode::NO_CONTENT })),
        )
    }

    #[tokio::test]
    async fn a_json_request_carries_its_body_token_and_key() {
        let response = echo()
            .post("/echo")
            .bearer("t0k3n")
            .idempotency_key("k-1")
            .json(&json!({ "n": 1 }))
            .send()
            .await;
        assert_eq!(response.status, StatusCode::OK);
        assert_eq!(
            response.json(),
            json!({ "body": { "n": 1 }, "authorization": "Bearer t0k3n", "idempotency_key": "k-1" })
        );
    }

    #[tokio::test]
    async fn get_as_and_post_as_send_the_token() {
        let client = echo();
        assert_eq!(
            client.get_as("t0k3n", "/missing").await.status,
            StatusCode::NOT_FOUND
        );
        let response = client.post_as("t0k3n", "/echo").await;
        assert_eq!(
            response.status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "post_as sends no body"
        );
    }

    #[tokio::test]
    async fn optional_parts_are_left_out_when_absent() {
        let response = echo()
            .post("/echo")
            .maybe_bearer(None)
            .json_text("{}")
            .send()
            .await;
        assert_eq!(response.json()["authorization"], Value::Null);
        let response = echo().post("/echo").maybe_json::<Value>(None).send().await;
        assert_eq!(
            response.status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "no body, no content type"
        );
    }

    #[tokio::test]
    async fn an_error_reads_as_a_problem_and_an_empty_body_as_null() {
        let client = echo();
        let missing = client.get("/missing").send().await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND);
        assert_eq!(missing.problem()["detail"], "no such thing");
        let empty = client.get("/empty").send().await;
        assert_eq!(
            empty.status_and_json(),
            (StatusCode::NO_CONTENT, Value::Null)
        );
    }

    #[tokio::test]
    #[should_panic(expected = "is not a problem")]
    async fn a_success_is_not_a_problem() {
        let _ = echo().get("/empty").send().await.problem();
    }
}
