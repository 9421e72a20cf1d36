//! The devstack runs every service and the API gateway in one process, sharing one
//! [`InMemoryEventBus`], so the whole checkout saga (order → inventory → payment → order →
//! cart, inventory, notification) runs on a laptop with no broker, database or container.
//! With [`Options::kafka`] they share one Kafka bus instead (the topics are created at start).
//! With [`Storage::Postgres`] each service that supports it stores its data in its own
//! `PostgreSQL` database instead (and publishes through its outbox); see [`storage`].
//!
//! [`start`] binds every unit's listener first (so ephemeral ports are known before anything
//! starts), points each unit's upstream URLs at the addresses actually bound, starts the units
//! in dependency order ([`topology::SERVICES`], then the gateway), and waits until each one's
//! `/ready` answers 200. [`Devstack::shutdown`] marks every unit not ready, sends one stop
//! signal to all servers, and waits for them to drain.

pub mod storage;

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use api_gateway::config::RateLimitSettings;
use axum::Router;
use platform::ServiceConfig;
use platform::config::AppEnv;
use platform::db::Database;
use platform::health::Readiness;
use platform::topology::{self, Unit};
use shared_events::{EventBus, InMemoryEventBus, KafkaConfig, KafkaEventBus, topics};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

pub use crate::storage::{PostgresStorage, Storage};

/// Where the units listen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ports {
    /// Each unit on its own port: `<PREFIX>_PORT`, else the topology's, on `HOST` (default
    /// 127.0.0.1). Each unit's `ServiceConfig` comes from the environment (`JWT_PUBLIC_KEYS`,
    /// `CHAOS_PROFILE`, …).
    Fixed,
    /// Every unit on a free port of 127.0.0.1 picked by the OS, with
    /// `ServiceConfig::for_tests` (development JWT secret, no chaos): for tests, which may run
    /// several stacks at once.
    Ephemeral,
}

/// The service-specific settings of every unit. Upstream URLs in them are overwritten by
/// [`start`] with the addresses it binds.
#[derive(Debug, Clone)]
pub struct UnitSettings {
    pub user: user_service::Settings,
    pub product: product_service::config::Settings,
    pub inventory: inventory_service::config::Settings,
    pub cart: cart_service::config::Settings,
    pub order: order_service::Settings,
    pub payment: payment_service::Settings,
    pub notification: notification_service::Settings,
    pub gateway: api_gateway::Settings,
}

impl Default for UnitSettings {
    /// Every unit's local defaults.
    fn default() -> Self {
        Self {
            user: user_service::Settings::default(),
            product: product_service::config::Settings::default(),
            inventory: inventory_service::config::Settings::default(),
            cart: cart_service::config::Settings::default(),
            order: order_service::Settings::default(),
            payment: payment_service::Settings::default(),
            notification: notification_service::Settings::default(),
            gateway: api_gateway::Settings::default(),
        }
    }
}

impl UnitSettings {
    /// Every unit's `Settings::from_env`, naming the unit whose variables are unusable.
    pub fn from_env() -> anyhow::Result<Self> {
        let env = app_env()?;
        Ok(Self {
            user: user_service::Settings::from_env(env).context(topology::USER_SERVICE.name)?,
            product: product_service::config::Settings::from_env(env)
                .context(topology::PRODUCT_SERVICE.name)?,
            inventory: inventory_service::config::Settings::from_env(env)
                .context(topology::INVENTORY_SERVICE.name)?,
            cart: cart_service::config::Settings::from_env(env)
                .context(topology::CART_SERVICE.name)?,
            order: order_service::Settings::from_env(env).context(topology::ORDER_SERVICE.name)?,
            payment: payment_service::Settings::from_env(env)
                .context(topology::PAYMENT_SERVICE.name)?,
            notification: notification_service::Settings::from_env(env)
                .context(topology::NOTIFICATION_SERVICE.name)?,
            gateway: api_gateway::Settings::from_env(env).context(topology::API_GATEWAY.name)?,
        })
    }
}

/// The devstack is a development tool: `APP_ENV` defaults to development here (in-memory
/// storage, the public development signing key, demo data), and `APP_ENV=production` holds it to
/// what a deployment must configure.
pub(crate) fn app_env() -> anyhow::Result<AppEnv> {
    Ok(AppEnv::from_env_or(AppEnv::Development)?)
}

