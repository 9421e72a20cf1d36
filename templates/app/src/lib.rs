//! The app runs every module in one process, behind one port. The modules are the crates
//! under `modules/`, each a bounded context with its own routes, rules, events and schema;
//! this crate only assembles them, as a service's `main` would assemble one:
//!
//! - **Front door.** The gateway's crate answers every request first (rate limits per client,
//!   per address and per account on credential routes, token checks, body limit, CORS) and
//!   hands it to the module owning its path, in process.
//! - **Calls between modules** go through the called module's public API, its router, handed
//!   a request in process ([`ServiceClient::in_process`]): no socket, no timeout, no retry.
//!   Extracting a module into a service swaps that client for one over HTTP.
//! - **Data.** One `PostgreSQL` database (`DATABASE_URL`), a schema per module named after
//!   its crate; each module connects with its own schema as `search_path`, so it sees its
//!   own tables only. `DATABASE_MAX_CONNECTIONS` is the app's total, shared out evenly among
//!   the modules' pools (at least [`MIN_MODULE_POOL`] each). Without `DATABASE_URL`
//!   (development) every module keeps its data in memory.
//! - **Events** are written to each module's outbox in the transaction of the change and
//!   relayed to the in-process bus the other modules subscribe to; each consumer
//!   de-duplicates, as it would on Kafka.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use api_gateway::Routers;
use axum::Router;
use platform::ServiceConfig;
use platform::client::ServiceClient;
use platform::config::AppEnv;
use platform::db::{Database, Migrations};
use platform::health::Readiness;
use platform::topology::{
    self, CART_SERVICE, INVENTORY_SERVICE, NOTIFICATION_SERVICE, ORDER_SERVICE, PAYMENT_SERVICE,
    PRODUCT_SERVICE, USER_SERVICE, Unit,
};
use shared_events::EventBus;

/// Every module's migrations, each applied in its own schema (`app migrate`).
pub static MIGRATIONS: &[Migrations] = &[
    Migrations::in_schema("inventory_service", &inventory_service::MIGRATOR),
    Migrations::in_schema("user_service", &user_service::MIGRATOR),
    Migrations::in_schema("payment_service", &payment_service::MIGRATOR),
    Migrations::in_schema("notification_service", &notification_service::MIGRATOR),
    Migrations::in_schema("product_service", &product_service::MIGRATOR),
    Migrations::in_schema("order_service", &order_service::MIGRATOR),
];

/// The schema `module` keeps its tables in: its crate's name.
#[must_use]
pub fn schema_of(module: Unit) -> String {
    module.name.replace('-', "_")
}

/// The variable naming the development admin the app makes at start.
pub const ADMIN_EMAIL: &str = "APP_ADMIN_EMAIL";
/// The variable holding that admin's password.
pub const ADMIN_PASSWORD: &str = "APP_ADMIN_PASSWORD";

/// The fewest connections a module's pool opens: one for requests, one for its outbox relay
/// and housekeeping.
pub const MIN_MODULE_POOL: u32 = 2;

/// Every module's settings, and the front door's.
#[derive(Debug, Clone)]
pub struct Settings {
    pub user: user_service::Settings,
    pub product: product_service::config::Settings,
    pub inventory: inventory_service::config::Settings,
    pub cart: cart_service::config::Settings,
    pub order: order_service::Settings,
    pub payment: payment_service::Settings,
    pub notification: notification_service::Settings,
    pub gateway: api_gateway::Settings,
}

impl Default for Settings {
    /// Every module's local defaults: in memory.
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

impl Settings {
    /// Every module's `Settings::from_env`, naming the module whose variables are unusable;
    /// with `APP_ADMIN_EMAIL` and `APP_ADMIN_PASSWORD` set, the user module makes that admin at
    /// start (development only, as the devstack's `DEVSTACK_ADMIN_*`; a deployment runs
    /// `app create-admin`).
    pub fn from_env(env: AppEnv) -> anyhow::Result<Self> {
        let mut user = user_service::Settings::from_env(env).context(USER_SERVICE.name)?;
        user.development_admin =
            user_service::config::AdminAccount::from_vars(ADMIN_EMAIL, ADMIN_PASSWORD, |key| {
                std::env::var(key).ok()
            })?;
        Ok(Self {
            user,
            product: product_service::config::Settings::from_env(env)
                .context(PRODUCT_SERVICE.name)?,
            inventory: inventory_service::config::Settings::from_env(env)
                .context(INVENTORY_SERVICE.name)?,
            cart: cart_service::config::Settings::from_env(env).context(CART_SERVICE.name)?,
            order: order_service::Settings::from_env(env).context(ORDER_SERVICE.name)?,
            payment: payment_service::Settings::from_env(env).context(PAYMENT_SERVICE.name)?,
            notification: notification_service::Settings::from_env(env)
                .context(NOTIFICATION_SERVICE.name)?,
            gateway: api_gateway::Settings::from_env(env).context(topology::API_GATEWAY.name)?,
        })
    }

    /// Every module on `database`, each in its own schema.
    #[must_use]
    pub fn on_database(mut self, database: &Database) -> Self {
        for slot in self.databases() {
            *slot = Some(database.clone());
        }
        self
    }

