//! The proxy: routes each request to the upstream owning its path prefix, after rate
//! limiting and authentication, through that upstream's circuit breaker, retrying idempotent
//! requests with exponential backoff. Timeouts, attempts and backoff are those of the
//! architecture model's calls from the gateway to each upstream. What fails upstream is
//! logged in full and answered naming only the unit: a transport error's text carries the
//! upstream's URL.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use platform::ApiError;
use platform::auth::{Claims, JwtKeys};
use platform::client::CallPolicy;
use shared_events::RetryBudget;
use shared_events::topics::RETRY_BUDGET;
use tower::ServiceExt as _;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::breaker::CircuitBreaker;
use crate::config::{Cors, Settings};
use crate::policy;
use crate::rate_limit::{Limit, Limiters};

/// One upstream at run time: where it is, how it is called, and its breaker.
struct Upstream {
    name: String,
    base_url: String,
    routes: Vec<String>,
    read: CallPolicy,
    write_timeout: Duration,
    breaker: Mutex<CircuitBreaker>,
    /// Retries this replica may add to its first attempts on this upstream.
    budget: RetryBudget,
    /// The module's router when it runs in this process (a modular monolith): requests are
    /// handed to it after admission, with no network, breaker or retry.
    module: Option<Router>,
}

impl Upstream {
    /// How `method` is sent: reads with the read policy, writes once with the write timeout.
    fn policy_for(&self, method: &Method) -> CallPolicy {
        if policy::is_idempotent(method) {
            CallPolicy {
                attempts: self.read.attempts.max(1),
                ..self.read
            }
        } else {
            CallPolicy::once(self.write_timeout)
        }
    }

    fn breaker(&self) -> MutexGuard<'_, CircuitBreaker> {
        self.breaker.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

struct Inner {
    upstreams: Vec<Upstream>,
    keys: JwtKeys,
    http: reqwest::Client,
    limiters: Limiters,
    settings: Settings,
}

/// The gateway's shared state. Cloning shares it.
#[derive(Clone)]
pub struct Gateway(Arc<Inner>);

impl Gateway {
    /// A gateway verifying tokens with `keys`, calling each upstream as its settings say, its
    /// rate limits connected to their Redis when they are shared.
    pub async fn new(settings: Settings, keys: JwtKeys) -> anyhow::Result<Self> {
        settings.validate()?;
        let http = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let upstreams = settings
            .upstreams
            .iter()
            .map(|u| Upstream {
                name: u.name.clone(),
                base_url: u.base_url.trim_end_matches('/').to_owned(),
                routes: u.routes.clone(),
                read: u.read,
                write_timeout: u.write_timeout,
                breaker: Mutex::new(CircuitBreaker::new(
                    settings.breaker.failure_threshold,
                    settings.breaker.cool_down,
                )),
                budget: RetryBudget::new(RETRY_BUDGET),
                module: None,
            })
            .collect();
        Self::with_upstreams(settings, keys, http, upstreams).await
    }

    /// The front door of modules running in this process (a modular monolith): the same
    /// admission — rate limits, tokens, body limit, CORS — then each module's routes handed to
    /// its router. `settings.upstreams` is not used.
    pub async fn in_process(
        settings: Settings,
        keys: JwtKeys,
        modules: Vec<(platform::topology::Unit, Router)>,
    ) -> anyhow::Result<Self> {
        settings.validate()?;
        let upstreams = modules
            .into_iter()
            .map(|(unit, router)| Upstream {
                name: unit.name.to_owned(),
                base_url: String::new(),
                routes: unit.routes.iter().map(|r| (*r).to_owned()).collect(),
                read: CallPolicy::once(Duration::MAX),
                write_timeout: Duration::MAX,
                breaker: Mutex::new(CircuitBreaker::new(
                    settings.breaker.failure_threshold,
                    settings.breaker.cool_down,
                )),
                budget: RetryBudget::new(RETRY_BUDGET),
                module: Some(router),
            })
            .collect();
        Self::with_upstreams(settings, keys, reqwest::Client::new(), upstreams).await
    }

    async fn with_upstreams(
        settings: Settings,
        keys: JwtKeys,
        http: reqwest::Client,
        upstreams: Vec<Upstream>,
    ) -> anyhow::Result<Self> {
        let limiters = Limiters::new(&settings).await?;
        Ok(Self(Arc::new(Inner {
            upstreams,
            keys,
            http,
            limiters,
            settings,
        })))
    }