/// How to run the stack.
#[derive(Debug, Clone)]
pub struct Options {
    pub ports: Ports,
    /// Every unit's settings.
    pub settings: UnitSettings,
    /// How long one unit may take to answer `/ready` with 200 after it starts serving.
    pub ready_timeout: Duration,
    /// How long [`Devstack::shutdown`] waits for the servers to finish in-flight requests.
    pub drain_timeout: Duration,
    /// In memory, or `PostgreSQL` for every service that supports it.
    pub storage: Storage,
    /// `None`: the units share an in-memory bus. Some: they share one Kafka bus, and
    /// [`Devstack::settled`] can only watch the outboxes (events in flight on the broker are
    /// invisible to it), so callers wait for the outcomes they expect.
    pub kafka: Option<KafkaConfig>,
}

impl Options {
    /// The stack `cargo run -p devstack` runs: fixed ports and every setting from the
    /// environment. `DATABASE_URL` set ⇒ [`Storage::from_env`]: `PostgreSQL` on that server, one
    /// database per service; `REDIS_URL` set ⇒ the cart service keeps carts in Redis;
    /// `DEVSTACK_ADMIN_EMAIL` and `DEVSTACK_ADMIN_PASSWORD` set ⇒ [`Options::with_admin`].
    pub fn from_env() -> anyhow::Result<Self> {
        let storage = Storage::from_env()?;
        let mut kafka = platform::bus::kafka_config_from_env("devstack");
        if let (Some(config), Storage::InMemory) = (kafka.as_mut(), &storage) {
            // In memory every run starts empty: events an earlier run left on the broker name
            // orders this run never had, so each run reads and writes topics of its own.
            config.namespace = fresh_namespace();
        }
        let mut settings = UnitSettings::from_env()?;
        settings.user.development_admin =
            user_service::config::AdminAccount::from_vars(ADMIN_EMAIL, ADMIN_PASSWORD, |key| {
                std::env::var(key).ok()
            })?;
        Ok(Self {
            ports: Ports::Fixed,
            settings,
            ready_timeout: Duration::from_secs(10),
            drain_timeout: Duration::from_secs(10),
            storage,
            kafka,
        })
    }

    /// A stack for tests: ephemeral ports, the defaults, password hashing cheap enough for
    /// many registrations, and gateway rate limits no test reaches.
    #[must_use]
    pub fn for_tests() -> Self {
        let mut settings = UnitSettings::default();
        settings.user.hashing = user_service::config::HashingCost::insecure_for_tests();
        let unreachable = RateLimitSettings {
            per_second: 10_000.0,
            burst: 10_000,
        };
        settings.gateway.rate_limit = unreachable;
        settings.gateway.credential_rate_limit = unreachable;
        settings.gateway.account_rate_limit = unreachable;
        Self {
            ports: Ports::Ephemeral,
            settings,
            ready_timeout: Duration::from_secs(10),
            drain_timeout: Duration::from_secs(10),
            storage: Storage::InMemory,
            kafka: None,
        }
    }

    /// One Kafka bus at `brokers` for all units, its topics and groups under a namespace no
    /// other stack uses (the broker outlives the test run).
    #[must_use]
    pub fn with_kafka(mut self, brokers: &str) -> Self {
        let mut config = KafkaConfig::new(brokers, "devstack");
        config.namespace = fresh_namespace();
        self.kafka = Some(config);
        self
    }

    /// Every service that supports it on fresh `PostgreSQL` databases of the server at
    /// `server_url` ([`Storage::fresh_postgres`]).
    #[must_use]
    pub fn with_postgres(mut self, server_url: &str) -> Self {
        self.storage = Storage::fresh_postgres(server_url);
        self
    }

    /// Carts in the Redis at `url`, under a key prefix no other stack uses.
    #[must_use]
    pub fn with_redis(mut self, url: &str) -> Self {
        self.settings.cart.redis = Some(url.to_owned());
        self.settings.cart.redis_prefix = format!("devstack:{}:", uuid::Uuid::new_v4().simple());
        self
    }

    /// The fraction of charges the simulated payment provider declines, in `[0, 1]`.
    #[must_use]
    pub fn with_payment_failure_rate(mut self, rate: f64) -> Self {
        self.settings.payment.provider_failure_rate = rate;
        self
    }

