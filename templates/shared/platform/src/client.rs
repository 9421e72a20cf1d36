//! Calls to other units over HTTP/JSON, made exactly as the architecture model says: each call
//! of [`topology::CALLS`] has a per-attempt timeout, a number of attempts and a backoff, and
//! the architecture verification proves latency, timeout nesting and availability from those
//! very numbers. GET requests are retried on connection errors, timeouts and 502/503/504
//! answers; other statuses and other methods are never retried. Failures map onto this unit's
//! errors: a 404 stays a 404, anything else upstream becomes 503 naming the unit.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::http::StatusCode;
use reqwest::Method;
use serde::de::DeserializeOwned;
use shared_events::RetryBudget;
use shared_events::topics::RETRY_BUDGET;
use tower::ServiceExt as _;

use crate::error::{ApiError, Problem};
use crate::topology::{self, Call, Unit};

/// How one synchronous call is made: the numbers of one [`topology::Call`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallPolicy {
    /// Timeout of one attempt.
    pub timeout: Duration,
    /// Attempts including the first (1 = no retry; 0 is treated as 1).
    pub attempts: u32,
    /// Pause before the second attempt; it doubles before each further one.
    pub backoff: Duration,
}

impl CallPolicy {
    /// One attempt with `timeout`, no retry.
    #[must_use]
    pub const fn once(timeout: Duration) -> Self {
        Self {
            timeout,
            attempts: 1,
            backoff: Duration::ZERO,
        }
    }

    /// The policy of `from` calling `to` with `method` in the architecture model, if the model
    /// has that call.
    #[must_use]
    pub fn of(from: Unit, to: Unit, method: &str) -> Option<Self> {
        topology::call(from, to, method).map(Self::from)
    }

    /// The attempts to make for `method`: the policy's for GET, one for anything else (a
    /// write may have taken effect even when its answer was lost).
    #[must_use]
    pub fn attempts_for(&self, method: &Method) -> u32 {
        if *method == Method::GET {
            self.attempts.max(1)
        } else {
            1
        }
    }

    /// The pause before retry number `retry` (1 = the second attempt): `backoff`, doubled for
    /// each further retry, capped at 2^10 × `backoff`.
    #[must_use]
    pub fn backoff_before(&self, retry: u32) -> Duration {
        self.backoff
            .saturating_mul(1 << retry.saturating_sub(1).min(10))
    }
}

impl From<&Call> for CallPolicy {
    fn from(call: &Call) -> Self {
        Self {
            timeout: Duration::from_millis(call.timeout_ms),
            attempts: call.attempts,
            backoff: Duration::from_millis(call.backoff_ms),
        }
    }
}

/// Upstream answers worth another attempt of an idempotent request: the transient ones.
#[must_use]
pub fn is_retryable_status(status: StatusCode) -> bool {
    matches!(status.as_u16(), 502..=504)
}

/// `url` without trailing slashes, so paths starting with `/` append cleanly.
fn without_trailing_slash(mut url: String) -> String {
    let len = url.trim_end_matches('/').len();
    url.truncate(len);
    url
}

/// A client for one other unit, calling it with one [`CallPolicy`] within one
/// [`RetryBudget`] (clones share it: a replica's retries to one unit are bounded together).
#[derive(Debug, Clone)]
pub struct ServiceClient {
    name: &'static str,
    base_url: String,
    policy: CallPolicy,
    budget: Arc<RetryBudget>,
    http: reqwest::Client,
    /// The called unit's router, when it runs in this process (a modular monolith's module):
    /// calls go straight to it, with no network, so with no timeout or retry of their own.
    module: Option<Router>,
}

/// What one attempt came back with.
enum Attempt {
    /// An answer, read in full.
    Answered { status: StatusCode, body: Bytes },
    /// No (complete) answer: the connection failed or the attempt timed out.
    Failed(reqwest::Error),
}

impl Attempt {
    fn is_retryable(&self) -> bool {
        match self {
            Self::Answered { status, .. } => is_retryable_status(*status),
            // Builder and redirect errors are the caller's mistakes; they would fail again.
            Self::Failed(err) => {
                err.is_connect() || err.is_timeout() || err.is_request() || err.is_body()
            }
        }
    }
}

