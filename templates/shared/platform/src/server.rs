//! Server boot: wraps a unit's API routes with health, readiness, metrics, request ids, traces
//! and chaos, binds its port, serves until SIGINT/SIGTERM, then keeps serving for the drain
//! delay while `/ready` answers 503 (so load balancers stop sending first), and finishes
//! in-flight requests.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::http::HeaderName;
use axum::middleware;
use axum::routing::get;
use tokio::net::TcpListener;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::chaos::{self, ChaosConfig};
use crate::config::{AppEnv, ConfigError, ServiceConfig, env_or};
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
    readiness.set_serving(true);
    let draining = readiness.clone();
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown.await;
        draining.set_serving(false);
    })
    .await?;
    tracing::info!(service = name, "stopped");
    Ok(())
}

/// The variable setting how long a unit keeps serving after SIGTERM ([`drain_from_env`]).
pub const SHUTDOWN_DRAIN_SECS: &str = "SHUTDOWN_DRAIN_SECS";

/// The drain delay in production unless `SHUTDOWN_DRAIN_SECS` says otherwise. Kubernetes
/// removes a terminating pod from its Service's endpoints when it sends SIGTERM, but every
/// node's kube-proxy and the ingress controller learn it a moment later (about a second, more
/// on a busy cluster): 5 s covers that with room, and adds only 5 s to each replica's
/// replacement in a rolling deploy.
pub const DEFAULT_DRAIN: Duration = Duration::from_secs(5);

/// How long to keep serving after the shutdown signal: `SHUTDOWN_DRAIN_SECS`, by default
/// [`DEFAULT_DRAIN`] in production and 0 in development (Ctrl-C stops at once).
pub fn drain_from_env(env: AppEnv) -> Result<Duration, ConfigError> {
    let default = default_drain(env).as_secs();
    Ok(Duration::from_secs(env_or(SHUTDOWN_DRAIN_SECS, default)?))
}

fn default_drain(env: AppEnv) -> Duration {
    if env.is_development() {
        Duration::ZERO
    } else {
        DEFAULT_DRAIN
    }
}