    /// Each module's database slot, by module.
    fn databases(&mut self) -> [&mut Option<Database>; 6] {
        [
            &mut self.inventory.database,
            &mut self.user.database,
            &mut self.payment.database,
            &mut self.notification.database,
            &mut self.product.database,
            &mut self.order.database,
        ]
    }

    /// Each module's database in its own schema, its pool an even share of the connections
    /// `DATABASE_MAX_CONNECTIONS` allows the app as a whole (at least [`MIN_MODULE_POOL`]).
    fn in_schemas(mut self) -> Self {
        let modules = [
            INVENTORY_SERVICE,
            USER_SERVICE,
            PAYMENT_SERVICE,
            NOTIFICATION_SERVICE,
            PRODUCT_SERVICE,
            ORDER_SERVICE,
        ];
        let share = u32::try_from(modules.len()).unwrap_or(u32::MAX);
        for (slot, module) in self.databases().into_iter().zip(modules) {
            if let Some(database) = slot.take() {
                let max_connections = (database.max_connections / share).max(MIN_MODULE_POOL);
                *slot = Some(Database {
                    max_connections,
                    ..database.in_schema(&schema_of(module))
                });
            }
        }
        self
    }
}

/// Starts the app with settings from the environment, and serves `/metrics` on
/// `API_GATEWAY_METRICS_PORT` of the configured host until the process ends.
pub async fn start(
    config: ServiceConfig,
    bus: Arc<dyn EventBus>,
    readiness: Readiness,
) -> anyhow::Result<Router> {
    let settings = Settings::from_env(config.env)?;
    let metrics = SocketAddr::new(config.bind.ip(), settings.gateway.metrics_port);
    api_gateway::warn_unshared_limits(&config, &settings.gateway);
    start_with(config, settings, bus, readiness)
        .await?
        .serve_internal(metrics)
        .await
}

/// Starts every module with explicit settings, in dependency order, on one bus and one
/// readiness; the front door's public face (every route, `/metrics` answered 404) and its
/// internal one (`/metrics`).
pub async fn start_with(
    config: ServiceConfig,
    settings: Settings,
    bus: Arc<dyn EventBus>,
    readiness: Readiness,
) -> anyhow::Result<Routers> {
    let settings = settings.in_schemas();
    let module = |unit: Unit| ServiceConfig {
        unit,
        ..config.clone()
    };
    let started = |unit: Unit| format!("module {} failed to start", unit.name);

    let inventory = inventory_service::start_with(
        module(INVENTORY_SERVICE),
        settings.inventory,
        bus.clone(),
        readiness.clone(),
    )
    .await
    .with_context(|| started(INVENTORY_SERVICE))?;
    let user = user_service::start_with(
        module(USER_SERVICE),
        settings.user,
        bus.clone(),
        readiness.clone(),
    )
    .await
    .with_context(|| started(USER_SERVICE))?;
    let payment = payment_service::start_with(
        module(PAYMENT_SERVICE),
        settings.payment,
        bus.clone(),
        readiness.clone(),
    )
    .await
    .with_context(|| started(PAYMENT_SERVICE))?;
    let notification = notification_service::start_with(
        module(NOTIFICATION_SERVICE),
        settings.notification,
        bus.clone(),
        readiness.clone(),
    )
    .await
    .with_context(|| started(NOTIFICATION_SERVICE))?;

    let products = platform::db::open(
        settings.product.database.as_ref(),
        &product_service::MIGRATOR,
    )
    .await
    .with_context(|| started(PRODUCT_SERVICE))?;
    let stock = product_service::service::HttpStockLookup::new(ServiceClient::in_process(
        INVENTORY_SERVICE,
        inventory.clone(),
    ));
    let product = product_service::start_with_stock(
        module(PRODUCT_SERVICE),
        settings.product,
        products,
        Arc::new(stock),
        bus.clone(),
        readiness.clone(),
    )
    .await
    .with_context(|| started(PRODUCT_SERVICE))?;

    let catalog = cart_service::service::HttpProductCatalog::new(ServiceClient::in_process(
        PRODUCT_SERVICE,
        product.clone(),
    ));
    let cart = cart_service::start_with_dependencies(
        module(CART_SERVICE),
        settings.cart,
        bus.clone(),
        readiness.clone(),
        cart_service::Dependencies {
            catalog: Arc::new(catalog),
            clock: Arc::new(cart_service::repository::SystemClock),
        },
    )
    .await
    .with_context(|| started(CART_SERVICE))?;

    let carts = order_service::service::HttpCartReader::new(ServiceClient::in_process(
        CART_SERVICE,
        cart.clone(),
    ));
    let order = order_service::start_with_cart(
        module(ORDER_SERVICE),
        settings.order,
        Arc::new(carts),
        bus,
        readiness.clone(),
    )
    .await
    .with_context(|| started(ORDER_SERVICE))?;

    let modules = vec![
        (INVENTORY_SERVICE, inventory),
        (USER_SERVICE, user),
        (PAYMENT_SERVICE, payment),
        (NOTIFICATION_SERVICE, notification),
        (PRODUCT_SERVICE, product),
        (CART_SERVICE, cart),
        (ORDER_SERVICE, order),
    ];
    api_gateway::front_door(config, settings.gateway, modules, readiness).await
}