    /// Has the user service make `email` a verified admin with `password` when it starts
    /// (unless it is one already): the development way to an admin, refused unless the user
    /// service runs with `APP_ENV=development`.
    pub fn with_admin(mut self, email: &str, password: &str) -> anyhow::Result<Self> {
        self.settings.user.development_admin =
            Some(user_service::config::AdminAccount::parse(email, password)?);
        Ok(self)
    }
}

/// The variable naming the devstack's admin.
pub const ADMIN_EMAIL: &str = "DEVSTACK_ADMIN_EMAIL";
/// The variable holding the devstack admin's password.
pub const ADMIN_PASSWORD: &str = "DEVSTACK_ADMIN_PASSWORD";

/// A prefix for topic and group names that no other stack uses: `devstack-<random>.`.
fn fresh_namespace() -> String {
    format!("devstack-{}.", uuid::Uuid::new_v4().simple())
}

/// How long [`Devstack::settled`] waits for the saga to finish.
pub const SETTLE_TIMEOUT: Duration = Duration::from_secs(10);

/// One running unit.
struct Server {
    name: &'static str,
    readiness: Readiness,
    task: JoinHandle<anyhow::Result<()>>,
}

/// The running stack. Dropping it without [`Devstack::shutdown`] also stops the servers
/// (they see the stop signal's sender go away), but nobody waits for them.
pub struct Devstack {
    /// Where clients talk to the platform.
    pub gateway_url: String,
    /// Every unit (services and gateway) by name → its base URL.
    pub urls: BTreeMap<&'static str, String>,
    /// The bus every unit publishes to and consumes from (unused with [`Devstack::kafka`]).
    pub bus: InMemoryEventBus,
    /// The Kafka bus every unit publishes to and consumes from, when [`Options::kafka`] is set.
    pub kafka: Option<KafkaEventBus>,
    /// The `PostgreSQL` database of every service that stores in one, by service name.
    pub databases: BTreeMap<&'static str, Database>,
    /// One small pool per database, to watch the outboxes in [`Devstack::settled`].
    outboxes: Vec<(&'static str, sqlx::PgPool)>,
    /// Where each unit that does not keep its data in memory keeps it, for the table.
    stores: BTreeMap<&'static str, String>,
    /// Units in start order.
    started: Vec<(&'static str, String)>,
    stop: watch::Sender<bool>,
    servers: Vec<Server>,
    drain_timeout: Duration,
}

impl fmt::Debug for Devstack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Devstack")
            .field("gateway_url", &self.gateway_url)
            .field("urls", &self.urls)
            .field("databases", &self.databases)
            .finish_non_exhaustive()
    }
}

/// Every unit in start order: a service after the ones it calls, the gateway last.
fn units() -> impl Iterator<Item = Unit> {
    topology::SERVICES
        .iter()
        .copied()
        .chain(std::iter::once(topology::API_GATEWAY))
}

/// How to reach `addr` from this machine: a wildcard bind is reached on loopback.
fn reachable_url(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, addr.port()))
}

/// A unit's configuration, listener and URL, before it starts.
struct Bound {
    config: ServiceConfig,
    listener: TcpListener,
    url: String,
}

/// Binds every unit's listener; nothing serves yet.
async fn bind_all(ports: Ports) -> anyhow::Result<Vec<Bound>> {
    let mut bound = Vec::new();
    for unit in units() {
        let mut config = match ports {
            Ports::Fixed => ServiceConfig::from_env_in(unit, app_env()?).context(unit.name)?,
            Ports::Ephemeral => ServiceConfig::for_tests(unit),
        };
        let listener = platform::server::bind(&config)
            .await
            .with_context(|| format!("{} cannot start", unit.name))?;
        config.bind = listener.local_addr()?;
        let url = reachable_url(config.bind);
        bound.push(Bound {
            config,
            listener,
            url,
        });
    }
    Ok(bound)
}

/// Points every upstream URL in `settings` at the unit bound in `urls`.
fn wire(settings: &mut UnitSettings, urls: &BTreeMap<&'static str, String>) {
    let url = |unit: Unit| urls[unit.name].clone();
    settings.product.inventory_url = url(topology::INVENTORY_SERVICE);
    settings.cart.product_url = url(topology::PRODUCT_SERVICE);
    settings.order.cart_service_url = url(topology::CART_SERVICE);
    let mut gateway = std::mem::take(&mut settings.gateway);
    for unit in topology::SERVICES {
        gateway = gateway.with_base_url(unit.name, url(*unit));
    }
    settings.gateway = gateway;
}