    fn upstream_for(&self, path: &str) -> Option<&Upstream> {
        self.0
            .upstreams
            .iter()
            .find(|u| u.routes.iter().any(|prefix| policy::under(prefix, path)))
    }
}

/// Every upstream prefix routed to the proxy, CORS around it, 404 problem for the rest.
pub fn router(gateway: Gateway) -> Router {
    let cors = cors_layer(&gateway.0.settings.cors);
    let mut router = Router::new();
    for prefix in gateway.0.upstreams.iter().flat_map(|u| &u.routes) {
        router = router
            .route(prefix, any(proxy))
            .route(&format!("{prefix}/{{*rest}}"), any(proxy));
    }
    router
        .fallback(unknown_route)
        .with_state(gateway)
        .layer(cors)
}

/// CORS for browser clients: the listed origins, none, or (development only) any. Preflights
/// are answered here either way; an origin not allowed gets no `access-control-*` header.
fn cors_layer(cors: &Cors) -> CorsLayer {
    let origins: Vec<HeaderValue> = match cors {
        Cors::AnyOrigin => {
            tracing::warn!(
                "CORS allows any origin (APP_ENV=development and API_GATEWAY_CORS_ORIGINS unset): never expose this gateway"
            );
            return CorsLayer::permissive();
        }
        Cors::SameOriginOnly => {
            tracing::info!(
                "API_GATEWAY_CORS_ORIGINS is unset: no other origin may call the API from a browser"
            );
            Vec::new()
        }
        Cors::Origins(origins) => origins
            .iter()
            .filter_map(|origin| HeaderValue::from_str(origin).ok())
            .collect(),
    };
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([
            Method::GET,
            Method::HEAD,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static("idempotency-key"),
            platform::server::REQUEST_ID,
        ])
        .expose_headers([platform::server::REQUEST_ID, header::RETRY_AFTER])
        .max_age(Duration::from_secs(600))
}

/// The 404 problem of a path the gateway does not serve.
pub async fn unknown_route(request: Request) -> ApiError {
    ApiError::not_found(format!(
        "no route for {} {}",
        request.method(),
        request.uri().path()
    ))
}

/// The 429 problem of a spent allowance, with its `retry-after`.
fn too_many(detail: &str, wait: Duration) -> Response {
    with_retry_after(ApiError::new(StatusCode::TOO_MANY_REQUESTS, detail), wait)
}

/// A problem response with a `retry-after` of `wait`, rounded up to whole seconds.
fn with_retry_after(error: ApiError, wait: Duration) -> Response {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let mut response = error.into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
    response
}

/// The caller's verified claims, or why the token was refused (`None` when there is none).
fn authenticate(keys: &JwtKeys, headers: &HeaderMap) -> Result<Option<Claims>, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| ApiError::unauthorized("authorization must be a bearer token"))?;
    keys.verify(token).map(Some)
}

async fn proxy(State(gateway): State<Gateway>, request: Request) -> Response {
    match forward(&gateway, request).await {
        Ok(response) | Err(response) => response,
    }
}

async fn forward(gateway: &Gateway, request: Request) -> Result<Response, Response> {
    let inner = &gateway.0;
    let (parts, body) = request.into_parts();
    let path = parts.uri.path();
    let upstream = gateway
        .upstream_for(path)
        .ok_or_else(|| ApiError::not_found(format!("no route for {path}")).into_response())?;

    let auth = authenticate(&inner.keys, &parts.headers);
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0);
    let ip = policy::client_ip(&parts.headers, peer, inner.settings.trusted_proxy_hops);
    let key = policy::client_key(auth.as_ref().ok().and_then(Option::as_ref), ip);
    hold_to(
        gateway,
        Limit::Requests,
        &key,
        "too many requests; slow down",
    )
    .await?;
    if !policy::is_public(&parts.method, path) {
        match auth {
            Ok(Some(_)) => {}
            Ok(None) => return Err(ApiError::unauthorized("missing bearer token").into_response()),
            Err(err) => return Err(err.into_response()),
        }
    }
    let credentials = policy::is_credential_route(&parts.method, path);
    if credentials {
        hold_to(
            gateway,
            Limit::CredentialsPerAddress,
            &policy::address_key(ip),
            "too many sign-in, sign-up or password-reset requests from this address; try again later",
        )
        .await?;
    }

    let body = axum::body::to_bytes(body, inner.settings.max_body_bytes)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "request body exceeds {} bytes",
                    inner.settings.max_body_bytes
                ),
            )
            .into_response()
        })?;
    if credentials && let Some(account) = policy::account_key(&body) {
        // Per account *and* address: keyed on the account alone, anyone could lock its owner
        // out by failing on purpose from one address; this way guessing is slowed per address
        // and the owner, signing in from elsewhere, is not held to the attacker's allowance.
        hold_to(
            gateway,
            Limit::CredentialsPerAccount,
            &format!("{account}|{}", policy::address_key(ip)),
            "too many sign-in, sign-up or password-reset requests for this account from this address; try again later",
        )
        .await?;
    }
    let mut headers = parts.headers.clone();
    policy::strip_hop_by_hop(&mut headers);
    if let Some(peer) = peer {
        append_forwarded_for(&mut headers, peer.ip());
    }
    if let Some(module) = &upstream.module {
        let mut request = Request::new(Body::from(body));
        *request.method_mut() = parts.method;
        *request.uri_mut() = parts.uri;
        *request.headers_mut() = headers;
        let Ok(response) = module.clone().oneshot(request).await;
        return Ok(response);
    }
    let url = match parts.uri.query() {
        Some(query) => format!("{}{path}?{query}", upstream.base_url),
        None => format!("{}{path}", upstream.base_url),
    };
    let outgoing = Outgoing {
        method: parts.method.clone(),
        url,
        headers,
        body,
    };
    call_with_retries(gateway, upstream, &outgoing).await
}

