//! Like `platform::server::run`, but served with each connection's peer address, which the
//! per-client rate limit keys on.

use std::sync::Arc;

use platform::topology::API_GATEWAY;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = platform::ServiceConfig::from_env(API_GATEWAY)?;
    platform::telemetry::init(config.log_format);
    if config.jwt_secret == platform::config::DEV_JWT_SECRET {
        tracing::warn!("JWT_SECRET is unset: verifying with the development secret");
    }
    let readiness = platform::health::Readiness::default();
    let listener = platform::server::bind(&config).await?;
    // The gateway neither publishes nor consumes events.
    let bus = Arc::new(shared_events::InMemoryEventBus::default());
    let router = api_gateway::start(config, bus, readiness.clone()).await?;
    api_gateway::serve(
        listener,
        router,
        readiness,
        platform::server::shutdown_signal(),
    )
    .await
}