/// Completes `drain` after `signal` does: readiness turns false at once (so `/ready` answers
/// 503) and the unit keeps serving meanwhile, so requests routed before the load balancers
/// noticed are answered instead of refused. Pass it to [`serve`] as the shutdown future.
pub async fn drain_after(signal: impl Future<Output = ()>, readiness: Readiness, drain: Duration) {
    signal.await;
    readiness.set_serving(false);
    if !drain.is_zero() {
        tracing::info!(
            ?drain,
            "not ready: serving for the drain delay, then finishing in-flight requests"
        );
        tokio::time::sleep(drain).await;
    }
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

/// What a [`UnitCommand`] runs: a future that does the job and ends.
pub type CommandFuture = std::pin::Pin<Box<dyn Future<Output = anyhow::Result<()>>>>;

/// A command of one unit's binary, run instead of serving when its name is the first
/// argument (the user service's `create-admin`). It gets the arguments after its name and,
/// when it asks for it, the unit's configuration; logs are set up before it runs.
#[derive(Clone, Copy)]
pub struct UnitCommand {
    /// The first argument that selects it, e.g. `create-admin`.
    pub name: &'static str,
    /// What it does, completing "`<name>` to …" in the error for an unknown argument.
    pub purpose: &'static str,
    pub run: CommandRun,
}

/// How a [`UnitCommand`] runs.
#[derive(Clone, Copy)]
pub enum CommandRun {
    /// With the unit's configuration, which production requires in full (e.g. its database).
    Configured(fn(ServiceConfig, Vec<String>) -> CommandFuture),
    /// Without reading the unit's configuration, so that it works anywhere (e.g. making a
    /// key on an operator's machine); it writes its result to standard output.
    Standalone(fn(&[String]) -> anyhow::Result<()>),
}

impl std::fmt::Debug for UnitCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnitCommand")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// The whole `main` of a unit: config from the environment, logs, the event bus, `start`,
/// then serve until a shutdown signal.
///
/// With `migrate` as the first command-line argument it instead applies `migrations` (each in
/// its schema) to the database of `DATABASE_URL` and exits (what a Kubernetes Job or init
/// container runs before the new version starts); that fails when `DATABASE_URL` is unset or
/// the unit has no migrations (`&[]`). With `healthcheck` it asks the unit running on this host's configured
/// port for `/ready` and exits 0 only on `200`: the container healthcheck of an image that has
/// no shell or curl. With `create-topics` it creates every topic of the model and its
/// dead-letter topic on the Kafka brokers of `KAFKA_BROKERS` and exits (any unit can; topics
/// that exist are left alone). `dead-letters` and `replay-dead-letters` list and deliver again
/// what the unit's consumers parked on Kafka (see [`crate::dead_letters`]).
pub async fn run<F>(
    unit: crate::topology::Unit,
    start: StartFn<F>,
    migrations: &[crate::db::Migrations],
) -> anyhow::Result<()>
where
    F: Future<Output = anyhow::Result<Router>>,
{
    run_with(unit, start, migrations, &[]).await
}

/// [`run`] for a unit whose binary has commands of its own besides the platform's (`migrate`,
/// `healthcheck`, …): the first argument naming one of `commands` runs it instead of serving.
pub async fn run_with<F>(
    unit: crate::topology::Unit,
    start: StartFn<F>,
    migrations: &[crate::db::Migrations],
    commands: &[UnitCommand],
) -> anyhow::Result<()>
where
    F: Future<Output = anyhow::Result<Router>>,
{
    crate::telemetry::init(crate::config::env_or(
        "LOG_FORMAT",
        crate::config::LogFormat::Pretty,
    )?);
    // The commands that need only their own variables do not read the unit's configuration:
    // a migration Job has no signing keys.
    match Command::parse(std::env::args().skip(1), commands)? {
        Command::Migrate => return migrate_only(unit, migrations).await,
        Command::CreateTopics => return create_topics(unit).await,
        Command::DeadLetters => return crate::dead_letters::list(unit).await,
        Command::ReplayDeadLetters(selection) => {
            return crate::dead_letters::replay(unit, &selection).await;
        }
        Command::Unit(command, args) => {
            return match command.run {
                CommandRun::Standalone(run) => run(&args),
                CommandRun::Configured(run) => run(ServiceConfig::from_env(unit)?, args).await,
            };
        }
        Command::Healthcheck => return healthcheck(&ServiceConfig::from_env(unit)?),
        Command::Serve => {}
    }
    let config = ServiceConfig::from_env(unit)?;
    if config.env.is_development() {
        tracing::warn!(
            service = unit.name,
            "APP_ENV=development: development defaults apply (never expose this unit)"
        );
        if config.jwt_keys.accept_the_development_key() {
            tracing::warn!(
                "accepting access tokens signed with the public development key (JWT_PUBLIC_KEYS is unset or holds it)"
            );
        }
    }
    let drain = drain_from_env(config.env)?;
    let readiness = Readiness::default();
    let bus = crate::bus::from_env(unit, &readiness).await?;
    let listener = bind(&config).await?;
    let router = start(config, bus.clone(), readiness.clone()).await?;
    let shutdown = drain_after(shutdown_signal(), readiness.clone(), drain);
    let served = serve(unit.name, listener, router, readiness, shutdown).await;
    // Leave the consumer groups now rather than when the broker notices the silence.
    bus.close().await;
    served
}

/// What the command line asks a unit's binary to do.
#[derive(Debug, Clone)]
enum Command {
    /// No argument: serve.
    Serve,
    /// `migrate`: apply the database migrations and exit.
    Migrate,
    /// `healthcheck`: exit 0 when the running unit answers `/ready` with `200`.
    Healthcheck,
    /// `create-topics`: create every topic and its dead-letter topic on Kafka and exit.
    CreateTopics,
    /// `dead-letters`: list the events this unit's consumers parked on Kafka and exit.
    DeadLetters,
    /// `replay-dead-letters (--all | EVENT_ID...)`: deliver them again and exit.
    ReplayDeadLetters(crate::dead_letters::Selection),
    /// One of the unit's own commands, with the arguments after its name.
    Unit(UnitCommand, Vec<String>),
}

impl Command {
    fn parse(
        mut args: impl Iterator<Item = String>,
        commands: &[UnitCommand],
    ) -> anyhow::Result<Self> {
        let Some(first) = args.next() else {
            return Ok(Self::Serve);
        };
        if let Some(command) = commands.iter().find(|command| command.name == first) {
            return Ok(Self::Unit(*command, args.collect()));
        }
        if first == "replay-dead-letters" {
            let rest: Vec<String> = args.collect();
            return Ok(Self::ReplayDeadLetters(
                crate::dead_letters::Selection::parse(&rest)?,
            ));
        }
        match (first.as_str(), args.next()) {
            ("migrate", None) => Ok(Self::Migrate),
            ("healthcheck", None) => Ok(Self::Healthcheck),
            ("create-topics", None) => Ok(Self::CreateTopics),
            ("dead-letters", None) => Ok(Self::DeadLetters),
            (other, _) => {
                let own = commands.iter().fold(String::new(), |mut own, command| {
                    use std::fmt::Write as _;
                    let _ = write!(own, ", `{}` to {}", command.name, command.purpose);
                    own
                });
                anyhow::bail!(
                    "unknown arguments starting with `{other}`: run without arguments to serve, `migrate` to apply the database migrations, `healthcheck` to probe a running unit{own}, `create-topics` to create the Kafka topics, `dead-letters` to list the events this unit's consumers gave up on, or `replay-dead-letters --all` / `replay-dead-letters EVENT_ID...` to deliver them again"
                )
            }
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
    migrations: &[crate::db::Migrations],
) -> anyhow::Result<()> {
    if migrations.is_empty() {
        anyhow::bail!("{} has no database migrations", unit.name);
    }
    // Whatever the environment, `migrate` needs a database: say so in its own words.
    let Some(database) = crate::db::Database::from_env(crate::config::AppEnv::Development)? else {
        anyhow::bail!("`migrate` needs DATABASE_URL: the database to apply the migrations to");
    };
    for migration in migrations {
        let database = match migration.schema {
            Some(schema) => database.clone().in_schema(schema),
            None => database.clone(),
        };
        let pool = crate::db::open(Some(&database), migration.migrator)
            .await?
            .ok_or_else(|| anyhow::anyhow!("no database to migrate"))?;
        tracing::info!(
            service = unit.name,
            database = database.redacted_url(),
            schema = migration.schema.unwrap_or("(default)"),
            "migrations applied"
        );
        pool.close().await;
    }
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
        parse_with(args, &[])
    }

    fn parse_with(args: &[&str], commands: &[UnitCommand]) -> anyhow::Result<Command> {
        Command::parse(args.iter().map(|arg| (*arg).to_owned()), commands)
    }

    #[test]
    fn the_command_line_selects_serving_or_migrating() {
        assert!(matches!(parse(&[]).unwrap(), Command::Serve));
        assert!(matches!(parse(&["migrate"]).unwrap(), Command::Migrate));
        assert!(matches!(
            parse(&["healthcheck"]).unwrap(),
            Command::Healthcheck
        ));
        assert!(matches!(
            parse(&["create-topics"]).unwrap(),
            Command::CreateTopics
        ));
        assert!(matches!(
            parse(&["dead-letters"]).unwrap(),
            Command::DeadLetters
        ));
        assert!(matches!(
            parse(&["replay-dead-letters", "--all"]).unwrap(),
            Command::ReplayDeadLetters(crate::dead_letters::Selection::All)
        ));
        assert!(parse(&["replay-dead-letters"]).is_err(), "which ones?");
        assert!(parse(&["migrate", "now"]).is_err());
        assert!(
            parse(&["serve"])
                .unwrap_err()
                .to_string()
                .contains("`migrate`")
        );
    }

    #[test]
    fn a_units_own_command_gets_the_arguments_after_its_name() {
        fn nothing(_: ServiceConfig, _: Vec<String>) -> CommandFuture {
            Box::pin(async { Ok(()) })
        }
        let own = [UnitCommand {
            name: "create-admin",
            purpose: "create an admin",
            run: CommandRun::Configured(nothing),
        }];
        let Command::Unit(command, args) =
            parse_with(&["create-admin", "--email", "ops@example.com"], &own).unwrap()
        else {
            panic!("`create-admin` is the unit's command");
        };
        assert_eq!(command.name, "create-admin");
        assert_eq!(args, ["--email", "ops@example.com"]);
        let err = parse_with(&["create-user"], &own).unwrap_err().to_string();
        assert!(err.contains("`create-admin` to create an admin"), "{err}");
        assert!(
            !parse(&["create-admin"])
                .unwrap_err()
                .to_string()
                .contains("create-admin` to"),
            "a unit without the command does not offer it"
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
        readiness.set_serving(false);
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

    #[test]
    fn production_drains_by_default_and_development_stops_at_once() {
        assert_eq!(default_drain(AppEnv::Production), DEFAULT_DRAIN);
        assert_eq!(default_drain(AppEnv::Development), Duration::ZERO);
    }

    #[tokio::test]
    async fn after_the_signal_the_unit_answers_not_ready_but_serves_until_the_drain_ends() {
        let readiness = Readiness::default();
        let api = Router::new().route("/work", get(|| async { "done" }));
        let router = app("drain", api, ChaosConfig::default(), readiness.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (signal, signalled) = oneshot::channel::<()>();
        let drain = Duration::from_millis(600);
        let shutdown = drain_after(
            async move {
                let _ = signalled.await;
            },
            readiness.clone(),
            drain,
        );
        let server = tokio::spawn(serve(
            "drain",
            listener,
            router,
            readiness.clone(),
            shutdown,
        ));
        // A new client per request: new connections are accepted during the drain too.
        let get = |path: &str| {
            let url = format!("{url}{path}");
            async move {
                let http = reqwest::Client::builder().no_proxy().build().unwrap();
                http.get(url).send().await.unwrap()
            }
        };
        assert_eq!(get("/ready").await.status(), 200);

        signal.send(()).unwrap();
        let signalled_at = std::time::Instant::now();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(get("/ready").await.status(), 503, "not ready at once");
        let work = get("/work").await;
        assert_eq!(work.status(), 200, "still serving while draining");
        assert_eq!(work.text().await.unwrap(), "done");

        server.await.unwrap().unwrap();
        assert!(
            signalled_at.elapsed() >= drain,
            "stopped after {:?}, before the drain ended",
            signalled_at.elapsed()
        );
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
        assert!(readiness.is_serving());
        stop.send(()).unwrap();
        server.await.unwrap().unwrap();
        assert!(!readiness.is_serving());
    }
}