/// Counts the request against `limit` for `key`; a 429 problem saying `detail` when the
/// allowance is spent.
async fn hold_to(gateway: &Gateway, limit: Limit, key: &str, detail: &str) -> Result<(), Response> {
    gateway.0.limiters.check(limit, key).await.map_err(|wait| {
        tracing::info!(limit = limit.name(), %key, "rate limited");
        too_many(detail, wait)
    })
}

/// Appends the address this hop received the request from, as every proxy does (several
/// `x-forwarded-for` lines become one list, in order).
fn append_forwarded_for(headers: &mut HeaderMap, ip: std::net::IpAddr) {
    let mut chain: Vec<String> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .map(str::to_owned)
        .collect();
    chain.push(ip.to_string());
    if let Ok(value) = HeaderValue::from_str(&chain.join(", ")) {
        headers.insert("x-forwarded-for", value);
    }
}

/// One request as it goes upstream.
struct Outgoing {
    method: Method,
    url: String,
    headers: HeaderMap,
    body: Bytes,
}

/// An upstream answer, read in full.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Answer {
    fn into_response(self) -> Response {
        let mut headers = self.headers;
        policy::strip_hop_by_hop(&mut headers);
        let mut response = Response::new(Body::from(self.body));
        *response.status_mut() = self.status;
        *response.headers_mut() = headers;
        response
    }
}

async fn send(
    gateway: &Gateway,
    outgoing: &Outgoing,
    timeout: Duration,
) -> Result<Answer, reqwest::Error> {
    let response = gateway
        .0
        .http
        .request(outgoing.method.clone(), &outgoing.url)
        .headers(outgoing.headers.clone())
        .body(outgoing.body.clone())
        .timeout(timeout)
        .send()
        .await?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await?;
    Ok(Answer {
        status,
        headers,
        body,
    })
}

/// Sends through the upstream's breaker; GET and HEAD are retried on transport errors and
/// transient 5xx answers as the upstream's read policy and retry budget allow, everything else
/// is sent once.
async fn call_with_retries(
    gateway: &Gateway,
    upstream: &Upstream,
    outgoing: &Outgoing,
) -> Result<Response, Response> {
    let plan = upstream.policy_for(&outgoing.method);
    let mut attempt = 1;
    upstream.budget.request();
    loop {
        let admitted = upstream.breaker().try_acquire(Instant::now());
        if let Err(wait) = admitted {
            return Err(with_retry_after(
                ApiError::unavailable(format!(
                    "{} is unavailable: circuit open after repeated failures",
                    upstream.name
                )),
                wait,
            ));
        }
        let outcome = match send(gateway, outgoing, plan.timeout).await {
            Ok(answer) if !policy::is_failure(answer.status) => {
                upstream.breaker().record_success();
                return Ok(answer.into_response());
            }
            failed => {
                upstream.breaker().record_failure(Instant::now());
                failed
            }
        };
        let retryable = match &outcome {
            Ok(answer) => policy::is_retryable(answer.status),
            Err(_) => true,
        };
        if !retryable || attempt >= plan.attempts || !upstream.budget.try_retry() {
            // The transport error names the upstream's URL: for the log, not the client.
            let error = match &outcome {
                Ok(answer) => answer.status.to_string(),
                Err(err) => err.to_string(),
            };
            tracing::warn!(upstream = %upstream.name, attempt, %error, "upstream call failed");
            return Err(match outcome {
                Ok(answer) => answer.into_response(),
                Err(err) if err.is_timeout() => ApiError::new(
                    StatusCode::GATEWAY_TIMEOUT,
                    format!(
                        "{} did not answer within {} ms",
                        upstream.name,
                        plan.timeout.as_millis()
                    ),
                )
                .into_response(),
                Err(_) => {
                    ApiError::unavailable(format!("{} is unavailable; retry later", upstream.name))
                        .into_response()
                }
            });
        }
        tokio::time::sleep(plan.backoff_before(attempt)).await;
        attempt += 1;
    }
}