/// Builds `unit`'s router with its consumers subscribed on `bus`.
async fn build(
    config: ServiceConfig,
    settings: &UnitSettings,
    bus: Arc<dyn EventBus>,
    readiness: Readiness,
) -> anyhow::Result<Router> {
    let unit = config.unit;
    let router = if unit == topology::USER_SERVICE {
        user_service::start_with(config, settings.user.clone(), bus, readiness).await
    } else if unit == topology::PRODUCT_SERVICE {
        product_service::start_with(config, settings.product.clone(), bus, readiness).await
    } else if unit == topology::INVENTORY_SERVICE {
        inventory_service::start_with(config, settings.inventory.clone(), bus, readiness).await
    } else if unit == topology::CART_SERVICE {
        cart_service::start_with(config, settings.cart.clone(), bus, readiness).await
    } else if unit == topology::ORDER_SERVICE {
        order_service::start_with(config, settings.order.clone(), bus, readiness).await
    } else if unit == topology::PAYMENT_SERVICE {
        payment_service::start_with(config, settings.payment.clone(), bus, readiness).await
    } else if unit == topology::NOTIFICATION_SERVICE {
        notification_service::start_with(config, settings.notification.clone(), bus, readiness)
            .await
    } else if unit == topology::API_GATEWAY {
        api_gateway::start_with(config, settings.gateway.clone(), bus, readiness).await
    } else {
        bail!(
            "the devstack does not know how to start `{}`: add it to devstack/src/lib.rs",
            unit.name
        )
    };
    router.with_context(|| format!("{} failed to start", unit.name))
}

/// Completes when the stop signal is sent, or when its sender is gone.
async fn stopped(mut stop: watch::Receiver<bool>) {
    let _sender_gone = stop.wait_for(|stop| *stop).await;
}