impl ServiceClient {
    /// The client `from` uses to call `to` (at `to`'s configured URL), with the policy of the
    /// model's `GET` call between them.
    ///
    /// # Panics
    /// If the architecture model has no `GET` call from `from` to `to`: calling a unit the
    /// model does not know about is a programming error (add the call to the model).
    #[must_use]
    pub fn for_call(from: Unit, to: Unit) -> Self {
        let policy = CallPolicy::of(from, to, "GET").unwrap_or_else(|| {
            panic!(
                "the architecture model has no GET call from {} to {}",
                from.name, to.name
            )
        });
        Self::with_policy(to.name, to.base_url(), policy)
    }

    /// A client for `name` at `base_url` with an explicit `policy` (tests and the devstack).
    ///
    /// # Panics
    /// If the HTTP client cannot be built, which only happens when the TLS backend is broken;
    /// this client has none.
    #[must_use]
    pub fn with_policy(
        name: &'static str,
        base_url: impl Into<String>,
        policy: CallPolicy,
    ) -> Self {
        let http = reqwest::Client::builder()
            .build()
            .expect("a plain-HTTP client always builds");
        Self {
            name,
            base_url: without_trailing_slash(base_url.into()),
            policy,
            budget: Arc::new(RetryBudget::new(RETRY_BUDGET)),
            http,
            module: None,
        }
    }

    /// A client for the module `to` running in this process as `router`: each call is one
    /// request handed to the router (the module's public API, as it would be over HTTP), with
    /// no socket, timeout or retry. Extracting the module into a service swaps this for
    /// [`ServiceClient::for_call`] and nothing else.
    #[must_use]
    pub fn in_process(to: Unit, router: Router) -> Self {
        Self {
            module: Some(router),
            ..Self::with_policy(to.name, "in-process", CallPolicy::once(Duration::MAX))
        }
    }

