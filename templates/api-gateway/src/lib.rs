//! The API gateway is the platform's single entry point. It routes `/api/v1/...` to the
//! service owning each path prefix (from the topology), validates access tokens on protected
//! routes, rate-limits each client (and, tighter, each address and account trying
//! credentials) by GCRA, in process or shared by every replica through Redis, answers CORS,
//! and protects clients from failing services with per-upstream timeouts, retries with
//! exponential backoff for idempotent requests (both as the architecture model's calls say),
//! and a circuit breaker per upstream. Errors are problem+json and name no upstream's address.
//! It is served by `platform::server::serve`, which gives each request its peer address for
//! the per-client rate limit. Its `/metrics` is served only on a second, internal port: the
//! public port answers 404 for it.

use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use platform::ServiceConfig;
use platform::health::Readiness;
use shared_events::EventBus;

pub mod breaker;
pub mod config;
pub mod policy;
pub mod proxy;
pub mod rate_limit;

pub use config::Settings;

/// The path of the Prometheus exposition.
pub const METRICS_PATH: &str = "/metrics";

/// The gateway's two faces: `public` for clients (everything but `/metrics`, which it
/// answers 404) and `internal` for the metrics scraper (`/metrics` only). They share one
/// metrics registry, so `internal` counts the public traffic.
pub struct Routers {
    pub public: Router,
    pub internal: Router,
}

/// Starts the gateway with settings from the environment, and serves `/metrics` on
/// `API_GATEWAY_METRICS_PORT` of the configured host until the process ends.
pub async fn start(
    config: ServiceConfig,
    bus: Arc<dyn EventBus>,
    readiness: Readiness,
) -> anyhow::Result<Router> {
    let settings = Settings::from_env(config.env)?;
    let metrics_addr = std::net::SocketAddr::new(config.bind.ip(), settings.metrics_port);
    warn_unshared_limits(&config, &settings);
    let routers = routers(config, settings, bus, readiness).await?;
    routers.serve_internal(metrics_addr).await
}

/// Says once that replicas do not share their rate limits, where that matters.
pub fn warn_unshared_limits(config: &ServiceConfig, settings: &Settings) {
    if settings.shared_limits.is_none() && !config.env.is_development() {
        tracing::warn!(
            "API_GATEWAY_REDIS_URL is unset: each replica keeps its own rate limits, so n replicas allow n times the limits"
        );
    }
}

impl Routers {
    /// Serves `internal` (`/metrics`) on `addr` until the process ends, and answers `public`.
    pub async fn serve_internal(self, addr: std::net::SocketAddr) -> anyhow::Result<Router> {
        let Self { public, internal } = self;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|err| anyhow::anyhow!("cannot listen on {addr} for /metrics: {err}"))?;
        tokio::spawn(async move {
            let served = platform::server::serve(
                "/metrics",
                listener,
                internal,
                Readiness::default(),
                std::future::pending(),
            )
            .await;
            if let Err(err) = served {
                tracing::error!(error = %err, "the /metrics listener stopped");
            }
        });
        Ok(public)
    }
}

/// The front door of modules running in this process (a modular monolith): both faces of a
/// gateway whose every upstream is a module's router, handed each request in process after
/// the same admission (rate limits, tokens, body limit, CORS). `config` is the serving unit's.
pub async fn front_door(
    config: ServiceConfig,
    settings: Settings,
    modules: Vec<(platform::topology::Unit, Router)>,
    readiness: Readiness,
) -> anyhow::Result<Routers> {
    let gateway = proxy::Gateway::in_process(settings, config.jwt_keys.clone(), modules).await?;
    Ok(faces(&config, gateway, readiness))
}

/// Starts the gateway with explicit settings (tests and the devstack): its public router,
/// whose `/metrics` answers 404. The bus is unused: the gateway neither publishes nor
/// consumes events.
pub async fn start_with(
    config: ServiceConfig,
    settings: Settings,
    bus: Arc<dyn EventBus>,
    readiness: Readiness,
) -> anyhow::Result<Router> {
    Ok(routers(config, settings, bus, readiness).await?.public)
}

/// Both routers of a gateway with `settings`, connected to the Redis of its shared limits
/// when it has one.
pub async fn routers(
    config: ServiceConfig,
    settings: Settings,
    _bus: Arc<dyn EventBus>,
    readiness: Readiness,
) -> anyhow::Result<Routers> {
    let keys = config.jwt_keys.clone();
    let gateway = proxy::Gateway::new(settings, keys).await?;
    // `/ready` registers no dependency check here. The services behind the gateway each have
    // their own readiness and circuit breaker: a failing one answers 503 for its routes while
    // the others work, and would make every replica of the front door unready at once if it
    // counted. The rate-limit Redis has a stand-in (each replica's own limiter), so the
    // gateway serves without it too.
    Ok(faces(&config, gateway, readiness))
}

/// The public face (everything but `/metrics`) and the internal one (`/metrics` only) of
/// `gateway`, served as `config`'s unit.
fn faces(config: &ServiceConfig, gateway: proxy::Gateway, readiness: Readiness) -> Routers {
    let app = platform::server::app(
        config.unit.name,
        proxy::router(gateway),
        config.chaos,
        readiness,
    );
    Routers {
        public: app.clone().layer(middleware::from_fn(hide_metrics)),
        internal: app.layer(middleware::from_fn(only_metrics)),
    }
}

/// The public port: `/metrics` is not there (it names routes, upstreams and traffic).
async fn hide_metrics(request: Request, next: Next) -> Response {
    if request.uri().path() == METRICS_PATH {
        return proxy::unknown_route(request).await.into_response();
    }
    next.run(request).await
}

/// The internal port: `/metrics` and nothing else.
async fn only_metrics(request: Request, next: Next) -> Response {
    if request.uri().path() != METRICS_PATH {
        return proxy::unknown_route(request).await.into_response();
    }
    next.run(request).await
}
