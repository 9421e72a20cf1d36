//! Server boot: wraps a unit's API routes with health, readiness, metrics, request ids, traces
//! and chaos, binds its port, serves until SIGINT/SIGTERM, and drains in-flight requests.

use std::future::Future;
use std::net::SocketAddr;

use axum::Router;
use axum::http::HeaderName;
use axum::middleware;
use axum::routing::get;
use tokio::net::TcpListener;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::chaos::{self, ChaosConfig};
use crate::config::ServiceConfig;
use crate::health::{self, Readiness};
use crate::metrics::{self, Metrics};

/// The header that carries a request's id across units.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The unit's full router: `api` (with chaos applied) plus `/health`, `/ready`, `/metrics`,
/// request-id propagation and request tracing.
pub fn app(
    name: &'static str,
    api: Router,
    chaos_config: ChaosConfig,
    readiness: Readiness,
) -> Router {
    let metrics_registry = Metrics::default();
    let exposition = metrics_registry.clone();
    let api = if chaos_config.is_active() {
        tracing::warn!(service = name, ?chaos_config, "chaos injection is on");
        api.layer(middleware::from_fn_with_state(chaos_config, chaos::inject))
    } else {
        api
    };
    api.merge(health::routes(name, readiness))
        .route(
            "/metrics",
            get(move || async move { metrics::exposition(&exposition, name) }),
        )
        .layer(middleware::from_fn_with_state(
            metrics_registry,
            metrics::track,
        ))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(TraceLayer::new_for_http())
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}

/// Binds the unit's configured address.
pub async fn bind(config: &ServiceConfig) -> anyhow::Result<TcpListener> {
    let listener = TcpListener::bind(config.bind)
        .await
        .map_err(|err| anyhow::anyhow!("cannot listen on {}: {err}", config.bind))?;
    Ok(listener)
}

/// Serves `router` on `listener` until `shutdown` completes, then finishes in-flight requests.
/// Readiness turns false as soon as shutdown starts, so load balancers stop sending traffic.
/// Each request carries its connection's peer address as `ConnectInfo<SocketAddr>` (the
/// gateway keys its per-client rate limit on it).
pub async fn serve(
    name: &str,
    listener: TcpListener,
    router: Router,
    readiness: Readiness,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let addr: SocketAddr = listener.local_addr()?;
    tracing::info!(service = name, %addr, "listening");
    readiness.set(true);
    let draining = readiness.clone();
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown.await;
        draining.set(false);
    })
    .await?;
    tracing::info!(service = name, "stopped");
    Ok(())
}

/// Completes on Ctrl-C or SIGTERM (what Kubernetes and compose send).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received");
}

/// What a unit's library exposes to start it: its full router, with its consumers subscribed.
pub type StartFn<F> =
    fn(ServiceConfig, std::sync::Arc<dyn shared_events::EventBus>, Readiness) -> F;

/// The whole `main` of a unit: config from the environment, logs, the event bus, `start`,
/// then serve until a shutdown signal.
///
/// With `migrate` as the first command-line argument it instead applies `migrator` to the
/// database of `DATABASE_URL` and exits (what a Kubernetes Job or init container runs before
/// the new version starts); that fails when `DATABASE_URL` is unset or the unit has no
/// migrations (`None`). With `healthcheck` it asks the unit running on this host's configured
/// port for `/ready` and exits 0 only on `200`: the container healthcheck of an image that has
/// no shell or curl. With `create-topics` it creates every topic of the model and its
/// dead-letter topic on the Kafka brokers of `KAFKA_BROKERS` and exits (any unit can; topics
/// that exist are left alone).
pub async fn run<F>(
    unit: crate::topology::Unit,
    start: StartFn<F>,
    migrator: Option<&'static sqlx::migrate::Migrator>,
) -> anyhow::Result<()>
where
    F: Future<Output = anyhow::Result<Router>>,
{
    let config = ServiceConfig::from_env(unit)?;
    crate::telemetry::init(config.log_format);
    match Command::parse(std::env::args().skip(1))? {
        Command::Migrate => return migrate_only(unit, migrator).await,
        Command::Healthcheck => return healthcheck(&config),
        Command::CreateTopics => return create_topics(unit).await,
        Command::Serve => {}
    }
    if config.jwt_secret == crate::config::DEV_JWT_SECRET {
        tracing::warn!("JWT_SECRET is unset: signing with the development secret");
    }
    let bus = crate::bus::from_env(unit).await?;
    let readiness = Readiness::default();
    let listener = bind(&config).await?;
    let router = start(config, bus.clone(), readiness.clone()).await?;
    let served = serve(unit.name, listener, router, readiness, shutdown_signal()).await;
    // Leave the consumer groups now rather than when the broker notices the silence.
    bus.close().await;
    served
}

/// What the command line asks a unit's binary to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Command {
    /// No argument: serve.
    Serve,
    /// `migrate`: apply the database migrations and exit.
    Migrate,
    /// `healthcheck`: exit 0 when the running unit answers `/ready` with `200`.
    Healthcheck,
    /// `create-topics`: create every topic and its dead-letter topic on Kafka and exit.
    CreateTopics,
}