    /// The same client, calling the unit at `base_url` instead (the devstack's ephemeral
    /// ports, a local listener in tests, a URL from the unit's settings).
    #[must_use]
    pub fn with_base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = without_trailing_slash(base_url.into());
        self
    }

    /// The name of the unit called.
    #[must_use]
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Where the unit is called.
    #[must_use]
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// How the unit is called.
    #[must_use]
    pub fn policy(&self) -> CallPolicy {
        self.policy
    }

    /// GETs `path` (starting with `/`) as JSON, forwarding `bearer` when given, retrying as
    /// the policy says.
    pub async fn get_json<T: DeserializeOwned>(
        &self,
        path: &str,
        bearer: Option<&str>,
    ) -> Result<T, ApiError> {
        let (status, body) = self.call(Method::GET, path, bearer).await?;
        if status.is_success() {
            return serde_json::from_slice(&body).map_err(|err| {
                tracing::error!(upstream = self.name, path, error = %err, "unreadable answer");
                ApiError::unavailable(format!("{} sent an unreadable answer", self.name))
            });
        }
        let detail = serde_json::from_slice::<Problem>(&body)
            .map_or_else(|_| status.to_string(), |problem| problem.detail);
        Err(if status == StatusCode::NOT_FOUND {
            ApiError::not_found(detail)
        } else {
            ApiError::unavailable(format!("{} answered {status}: {detail}", self.name))
        })
    }

    /// Sends `method path` until an attempt is not retryable, the attempts for `method` are
    /// spent or the retry budget is; the last answer, or why there was none.
    async fn call(
        &self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
    ) -> Result<(StatusCode, Bytes), ApiError> {
        if let Some(module) = &self.module {
            return Ok(self.call_in_process(module, method, path, bearer).await);
        }
        let attempts = self.policy.attempts_for(&method);
        let url = format!("{}{path}", self.base_url);
        let mut attempt = 1;
        self.budget.request();
        loop {
            let outcome = self.attempt(method.clone(), &url, bearer).await;
            if attempt >= attempts || !outcome.is_retryable() || !self.budget.try_retry() {
                return match outcome {
                    Attempt::Answered { status, body } => Ok((status, body)),
                    Attempt::Failed(err) if err.is_timeout() => {
                        Err(ApiError::unavailable(format!(
                            "{} did not answer within {} ms",
                            self.name,
                            self.policy.timeout.as_millis()
                        )))
                    }
                    // The error names the URL: logged, never answered.
                    Attempt::Failed(err) => {
                        tracing::warn!(upstream = self.name, error = %err, "unreachable");
                        Err(ApiError::unavailable(format!(
                            "{} is unreachable",
                            self.name
                        )))
                    }
                };
            }
            let pause = self.policy.backoff_before(attempt);
            tracing::debug!(
                upstream = self.name,
                %method,
                path,
                attempt,
                ?pause,
                "retrying a failed call"
            );
            tokio::time::sleep(pause).await;
            attempt += 1;
        }
    }

    /// `method path` handed to the router of a module in this process, and its answer. What
    /// cannot be handed over (a path that is no URI, a body that cannot be read) is answered
    /// as the module failing: 503 upstream, as over HTTP.
    async fn call_in_process(
        &self,
        module: &Router,
        method: Method,
        path: &str,
        bearer: Option<&str>,
    ) -> (StatusCode, Bytes) {
        let mut request = axum::http::Request::builder().method(method).uri(path);
        if let Some(token) = bearer {
            request = request.header(axum::http::header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let Ok(request) = request.body(axum::body::Body::empty()) else {
            tracing::error!(module = self.name, path, "not a request path");
            return (StatusCode::SERVICE_UNAVAILABLE, Bytes::new());
        };
        let Ok(response) = module.clone().oneshot(request).await;
        let status = response.status();
        match axum::body::to_bytes(response.into_body(), usize::MAX).await {
            Ok(body) => (status, body),
            Err(err) => {
                tracing::error!(module = self.name, path, error = %err, "unreadable answer");
                (StatusCode::SERVICE_UNAVAILABLE, Bytes::new())
            }
        }
    }

    /// One attempt, bounded by the policy's timeout (sending and reading the answer).
    async fn attempt(&self, method: Method, url: &str, bearer: Option<&str>) -> Attempt {
        let mut request = self.http.request(method, url).timeout(self.policy.timeout);
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(err) => return Attempt::Failed(err),
        };
        let status = response.status();
        match response.bytes().await {
            Ok(body) => Attempt::Answered { status, body },
            Err(err) => Attempt::Failed(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::Router;
    use axum::extract::State;
    use axum::response::{IntoResponse, Response};
    use serde_json::json;

    use super::*;
    use crate::topology::{CART_SERVICE, INVENTORY_SERVICE, ORDER_SERVICE, PRODUCT_SERVICE};

    /// A fake upstream: counts hits; answers `failure` for the first `failures` hits (after
    /// `delay`), then 200 `{"ok": true}`.
    #[derive(Clone)]
    struct Fake {
        hits: Arc<AtomicUsize>,
        failures: usize,
        failure: StatusCode,
        delay: Duration,
    }

    async fn fake_handler(State(fake): State<Fake>) -> Response {
        let hit = fake.hits.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(fake.delay).await;
        if hit < fake.failures {
            let problem = json!({"type": "about:blank", "title": "failing",
                                 "status": fake.failure.as_u16(), "detail": format!("failure {}", hit + 1)});
            return (fake.failure, axum::Json(problem)).into_response();
        }
        axum::Json(json!({"ok": true})).into_response()
    }

    /// Spawns the fake on 127.0.0.1:0; its URL and hit counter.
    async fn spawn_fake(
        failures: usize,
        failure: StatusCode,
        delay: Duration,
    ) -> (String, Arc<AtomicUsize>) {
        let hits = Arc::new(AtomicUsize::new(0));
        let fake = Fake {
            hits: hits.clone(),
            failures,
            failure,
            delay,
        };
        let app = Router::new().fallback(fake_handler).with_state(fake);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (format!("http://{addr}"), hits)
    }

    fn policy(attempts: u32) -> CallPolicy {
        CallPolicy {
            timeout: Duration::from_secs(2),
            attempts,
            backoff: Duration::from_millis(1),
        }
    }

    #[derive(Debug, serde::Deserialize)]
    struct Answer {
        ok: bool,
    }

    #[tokio::test]
    async fn transient_failures_are_retried_until_an_answer_comes() {
        let (url, hits) = spawn_fake(2, StatusCode::SERVICE_UNAVAILABLE, Duration::ZERO).await;
        let client = ServiceClient::with_policy("fake", url, policy(3));
        let answer: Answer = client.get_json("/x", None).await.unwrap();
        assert!(answer.ok);
        assert_eq!(hits.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn bad_gateway_and_gateway_timeout_are_retried_too() {
        for status in [StatusCode::BAD_GATEWAY, StatusCode::GATEWAY_TIMEOUT] {
            let (url, hits) = spawn_fake(1, status, Duration::ZERO).await;
            let client = ServiceClient::with_policy("fake", url, policy(2));
            let answer: Answer = client.get_json("/x", None).await.unwrap();
            assert!(answer.ok, "{status}");
            assert_eq!(hits.load(Ordering::SeqCst), 2, "{status}");
        }
    }

    #[tokio::test]
    async fn a_not_found_is_not_retried_and_stays_a_not_found() {
        let (url, hits) = spawn_fake(usize::MAX, StatusCode::NOT_FOUND, Duration::ZERO).await;
        let client = ServiceClient::with_policy("fake", url, policy(3));
        let err = client.get_json::<Answer>("/x", None).await.unwrap_err();
        assert_eq!(err.status, StatusCode::NOT_FOUND);
        assert_eq!(err.detail, "failure 1");
        assert_eq!(hits.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn other_server_errors_are_not_retried() {
        let (url, hits) = spawn_fake(
            usize::MAX,
            StatusCode::INTERNAL_SERVER_ERROR,
            Duration::ZERO,
        )
        .await;
        let client = ServiceClient::with_policy("fake", url, policy(3));
        let err = client.get_json::<Answer>("/x", None).await.unwrap_err();
        assert_eq!(err.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(hits.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn when_the_attempts_are_spent_the_last_error_is_returned() {
        let (url, hits) =
            spawn_fake(usize::MAX, StatusCode::SERVICE_UNAVAILABLE, Duration::ZERO).await;
        let client = ServiceClient::with_policy("fake", url, policy(3));
        let err = client.get_json::<Answer>("/x", None).await.unwrap_err();
        assert_eq!(err.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            err.detail,
            "fake answered 503 Service Unavailable: failure 3"
        );
        assert_eq!(hits.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn retries_to_a_failing_unit_stay_within_the_retry_budget_shared_by_clones() {
        let (url, hits) =
            spawn_fake(usize::MAX, StatusCode::SERVICE_UNAVAILABLE, Duration::ZERO).await;
        let client = ServiceClient::with_policy("fake", url, policy(3));
        let calls = 600;
        let started = std::time::Instant::now();
        for i in 0..calls {
            // Half the calls through a clone: clones share the budget.
            let caller = if i % 2 == 0 {
                client.clone()
            } else {
                client.clone().with_base_url(client.base_url().to_owned())
            };
            assert!(caller.get_json::<Answer>("/x", None).await.is_err());
        }
        // Unbounded, 1,800 hits; the budget allows 20% of the calls, and 10 a second in each
        // 10 s window the run spans.
        let windows = usize::try_from(started.elapsed().as_secs() / 10 + 1).unwrap();
        let most = calls
            + calls * usize::try_from(RETRY_BUDGET.percent).unwrap() / 100
            + usize::try_from(RETRY_BUDGET.min_per_second).unwrap() * 10 * windows;
        let hits = hits.load(Ordering::SeqCst);
        assert!(
            (calls + 1..=most).contains(&hits),
            "{hits} hits, at most {most}"
        );
    }

    #[tokio::test]
    async fn one_attempt_means_no_retry() {
        let (url, hits) = spawn_fake(1, StatusCode::SERVICE_UNAVAILABLE, Duration::ZERO).await;
        let client = ServiceClient::with_policy("fake", url, policy(1));
        let err = client.get_json::<Answer>("/x", None).await.unwrap_err();
        assert_eq!(err.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(hits.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn each_attempt_times_out_and_is_retried() {
        let (url, hits) = spawn_fake(0, StatusCode::OK, Duration::from_secs(5)).await;
        let client = ServiceClient::with_policy(
            "slow",
            url,
            CallPolicy {
                timeout: Duration::from_millis(100),
                attempts: 2,
                backoff: Duration::from_millis(1),
            },
        );
        let started = std::time::Instant::now();
        let err = client.get_json::<Answer>("/x", None).await.unwrap_err();
        assert_eq!(err.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(err.detail, "slow did not answer within 100 ms");
        assert_eq!(hits.load(Ordering::SeqCst), 2);
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "attempts are bounded"
        );
    }

    #[tokio::test]
    async fn an_unreachable_unit_is_unavailable_naming_it() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        let client = ServiceClient::with_policy("gone", url, policy(2));
        let err = client.get_json::<Answer>("/x", None).await.unwrap_err();
        assert_eq!(err.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            err.detail, "gone is unreachable",
            "no URL or port in the answer"
        );
    }

    #[tokio::test]
    async fn a_client_can_be_pointed_elsewhere_keeping_its_policy() {
        let (url, hits) = spawn_fake(1, StatusCode::SERVICE_UNAVAILABLE, Duration::ZERO).await;
        let client = ServiceClient::for_call(ORDER_SERVICE, CART_SERVICE).with_base_url(&url);
        assert_eq!(client.base_url(), url);
        assert_eq!(client.name(), "cart-service");
        let answer: Answer = client.get_json("/x", None).await.unwrap();
        assert!(answer.ok);
        assert_eq!(
            hits.load(Ordering::SeqCst),
            2,
            "the model allows 2 attempts"
        );
    }

    #[test]
    fn only_get_is_ever_sent_more_than_once() {
        let policy = policy(3);
        assert_eq!(policy.attempts_for(&Method::GET), 3);
        for method in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
            assert_eq!(policy.attempts_for(&method), 1, "{method}");
        }
        assert_eq!(
            CallPolicy {
                attempts: 0,
                ..policy
            }
            .attempts_for(&Method::GET),
            1
        );
    }

    #[test]
    fn the_backoff_doubles_from_the_first_pause() {
        let policy = CallPolicy {
            backoff: Duration::from_millis(50),
            ..policy(5)
        };
        assert_eq!(policy.backoff_before(1), Duration::from_millis(50));
        assert_eq!(policy.backoff_before(2), Duration::from_millis(100));
        assert_eq!(policy.backoff_before(3), Duration::from_millis(200));
        assert_eq!(policy.backoff_before(40), Duration::from_millis(50 * 1024));
    }

    #[test]
    fn clients_for_calls_carry_the_numbers_of_the_model() {
        for (from, to) in [
            (PRODUCT_SERVICE, INVENTORY_SERVICE),
            (CART_SERVICE, PRODUCT_SERVICE),
            (ORDER_SERVICE, CART_SERVICE),
        ] {
            let call = topology::call(from, to, "GET").unwrap();
            let client = ServiceClient::for_call(from, to);
            assert_eq!(client.name(), to.name);
            assert_eq!(
                client.policy(),
                CallPolicy {
                    timeout: Duration::from_millis(call.timeout_ms),
                    attempts: call.attempts,
                    backoff: Duration::from_millis(call.backoff_ms),
                }
            );
        }
    }

    #[test]
    #[should_panic(expected = "no GET call from inventory-service to order-service")]
    fn a_call_missing_from_the_model_is_a_programming_error() {
        let _ = ServiceClient::for_call(INVENTORY_SERVICE, ORDER_SERVICE);
    }

    #[test]
    fn every_call_of_the_model_is_usable_and_only_reads_are_retried() {
        for call in topology::CALLS {
            let label = format!("{} {} → {}", call.method, call.from, call.to);
            assert!(call.timeout_ms > 0, "{label}");
            assert!(call.attempts >= 1, "{label}");
            if call.method != "GET" {
                assert_eq!(call.attempts, 1, "{label} is a write");
            }
        }
    }
}