/// Polls `url/ready` until it answers 200, the server task ends, or `timeout` passes.
async fn wait_ready(
    http: &reqwest::Client,
    server: &mut Server,
    url: &str,
    timeout: Duration,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    let ready = format!("{url}/ready");
    loop {
        if server.task.is_finished() {
            let outcome = (&mut server.task).await;
            let why = match outcome {
                Ok(Ok(())) => "it stopped".to_owned(),
                Ok(Err(err)) => format!("{err:#}"),
                Err(err) => format!("it panicked: {err}"),
            };
            bail!("{} stopped while starting: {why}", server.name);
        }
        let last = match http.get(&ready).send().await {
            Ok(response) if response.status().is_success() => return Ok(()),
            Ok(response) => format!("it answered {}", response.status()),
            Err(err) => format!("{err}"),
        };
        if Instant::now() >= deadline {
            bail!(
                "{} did not become ready: GET {ready} still fails after {timeout:?} ({last})",
                server.name
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Starts every unit on one shared in-memory bus and waits until all are ready. If one cannot
/// start, those already running are shut down and the error names the unit.
pub async fn start(options: Options) -> anyhow::Result<Devstack> {
    let bound = bind_all(options.ports).await?;
    if options.ports == Ports::Fixed
        && bound
            .iter()
            .any(|b| b.config.jwt_keys.accept_the_development_key())
    {
        tracing::warn!(
            "JWT_PUBLIC_KEYS is unset: tokens are signed with the public development key"
        );
    }
    let urls: BTreeMap<&'static str, String> = bound
        .iter()
        .map(|b| (b.config.unit.name, b.url.clone()))
        .collect();
    let mut settings = options.settings;
    wire(&mut settings, &urls);
    let databases = storage::provision(&options.storage, &mut settings).await?;
    let outboxes = storage::observers(&databases).await?;
    let mut stores: BTreeMap<&'static str, String> = databases
        .iter()
        .map(|(service, database)| (*service, database.redacted_url()))
        .collect();
    if let Some(redis) = &settings.cart.redis {
        stores.insert(
            topology::CART_SERVICE.name,
            format!("Redis {}", Database::new(redis).redacted_url()),
        );
    }

    let kafka = match options.kafka {
        Some(config) => Some(connect_kafka(config).await?),
        None => None,
    };
    let (stop, _) = watch::channel(false);
    let mut stack = Devstack {
        gateway_url: urls[topology::API_GATEWAY.name].clone(),
        urls,
        bus: InMemoryEventBus::default(),
        kafka,
        databases,
        outboxes,
        stores,
        started: Vec::new(),
        stop,
        servers: Vec::new(),
        drain_timeout: options.drain_timeout,
    };
    match launch(&mut stack, bound, &settings, options.ready_timeout).await {
        Ok(()) => Ok(stack),
        Err(err) => {
            if let Err(shutdown) = stack.shutdown().await {
                tracing::warn!(error = %format!("{shutdown:#}"), "while stopping a stack that failed to start");
            }
            Err(err)
        }
    }
}

/// Connects the stack's Kafka bus and creates every topic and its dead-letter topic.
async fn connect_kafka(config: KafkaConfig) -> anyhow::Result<KafkaEventBus> {
    let (brokers, namespace) = (config.brokers.clone(), config.namespace.clone());
    let bus = platform::bus::connect(config).await?;
    bus.create_topics(topics::ALL)
        .await
        .context("cannot create the Kafka topics")?;
    tracing::info!(%brokers, %namespace, "event bus: Kafka");
    Ok(bus)
}

/// Starts the bound units one after the other, each ready before the next starts.
async fn launch(
    stack: &mut Devstack,
    bound: Vec<Bound>,
    settings: &UnitSettings,
    ready_timeout: Duration,
) -> anyhow::Result<()> {
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(1))
        .build()?;
    let bus: Arc<dyn EventBus> = match &stack.kafka {
        Some(kafka) => Arc::new(kafka.clone()),
        None => Arc::new(stack.bus.clone()),
    };
    for Bound {
        config,
        listener,
        url,
    } in bound
    {
        let unit = config.unit;
        let readiness = Readiness::default();
        let router = build(config, settings, bus.clone(), readiness.clone()).await?;
        let shutdown = stopped(stack.stop.subscribe());
        // `serve` gives every request its peer address, which the gateway's per-client rate
        // limit keys on.
        let task = tokio::spawn(platform::server::serve(
            unit.name,
            listener,
            router,
            readiness.clone(),
            shutdown,
        ));
        stack.servers.push(Server {
            name: unit.name,
            readiness,
            task,
        });
        let server = stack
            .servers
            .last_mut()
            .expect("the server was pushed just above");
        wait_ready(&http, server, &url, ready_timeout).await?;
        tracing::info!(service = unit.name, %url, "ready");
        stack.started.push((unit.name, url));
    }
    Ok(())
}

impl Devstack {
    /// Waits until the saga has nothing left to do: every outbox published and every event
    /// handled, with nothing published meanwhile (on `PostgreSQL` events wait in outboxes
    /// between hops, where the bus alone cannot see them). In memory it is `bus.settled()`.
    /// Gives up after [`SETTLE_TIMEOUT`]; see [`Devstack::settled_within`].
    ///
    /// # Errors
    /// An outbox cannot be read, or the stack has not settled in time.
    pub async fn settled(&self) -> anyhow::Result<()> {
        self.settled_within(SETTLE_TIMEOUT).await
    }

    /// [`Devstack::settled`] with a deadline of `timeout`. The error names every service whose
    /// outbox still has unpublished rows (e.g. a row parked after
    /// [`platform::outbox::MAX_ATTEMPTS`] failed publishes), or says that the bus was still
    /// handling events.
    ///
    /// # Errors
    /// An outbox cannot be read, or the stack has not settled within `timeout`.
    pub async fn settled_within(&self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let published = self.bus.published_count();
            if tokio::time::timeout_at(deadline, self.bus.settled())
                .await
                .is_err()
            {
                bail!(
                    "the devstack did not settle within {timeout:?}: the bus is still handling events"
                );
            }
            let pending = storage::pending_outbox_rows(&self.outboxes).await?;
            if pending.is_empty() && self.bus.published_count() == published {
                return Ok(());
            }
            if Instant::now() >= deadline {
                if pending.is_empty() {
                    bail!(
                        "the devstack did not settle within {timeout:?}: events are still being published"
                    );
                }
                let services: Vec<String> = pending
                    .iter()
                    .map(|(service, rows)| format!("{service} ({rows} unpublished outbox rows)"))
                    .collect();
                bail!(
                    "the devstack did not settle within {timeout:?}: outbox not drained: {}",
                    services.join(", ")
                );
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Stops every unit: readiness false first, then one stop signal to every server, then
    /// waits (at most the drain timeout) for in-flight requests and for the bus to go idle.
    /// The error names every unit that did not stop cleanly.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let deadline = Instant::now() + self.drain_timeout;
        for server in &self.servers {
            server.readiness.set_serving(false);
        }
        self.stop.send_replace(true);
        let mut failures = Vec::new();
        // The gateway first: it is the one clients talk to.
        for mut server in self.servers.into_iter().rev() {
            match tokio::time::timeout_at(deadline, &mut server.task).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(err))) => failures.push(format!("{}: {err:#}", server.name)),
                Ok(Err(err)) => failures.push(format!("{}: {err}", server.name)),
                Err(_) => {
                    server.task.abort();
                    failures.push(format!(
                        "{}: still draining after {:?}; aborted",
                        server.name, self.drain_timeout
                    ));
                }
            }
        }
        if tokio::time::timeout_at(deadline, self.bus.settled())
            .await
            .is_err()
        {
            tracing::warn!("events were still being handled when the devstack stopped");
        }
        if let Some(kafka) = &self.kafka {
            kafka.close().await;
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(anyhow!(
                "the devstack did not stop cleanly: {}",
                failures.join("; ")
            ))
        }
    }
}

impl fmt::Display for Devstack {
    /// The table of units and their URLs, and a curl walk through a checkout.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{:<22} {:<24} STORAGE", "UNIT", "URL")?;
        for (name, url) in self.started.iter().rev() {
            let storage = self.stores.get(name).map_or("in memory", String::as_str);
            writeln!(f, "{name:<22} {url:<24} {storage}")?;
        }
        let product = product_service::seed::KEYBOARD;
        let gateway = &self.gateway_url;
        writeln!(f)?;
        writeln!(f, "Try a checkout through the gateway (needs curl and jq):")?;
        writeln!(f, "  GW={gateway}")?;
        writeln!(
            f,
            "  curl -s -X POST $GW/api/v1/auth/register -H 'content-type: application/json' \\\n    -d '{{\"email\":\"ada@example.com\",\"password\":\"correct-horse-battery\",\"name\":\"Ada\"}}'"
        )?;
        writeln!(
            f,
            "  TOKEN=$(curl -s -X POST $GW/api/v1/auth/login -H 'content-type: application/json' \\\n    -d '{{\"email\":\"ada@example.com\",\"password\":\"correct-horse-battery\"}}' | jq -r .access_token)"
        )?;
        writeln!(f, "  curl -s $GW/api/v1/products | jq")?;
        writeln!(
            f,
            "  curl -s -X POST $GW/api/v1/cart/items -H \"authorization: Bearer $TOKEN\" \\\n    -H 'content-type: application/json' -d '{{\"product_id\":\"{product}\",\"quantity\":2}}'"
        )?;
        writeln!(
            f,
            "  ORDER=$(curl -s -X POST $GW/api/v1/orders -H \"authorization: Bearer $TOKEN\" \\\n    -H \"idempotency-key: $(uuidgen)\" | jq -r .order_id)"
        )?;
        writeln!(
            f,
            "  curl -s $GW/api/v1/orders/$ORDER -H \"authorization: Bearer $TOKEN\" | jq .status_history"
        )?;
        writeln!(
            f,
            "  curl -s $GW/api/v1/notifications -H \"authorization: Bearer $TOKEN\" | jq '.items[].subject'"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wildcard_bind_is_reached_on_loopback() {
        assert_eq!(
            reachable_url("0.0.0.0:8080".parse().unwrap()),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            reachable_url("[::]:8001".parse().unwrap()),
            "http://[::1]:8001"
        );
        assert_eq!(
            reachable_url("10.1.2.3:8003".parse().unwrap()),
            "http://10.1.2.3:8003"
        );
    }

    #[test]
    fn every_upstream_points_at_the_bound_address() {
        let urls: BTreeMap<&'static str, String> = units()
            .enumerate()
            .map(|(i, unit)| (unit.name, format!("http://127.0.0.1:{}", 40_000 + i)))
            .collect();
        let mut settings = UnitSettings::default();
        wire(&mut settings, &urls);
        assert_eq!(
            settings.product.inventory_url,
            urls[topology::INVENTORY_SERVICE.name]
        );
        assert_eq!(
            settings.cart.product_url,
            urls[topology::PRODUCT_SERVICE.name]
        );
        assert_eq!(
            settings.order.cart_service_url,
            urls[topology::CART_SERVICE.name]
        );
        assert_eq!(settings.gateway.upstreams.len(), topology::SERVICES.len());
        for upstream in &settings.gateway.upstreams {
            assert_eq!(upstream.base_url, urls[upstream.name.as_str()]);
        }
    }

    #[test]
    fn the_gateway_starts_after_every_service() {
        let order: Vec<Unit> = units().collect();
        assert_eq!(order.last(), Some(&topology::API_GATEWAY));
        assert_eq!(&order[..order.len() - 1], topology::SERVICES);
    }

    async fn serve_ready_status(status: axum::http::StatusCode) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = reachable_url(listener.local_addr().unwrap());
        let router =
            Router::new().route("/ready", axum::routing::get(move || async move { status }));
        tokio::spawn(async move { axum::serve(listener, router).await });
        url
    }

    fn client() -> reqwest::Client {
        reqwest::Client::builder().no_proxy().build().unwrap()
    }

    #[tokio::test]
    async fn a_unit_whose_readiness_keeps_failing_is_named_in_the_error() {
        let url = serve_ready_status(axum::http::StatusCode::SERVICE_UNAVAILABLE).await;
        let mut server = Server {
            name: "order-service",
            readiness: Readiness::default(),
            task: tokio::spawn(std::future::pending()),
        };
        let err = wait_ready(&client(), &mut server, &url, Duration::from_millis(100))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("order-service did not become ready"),
            "{err}"
        );
        assert!(err.contains("503"), "{err}");
    }

    #[tokio::test]
    async fn a_unit_that_stops_while_starting_is_named_with_its_error() {
        let url = serve_ready_status(axum::http::StatusCode::SERVICE_UNAVAILABLE).await;
        let mut server = Server {
            name: "payment-service",
            readiness: Readiness::default(),
            task: tokio::spawn(async { Err(anyhow!("address in use")) }),
        };
        tokio::task::yield_now().await;
        let err = wait_ready(&client(), &mut server, &url, Duration::from_secs(5))
            .await
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "payment-service stopped while starting: address in use"
        );
    }

    #[tokio::test]
    async fn a_unit_answering_ready_is_waited_for_no_longer() {
        let url = serve_ready_status(axum::http::StatusCode::OK).await;
        let mut server = Server {
            name: "cart-service",
            readiness: Readiness::default(),
            task: tokio::spawn(std::future::pending()),
        };
        wait_ready(&client(), &mut server, &url, Duration::from_secs(5))
            .await
            .unwrap();
    }

    #[test]
    fn an_admin_needs_a_valid_email_and_password() {
        let password = "correct-horse-battery";
        let err = Options::for_tests()
            .with_admin("not-an-email", password)
            .unwrap_err();
        assert!(err.to_string().contains("not-an-email"), "{err}");
        let err = Options::for_tests()
            .with_admin("ops@example.com", "short")
            .unwrap_err();
        assert!(err.to_string().contains("at least 12 characters"), "{err}");
        let options = Options::for_tests()
            .with_admin("Ops@Example.com", password)
            .unwrap();
        let admin = options.settings.user.development_admin.unwrap();
        assert_eq!(admin.email.as_str(), "ops@example.com");
        assert!(!format!("{admin:?}").contains(password), "Debug hides it");
    }

    #[test]
    fn the_admin_comes_from_both_variables_or_neither() {
        let read = |vars: &[(&str, &str)]| {
            let vars: BTreeMap<String, String> = vars
                .iter()
                .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
                .collect();
            user_service::config::AdminAccount::from_vars(ADMIN_EMAIL, ADMIN_PASSWORD, |key| {
                vars.get(key).cloned()
            })
        };
        assert_eq!(read(&[]).unwrap(), None);
        let password = "correct-horse-battery";
        let admin = read(&[(ADMIN_EMAIL, "ops@example.com"), (ADMIN_PASSWORD, password)])
            .unwrap()
            .unwrap();
        assert_eq!(admin.email.as_str(), "ops@example.com");
        assert_eq!(admin.password, password);
        let err = read(&[(ADMIN_EMAIL, "ops@example.com")]).unwrap_err();
        assert!(err.to_string().contains(ADMIN_PASSWORD), "{err}");
        assert!(read(&[(ADMIN_PASSWORD, password)]).is_err());
    }
}