impl Command {
    fn parse(mut args: impl Iterator<Item = String>) -> anyhow::Result<Self> {
        match (args.next().as_deref(), args.next()) {
            (None, _) => Ok(Self::Serve),
            (Some("migrate"), None) => Ok(Self::Migrate),
            (Some("healthcheck"), None) => Ok(Self::Healthcheck),
            (Some("create-topics"), None) => Ok(Self::CreateTopics),
            (Some(other), _) => anyhow::bail!(
                "unknown arguments starting with `{other}`: run without arguments to serve, `migrate` to apply the database migrations, `healthcheck` to probe a running unit, or `create-topics` to create the Kafka topics"
            ),
        }
    }
}

/// One `GET /ready` to the unit listening on `config.bind` (on loopback when it binds every
/// address), with std only so that it works in a distroless image.
fn healthcheck(config: &ServiceConfig) -> anyhow::Result<()> {
    use std::io::{Read, Write};
    use std::time::Duration;

    let mut addr = config.bind;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));
    }
    let timeout = Duration::from_secs(2);
    let mut stream = std::net::TcpStream::connect_timeout(&addr, timeout)
        .map_err(|err| anyhow::anyhow!("{} is not listening on {addr}: {err}", config.unit.name))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    stream.write_all(b"GET /ready HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")?;
    let mut head = [0_u8; 12];
    stream.read_exact(&mut head)?;
    let status = String::from_utf8_lossy(&head[9..12]).into_owned();
    anyhow::ensure!(
        status == "200",
        "{} on {addr} is not ready: /ready answered {status}",
        config.unit.name
    );
    Ok(())
}

async fn migrate_only(
    unit: crate::topology::Unit,
    migrator: Option<&'static sqlx::migrate::Migrator>,
) -> anyhow::Result<()> {
    let Some(migrator) = migrator else {
        anyhow::bail!("{} has no database migrations", unit.name);
    };
    let Some(database) = crate::db::Database::from_env()? else {
        anyhow::bail!("`migrate` needs DATABASE_URL: the database to apply the migrations to");
    };
    let pool = database.connect().await?;
    crate::db::migrate(&pool, migrator).await?;
    tracing::info!(
        service = unit.name,
        database = database.redacted_url(),
        "migrations applied"
    );
    pool.close().await;
    Ok(())
}

async fn create_topics(unit: crate::topology::Unit) -> anyhow::Result<()> {
    let bus = crate::bus::kafka_from_env(unit).await?;
    let created = bus.create_topics(shared_events::topics::ALL).await;
    shared_events::EventBus::close(&bus).await;
    let created = created?;
    tracing::info!(
        service = unit.name,
        topics = shared_events::topics::ALL.len() * 2,
        ?created,
        "Kafka topics and dead-letter topics exist"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use axum::extract::ConnectInfo;
    use tokio::sync::oneshot;

    use super::*;

    fn parse(args: &[&str]) -> anyhow::Result<Command> {
        Command::parse(args.iter().map(|arg| (*arg).to_owned()))
    }

    #[test]
    fn the_command_line_selects_serving_or_migrating() {
        assert_eq!(parse(&[]).unwrap(), Command::Serve);
        assert_eq!(parse(&["migrate"]).unwrap(), Command::Migrate);
        assert_eq!(parse(&["healthcheck"]).unwrap(), Command::Healthcheck);
        assert_eq!(parse(&["create-topics"]).unwrap(), Command::CreateTopics);
        assert!(parse(&["migrate", "now"]).is_err());
        assert!(
            parse(&["serve"])
                .unwrap_err()
                .to_string()
                .contains("`migrate`")
        );
    }

    #[tokio::test]
    async fn healthcheck_passes_only_while_the_unit_is_ready() {
        let unit = crate::topology::Unit {
            name: "probe",
            port: 0,
            env_prefix: "PROBE",
            routes: &[],
        };
        let readiness = Readiness::default();
        let router = app(
            "probe",
            Router::new(),
            ChaosConfig::default(),
            readiness.clone(),
        );
        let listener = TcpListener::bind("0.0.0.0:0").await.unwrap();
        let mut config = ServiceConfig::for_tests(unit);
        config.bind = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(serve(
            "probe",
            listener,
            router,
            readiness.clone(),
            async move {
                let _ = stopped.await;
            },
        ));
        let probe = config.clone();
        tokio::task::spawn_blocking(move || healthcheck(&probe))
            .await
            .unwrap()
            .unwrap();
        readiness.set(false);
        let probe = config.clone();
        let err = tokio::task::spawn_blocking(move || healthcheck(&probe))
            .await
            .unwrap()
            .unwrap_err();
        assert!(err.to_string().contains("not ready"), "{err}");
        stop.send(()).unwrap();
        server.await.unwrap().unwrap();
        assert!(healthcheck(&config).is_err());
    }

    #[tokio::test]
    async fn handlers_see_the_peer_address_and_shutdown_drains_readiness() {
        let router = Router::new().route(
            "/peer",
            get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.ip().to_string() }),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let readiness = Readiness::default();
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(serve(
            "test",
            listener,
            router,
            readiness.clone(),
            async move {
                let _ = stopped.await;
            },
        ));
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let peer = http
            .get(format!("{url}/peer"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(peer, "127.0.0.1");
        assert!(readiness.is_ready());
        stop.send(()).unwrap();
        server.await.unwrap().unwrap();
        assert!(!readiness.is_ready());
    }
}
