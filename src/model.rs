//! The `ArchitectureModel`: the one description of the system every rendered file and every
//! verification is derived from. It comes from a constructor per shape (`microservices`,
//! `decision_only`) and goes out serialized to the templates and by reference to `verify`;
//! it holds facts and planning figures, and what follows from replica counts by fixed rules
//! (steady-state counts, connection poolers); it never checks anything itself.

mod defaults;
mod figures;
mod microservices;
mod monolith;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

pub use defaults::*;
pub use figures::FigureError;

/// The system to generate: units in start-up order, how they talk, what they store, the
/// request paths and flows users see, and how it is deployed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ArchitectureModel {
    /// Project name as the user typed it.
    pub project: String,
    /// Which shape of repository is rendered.
    pub shape: Shape,
    /// Deployable units, dependencies first, the gateway last.
    pub units: Vec<Unit>,
    /// The bounded contexts a unit of kind `monolith` hosts in its one process, dependencies
    /// first, each as the service it becomes when extracted (empty where every bounded context
    /// is a unit of its own; absent in models written before it).
    #[serde(default)]
    pub modules: Vec<Unit>,
    /// Synchronous request/response calls between units.
    pub calls: Vec<SyncCall>,
    /// A monolith's calls between its modules (and from its front door), as they are made
    /// once a module is extracted into a service: the policy each module's HTTP client is
    /// built with. In the process they are function calls with no timeout or retry, so no
    /// check counts them (absent in models written before it).
    #[serde(default)]
    pub module_calls: Vec<SyncCall>,
    /// Event topics, each with its publisher and subscriptions.
    pub topics: Vec<Topic>,
    /// Datastores, the broker and external providers.
    pub stores: Vec<Store>,
    /// User-facing request paths, each as the tree of hops it causes.
    pub entries: Vec<EntryPath>,
    /// Bounded-time flows that continue asynchronously after an entry path returns.
    pub flows: Vec<Flow>,
    /// Read views whose freshness is bounded.
    pub views: Vec<View>,
    /// Regions, health checks, failover and cross-region replication.
    pub deployment: Deployment,
    /// How long events, inboxes and outboxes are kept (absent in models written before it:
    /// the defaults).
    #[serde(default)]
    pub retention: Retention,
    /// How many retries every client may add on top of its first attempts (absent in models
    /// written before it: the default).
    #[serde(default)]
    pub retry_budget: RetryBudget,
    /// Figures set from measurement or by the optimiser (`"order-service.replicas"`); every
    /// other figure is a planning default and reported as assumed.
    pub overridden: BTreeSet<String>,
}

/// The repository shape the model renders.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Shape {
    /// Services, gateway, broker and stores as in the product table.
    Microservices,
    /// The same bounded contexts as modules of one unit: one binary, one port, one database
    /// with a schema per module, events in process through each module's outbox.
    ModularMonolith,
    /// The decision is recorded; no units are rendered yet.
    DecisionOnly,
}

/// What a unit is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnitKind {
    /// Owns a slice of the domain and its data.
    Service,
    /// The single public entry point that routes to services.
    Gateway,
    /// Every module in one process behind one port.
    Monolith,
}

/// A deployable unit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Unit {
    /// Kebab-case name, e.g. `order-service`.
    pub name: String,
    /// Service or gateway.
    pub kind: UnitKind,
    /// Port it listens on.
    pub port: u16,
    /// One line saying what it owns.
    pub summary: String,
    /// Rust crate name, e.g. `order_service`.
    pub crate_name: String,
    /// Prefix of its environment variables, e.g. `ORDER_SERVICE`.
    pub env_prefix: String,
    /// Gateway path prefixes it owns.
    pub routes: Vec<String>,
    /// Names of the stores it owns or uses.
    pub stores: Vec<String>,
    /// Topics it publishes.
    pub publishes: Vec<String>,
    /// Topics it consumes.
    pub consumes: Vec<String>,
    /// Stores whose read replicas serve this unit's `replica_reads` (through
    /// `DATABASE_READ_URL`; set by [`ArchitectureModel::with_read_replicas`]).
    #[serde(default)]
    pub reads_replicas_of: Vec<String>,
    /// Planning figures.
    pub ops: Ops,
}

/// A unit's operational figures; each has a planning default in [`defaults`](self).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ops {
    /// Replicas the peak load needs: the verified count, and the autoscaler's ceiling.
    pub replicas: u32,
    /// Replicas at steady load: what a deployment starts with and the autoscaler's floor
    /// ([`Ops::steady_for`] of `replicas`).
    pub steady_replicas: u32,
    /// Database connections one replica's pool opens at most.
    pub pool_size: u32,
    /// Replicas that must be up for the unit to be up.
    pub min_up: u32,
    /// Median own processing time, downstream calls and stores excluded.
    pub p50_ms: u64,
    /// 99th-percentile own processing time, downstream calls and stores excluded.
    pub p99_ms: u64,
    /// Requests per second one replica serves.
    pub capacity_rps: u64,
    /// Probability one replica is up.
    pub availability: f64,
    /// Fraction of requests a healthy replica fails.
    pub error_rate: f64,
    /// Cost of one replica-month in cents.
    pub cost_cents: u64,
}

impl Ops {
    /// The steady-state count for a peak count of `replicas`: the peak's share at steady load
    /// ([`PEAK_TO_STEADY`]), but never fewer than two (one restarts while the other
    /// serves) or `min_up`, and never more than the peak.
    #[must_use]
    pub fn steady_for(replicas: u32, min_up: u32) -> u32 {
        replicas
            .div_ceil(PEAK_TO_STEADY)
            .max(min_up)
            .max(2)
            .min(replicas)
    }
}

/// HTTP method of a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    /// Read.
    Get,
    /// Create or command.
    Post,
    /// Replace.
    Put,
    /// Remove.
    Delete,
}

impl Method {
    /// The method as HTTP spells it.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Delete => "DELETE",
        }
    }
}

/// A synchronous call one unit makes to another.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncCall {
    /// Calling unit.
    pub from: String,
    /// Called unit.
    pub to: String,
    /// Why the call is made.
    pub purpose: String,
    /// HTTP method.
    pub method: Method,
    /// Per-attempt timeout.
    pub timeout_ms: u64,
    /// Attempts including the first (1 = no retry).
    pub attempts: u32,
    /// Pause between attempts.
    pub backoff_ms: u64,
    /// Whether repeating the call has no further effect.
    pub idempotent: bool,
}

/// An event topic.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Topic {
    /// Dotted name, e.g. `order.created`.
    pub name: String,
    /// Publishing unit.
    pub publisher: String,
    /// Messages published per order placed (prices broker and consumer load).
    pub per_order: u64,
    /// How often the publisher's outbox relay polls.
    pub outbox_poll_ms: u64,
    /// 99th-percentile publish-to-delivery time at the broker.
    pub delivery_p99_ms: u64,
    /// The most rows one pass of the publisher's outbox relay publishes (absent in models
    /// written before it: the default).
    #[serde(default = "default_outbox_batch")]
    pub outbox_batch: u64,
    /// Who consumes it and how.
    pub subscriptions: Vec<Subscription>,
}

/// One unit's at-least-once consumption of a topic.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    /// Consuming unit.
    pub unit: String,
    /// What the handler does.
    pub purpose: String,
    /// Stores and providers the handler touches.
    pub touches: Vec<String>,
    /// How long the handler may run before the message is redelivered.
    pub handler_timeout_ms: u64,
    /// Deliveries before the message is dead-lettered.
    pub attempts: u32,
    /// Pause between redeliveries.
    pub backoff_ms: u64,
    /// Messages of different aggregates one consumer replica handles at once (messages of one
    /// aggregate are handled in order, one at a time).
    pub concurrency: u32,
    /// Why a redelivered message has no second effect.
    pub dedupe: Dedupe,
}

/// How a consumer makes redelivery harmless.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dedupe {
    /// The effect is idempotent by nature (a delete, a set to a value).
    Natural,
    /// A UNIQUE idempotency key in a touched store.
    IdempotencyKey,
    /// An inbox table of processed message ids in a touched store.
    Inbox,
    /// Nothing: a redelivery repeats the effect.
    None,
}

/// What a store is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StoreKind {
    /// `PostgreSQL` database.
    Postgres,
    /// Redis.
    Redis,
    /// Kafka-protocol broker.
    Kafka,
    /// A provider outside the system.
    External,
}

/// How a store's writes reach its standby.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum Replication {
    /// Acknowledged only once the standby has it: nothing is lost on failover.
    Synchronous,
    /// The standby trails by up to `lag_ms`, which failover loses.
    Asynchronous {
        /// Maximum replication lag.
        lag_ms: u64,
    },
    /// Outside our control (external providers).
    Managed,
}

/// A datastore, the broker, or an external provider.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[allow(
    clippy::struct_excessive_bools,
    reason = "independent structural facts that templates and checks read"
)]
pub struct Store {
    /// Name, e.g. `order-db`.
    pub name: String,
    /// Technology.
    pub kind: StoreKind,
    /// One line saying what it holds.
    pub summary: String,
    /// Probability it is up.
    pub availability: f64,
    /// 99th-percentile latency of one operation.
    pub p99_ms: u64,
    /// Operations per second its primary sustains.
    pub capacity_rps: u64,
    /// Monthly cost in cents.
    pub cost_cents: u64,
    /// How writes reach the standby.
    pub replication: Replication,
    /// Whether losing its data loses business records (counts towards RPO).
    pub system_of_record: bool,
    /// Whether it holds stock levels.
    pub stock: bool,
    /// A database CHECK keeps stock at or above zero.
    pub non_negative_stock_constraint: bool,
    /// A UNIQUE idempotency key makes repeated commands harmless.
    pub idempotency_key: bool,
    /// Events are written in the same transaction as the state (transactional outbox).
    pub outbox: bool,
    /// Processed message ids are recorded (inbox).
    pub inbox: bool,
    /// Expiry of entries, if any.
    pub ttl_seconds: Option<u64>,
    /// Connections the server accepts (`PostgreSQL`'s `max_connections`; 0 where connections
    /// are not counted).
    pub max_connections: u32,
    /// The connection pooler in front of it, where the units' pools would exceed its
    /// connections (set by [`ArchitectureModel::with_replicas`]).
    pub pooler: Option<Pooler>,
    /// Read replicas that serve the reads of hops marked `replica_reads`, where the primary
    /// alone cannot carry the load (set by [`ArchitectureModel::with_read_replicas`]).
    #[serde(default)]
    pub read_replicas: u32,
    /// How far a read replica may trail the primary: the staleness of what it serves.
    #[serde(default = "default_replica_lag_ms")]
    pub replica_lag_ms: u64,
}

/// A connection pooler (`PgBouncer` in transaction mode) between a store's users and the store:
/// many client connections share a few server connections, one per transaction in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pooler {
    /// Client connections it accepts: every pool of every replica at the autoscaler's ceiling.
    pub client_connections: u32,
    /// Server connections it opens: what the store accepts less the reserved ones.
    pub server_connections: u32,
}

/// Which request rate an entry path sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "basis", rename_all = "snake_case")]
pub enum Traffic {
    /// The busiest entry's rate from the requirements.
    Busiest,
    /// A multiple of the order rate.
    PerOrder {
        /// Requests per order placed.
        per_order: u64,
    },
}

/// A user-facing request path.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EntryPath {
    /// Short name, e.g. `checkout`.
    pub name: String,
    /// HTTP method at the gateway.
    pub method: Method,
    /// Path at the gateway.
    pub path: String,
    /// Request rate basis.
    pub traffic: Traffic,
    /// The hop at the gateway and everything it calls.
    pub root: Hop,
}

/// One unit's part in handling a request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Hop {
    /// Unit handling this hop.
    pub unit: String,
    /// Method the caller used to reach this unit (the entry's method at the root).
    pub method: Method,
    /// Stores touched synchronously, one after another.
    pub stores: Vec<String>,
    /// Downstream calls in stages: stages run in order, hops within a stage in parallel.
    pub stages: Vec<Vec<Hop>>,
    /// Whether this hop's reads may be served by its stores' read replicas (stale by up to
    /// their lag), where the stores have any.
    #[serde(default)]
    pub replica_reads: bool,
}

/// A flow that finishes asynchronously after an entry path returns.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flow {
    /// Name, e.g. `order confirmed`.
    pub name: String,
    /// Entry path that starts it.
    pub entry: String,
    /// Async hops in order: each is a topic and the unit consuming it.
    pub steps: Vec<FlowStep>,
    /// How long the flow may take before it is given up and compensated (the saga timeout);
    /// it must outlast the flow's worst case within every redelivery budget.
    #[serde(default = "default_flow_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_flow_timeout_ms() -> u64 {
    FLOW_TIMEOUT_MS
}

/// One async hop of a flow.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowStep {
    /// Topic carrying the event.
    pub topic: String,
    /// Unit whose handler continues the flow.
    pub consumer: String,
}

/// How fresh a read view is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Freshness {
    /// Read synchronously from the source: never stale.
    Synchronous,
    /// Served from a cache that expires after `ttl_ms`, optionally invalidated by a topic.
    Cache {
        /// Entry lifetime.
        ttl_ms: u64,
        /// Topic whose events evict entries, if any.
        invalidated_by: Option<String>,
    },
}

/// Data read through an entry path that must reflect a change within a bound.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct View {
    /// Name, e.g. `inventory change visible`.
    pub name: String,
    /// Entry path that reads it.
    pub entry: String,
    /// Store where the change is made.
    pub source: String,
    /// How the reader gets it.
    pub freshness: Freshness,
}

/// Regions, failover and cross-region replication.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Deployment {
    /// Regions, active-passive (1 = single region).
    pub regions: u32,
    /// Interval between health checks.
    pub health_check_interval_ms: u64,
    /// Failed checks in a row before failover.
    pub failure_threshold: u32,
    /// How long one check may take.
    pub check_timeout_ms: u64,
    /// Time to promote and move traffic once failure is declared.
    pub switch_ms: u64,
    /// Region failovers planned for per month.
    pub failovers_per_month: u32,
    /// Replication between regions.
    pub replication: Replication,
}

impl Deployment {
    /// Worst-case detection plus switch: interval × threshold + check timeout + switch.
    #[must_use]
    pub fn failover_ms(&self) -> u64 {
        self.health_check_interval_ms * u64::from(self.failure_threshold)
            + self.check_timeout_ms
            + self.switch_ms
    }
}

impl Default for Deployment {
    fn default() -> Self {
        Self {
            regions: 1,
            health_check_interval_ms: HEALTH_CHECK_INTERVAL_MS,
            failure_threshold: FAILURE_THRESHOLD,
            check_timeout_ms: CHECK_TIMEOUT_MS,
            switch_ms: SWITCH_MS,
            failovers_per_month: FAILOVERS_PER_MONTH,
            replication: Replication::Asynchronous {
                lag_ms: CROSS_REGION_LAG_MS,
            },
        }
    }
}

/// How long the records that make delivery exactly-once are kept, in hours.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retention {
    /// How long the broker keeps a topic's records: until then an event can be delivered again
    /// (a consumer group reset or replayed from the start).
    pub broker_hours: u64,
    /// How long a `PostgreSQL` inbox remembers a processed event id before it is pruned.
    pub inbox_hours: u64,
    /// How long a published outbox row is kept before it is pruned (unpublished rows stay).
    pub outbox_hours: u64,
    /// How long an idempotency key answers a retried request with the first response; a key
    /// older than this is pruned and would be taken as new.
    #[serde(default = "default_idempotency_hours")]
    pub idempotency_hours: u64,
}

fn default_outbox_batch() -> u64 {
    OUTBOX_BATCH
}

fn default_replica_lag_ms() -> u64 {
    REPLICA_LAG_MS
}

fn default_idempotency_hours() -> u64 {
    IDEMPOTENCY_RETENTION_HOURS
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            broker_hours: BROKER_RETENTION_HOURS,
            inbox_hours: INBOX_RETENTION_HOURS,
            outbox_hours: OUTBOX_RETENTION_HOURS,
            idempotency_hours: IDEMPOTENCY_RETENTION_HOURS,
        }
    }
}

/// A retry budget (Finagle's and Envoy's): a client may retry at most `percent` of the
/// requests it made recently, plus `min_per_second` retries a second so a quiet client can
/// still retry at all. Beyond it a failure is answered at once instead of retried, so a
/// failing dependency sees its load grow by that fraction, not multiply by the attempts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryBudget {
    /// Retries allowed per hundred first attempts.
    pub percent: u32,
    /// Retries allowed per second whatever the traffic, per client (one per replica).
    pub min_per_second: u32,
}

impl Default for RetryBudget {
    fn default() -> Self {
        Self {
            percent: RETRY_BUDGET_PERCENT,
            min_per_second: RETRY_BUDGET_MIN_PER_SECOND,
        }
    }
}

impl RetryBudget {
    /// The most retries a second that `clients` clients making `rate` first attempts a second
    /// with up to `attempts` attempts each can add: the budget, never more than every attempt.
    #[must_use]
    pub fn retries(self, rate: u64, attempts: u32, clients: u32) -> u64 {
        let unbounded = rate.saturating_mul(u64::from(attempts.max(1) - 1));
        let budget = (rate.saturating_mul(u64::from(self.percent))).div_ceil(100)
            + u64::from(self.min_per_second) * u64::from(clients);
        unbounded.min(budget)
    }
}

/// One planning figure nobody has measured yet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AssumedFigure {
    /// `subject.figure`, e.g. `order-service.p99_ms`.
    pub key: String,
    /// The value, as the report prints it.
    pub value: String,
}

impl ArchitectureModel {
    /// The e-commerce platform of the product table.
    #[must_use]
    pub fn microservices(project: &str) -> Self {
        microservices::platform(project)
    }

    /// The platform's bounded contexts as modules of one deployable unit.
    #[must_use]
    pub fn modular_monolith(project: &str) -> Self {
        monolith::modular_monolith(project)
    }

    /// The names of the request paths users enter the system by (the platform's; the other
    /// shape has none), without building the rest of the model.
    #[must_use]
    pub fn entry_names() -> Vec<String> {
        microservices::entries()
            .into_iter()
            .map(|entry| entry.name)
            .collect()
    }

    /// The decision only: no units, calls, topics or stores.
    #[must_use]
    pub fn decision_only(project: &str) -> Self {
        Self {
            project: project.to_owned(),
            shape: Shape::DecisionOnly,
            units: Vec::new(),
            modules: Vec::new(),
            calls: Vec::new(),
            module_calls: Vec::new(),
            topics: Vec::new(),
            stores: Vec::new(),
            entries: Vec::new(),
            flows: Vec::new(),
            views: Vec::new(),
            deployment: Deployment::default(),
            retention: Retention::default(),
            retry_budget: RetryBudget::default(),
            overridden: BTreeSet::new(),
        }
    }

    /// The unit called `name`, or the unit that runs the module called `name` (a monolith's
    /// modules publish, consume and are sized as the one unit they run in).
    #[must_use]
    pub fn unit(&self, name: &str) -> Option<&Unit> {
        self.units.iter().find(|u| u.name == name).or_else(|| {
            self.modules
                .iter()
                .any(|m| m.name == name)
                .then(|| self.units.iter().find(|u| u.kind == UnitKind::Monolith))
                .flatten()
        })
    }

    /// The unit called `name`, to change its figures.
    pub fn unit_mut(&mut self, name: &str) -> Option<&mut Unit> {
        self.units.iter_mut().find(|u| u.name == name)
    }

    /// The store called `name`.
    #[must_use]
    pub fn store(&self, name: &str) -> Option<&Store> {
        self.stores.iter().find(|s| s.name == name)
    }

    /// The store called `name`, to change its figures.
    pub fn store_mut(&mut self, name: &str) -> Option<&mut Store> {
        self.stores.iter_mut().find(|s| s.name == name)
    }

    /// The topic called `name`.
    #[must_use]
    pub fn topic(&self, name: &str) -> Option<&Topic> {
        self.topics.iter().find(|t| t.name == name)
    }

    /// The entry path called `name`.
    #[must_use]
    pub fn entry(&self, name: &str) -> Option<&EntryPath> {
        self.entries.iter().find(|e| e.name == name)
    }

    /// The call `from` makes to `to` with `method`.
    #[must_use]
    pub fn call(&self, from: &str, to: &str, method: Method) -> Option<&SyncCall> {
        self.calls
            .iter()
            .find(|c| c.from == from && c.to == to && c.method == method)
    }

    /// Units of kind service, in start-up order.
    pub fn services(&self) -> impl Iterator<Item = &Unit> {
        self.units.iter().filter(|u| u.kind == UnitKind::Service)
    }

    /// The gateway, if the shape has one.
    #[must_use]
    pub fn gateway(&self) -> Option<&Unit> {
        self.units.iter().find(|u| u.kind == UnitKind::Gateway)
    }

    /// Distinct units `unit` calls synchronously, in call order.
    #[must_use]
    pub fn callees(&self, unit: &str) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for call in self.calls.iter().filter(|c| c.from == unit) {
            if !out.contains(&call.to.as_str()) {
                out.push(&call.to);
            }
        }
        out
    }

    /// Units publishing `topic`.
    #[must_use]
    pub fn publishers(&self, topic: &str) -> Vec<&str> {
        self.topics
            .iter()
            .filter(|t| t.name == topic)
            .map(|t| t.publisher.as_str())
            .collect()
    }

    /// Units consuming `topic`.
    #[must_use]
    pub fn consumers(&self, topic: &str) -> Vec<&str> {
        self.topics
            .iter()
            .filter(|t| t.name == topic)
            .flat_map(|t| t.subscriptions.iter().map(|s| s.unit.as_str()))
            .collect()
    }

    /// Records that `key` (`subject.figure`) was measured or chosen, not assumed.
    pub fn mark_measured(&mut self, key: impl Into<String>) {
        self.overridden.insert(key.into());
    }

    /// The same model with the given replica counts, marked as chosen rather than assumed.
    #[must_use]
    pub fn with_replicas(&self, replicas: &BTreeMap<String, u32>) -> Self {
        let mut model = self.clone();
        for (name, count) in replicas {
            if let Some(unit) = model.unit_mut(name) {
                unit.ops.replicas = *count;
                unit.ops.steady_replicas = Ops::steady_for(*count, unit.ops.min_up);
                model.overridden.insert(format!("{name}.replicas"));
            }
        }
        model.fit_connections();
        model
    }

    /// The same model with the given read replicas per store (a store not named has none),
    /// marked as chosen rather than assumed.
    #[must_use]
    pub fn with_read_replicas(&self, read_replicas: &BTreeMap<String, u32>) -> Self {
        let mut model = self.clone();
        for store in &mut model.stores {
            store.read_replicas = read_replicas.get(&store.name).copied().unwrap_or(0);
            if store.read_replicas > 0 {
                model
                    .overridden
                    .insert(format!("{}.read_replicas", store.name));
            }
        }
        let readers: Vec<Vec<String>> = model
            .units
            .iter()
            .map(|u| {
                model
                    .stores
                    .iter()
                    .filter(|s| model.reads_replicas(&u.name, s))
                    .map(|s| s.name.clone())
                    .collect()
            })
            .collect();
        for (unit, stores) in model.units.iter_mut().zip(readers) {
            unit.reads_replicas_of = stores;
        }
        model.fit_connections();
        model
    }

    /// The connections every replica's pool may open against `store` at the autoscaler's
    /// ceiling: the sum over its users of replicas × pool size. A unit that reads the store's
    /// replicas opens a second pool of the same size to them, through the same pooler.
    #[must_use]
    pub fn connection_demand(&self, store: &Store) -> u32 {
        self.units
            .iter()
            .filter(|u| u.stores.contains(&store.name))
            .map(|u| {
                let pools = if self.reads_replicas(&u.name, store) {
                    2
                } else {
                    1
                };
                u.ops.replicas.saturating_mul(u.ops.pool_size * pools)
            })
            .fold(0, u32::saturating_add)
    }

    /// Whether `unit` reads `store` from its read replicas: the store has some and a hop of
    /// `unit` on an entry path reads it with `replica_reads`.
    #[must_use]
    pub fn reads_replicas(&self, unit: &str, store: &Store) -> bool {
        fn reads(hop: &Hop, unit: &str, store: &str) -> bool {
            (hop.unit == unit && hop.replica_reads && hop.stores.iter().any(|s| s == store))
                || hop.stages.iter().flatten().any(|c| reads(c, unit, store))
        }
        store.read_replicas > 0
            && self
                .entries
                .iter()
                .any(|e| reads(&e.root, unit, &store.name))
    }

    /// Puts a pooler in front of every store whose users' pools would exceed the connections it
    /// accepts (less the reserved ones), and takes it away where the pools fit: a pooler adds a
    /// hop and a part to run, so only where it is needed.
    fn fit_connections(&mut self) {
        let demands: Vec<u32> = self
            .stores
            .iter()
            .map(|s| self.connection_demand(s))
            .collect();
        for (store, demand) in self.stores.iter_mut().zip(demands) {
            if store.max_connections == 0 {
                continue;
            }
            let usable = store.max_connections.saturating_sub(RESERVED_CONNECTIONS);
            store.pooler = (demand > usable).then_some(Pooler {
                client_connections: demand,
                server_connections: usable,
            });
        }
    }

    /// Every planning figure not marked measured, in model order.
    #[must_use]
    pub fn assumed(&self) -> Vec<AssumedFigure> {
        let mut all: Vec<(String, String)> = Vec::new();
        for u in &self.units {
            let o = &u.ops;
            let n = &u.name;
            all.push((format!("{n}.replicas"), o.replicas.to_string()));
            all.push((format!("{n}.p50_ms"), o.p50_ms.to_string()));
            all.push((format!("{n}.p99_ms"), o.p99_ms.to_string()));
            all.push((format!("{n}.capacity_rps"), o.capacity_rps.to_string()));
            all.push((format!("{n}.availability"), percent(o.availability)));
            all.push((format!("{n}.error_rate"), percent(o.error_rate)));
            all.push((format!("{n}.cost_cents"), o.cost_cents.to_string()));
        }
        for s in &self.stores {
            let n = &s.name;
            all.push((format!("{n}.availability"), percent(s.availability)));
            all.push((format!("{n}.p99_ms"), s.p99_ms.to_string()));
            all.push((format!("{n}.capacity_rps"), s.capacity_rps.to_string()));
            all.push((format!("{n}.cost_cents"), s.cost_cents.to_string()));
            if s.read_replicas > 0 {
                all.push((format!("{n}.replica_lag_ms"), s.replica_lag_ms.to_string()));
            }
        }
        for t in &self.topics {
            all.push((
                format!("{}.outbox_poll_ms", t.name),
                t.outbox_poll_ms.to_string(),
            ));
            all.push((
                format!("{}.delivery_p99_ms", t.name),
                t.delivery_p99_ms.to_string(),
            ));
            all.push((format!("{}.per_order", t.name), t.per_order.to_string()));
            all.push((
                format!("{}.outbox_batch", t.name),
                t.outbox_batch.to_string(),
            ));
        }
        let d = &self.deployment;
        all.push(("deployment.switch_ms".into(), d.switch_ms.to_string()));
        all.push((
            "deployment.failovers_per_month".into(),
            d.failovers_per_month.to_string(),
        ));
        all.into_iter()
            .filter(|(key, _)| !self.overridden.contains(key))
            .map(|(key, value)| AssumedFigure { key, value })
            .collect()
    }
}

/// A probability as a percentage with up to four decimals, e.g. `99.95%`.
#[must_use]
pub fn percent(p: f64) -> String {
    let s = format!("{:.4}", p * 100.0);
    let s = s.trim_end_matches('0').trim_end_matches('.');
    format!("{s}%")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_platform_has_the_product_tables_units_ports_and_start_up_order() {
        let model = ArchitectureModel::microservices("shop");
        let units: Vec<(&str, u16)> = model
            .units
            .iter()
            .map(|u| (u.name.as_str(), u.port))
            .collect();
        assert_eq!(
            units,
            [
                ("inventory-service", 8007),
                ("user-service", 8001),
                ("payment-service", 8006),
                ("notification-service", 8008),
                ("product-service", 8003),
                ("cart-service", 8004),
                ("order-service", 8005),
                ("api-gateway", 8080),
            ]
        );
        let order = model.unit("order-service").unwrap();
        assert_eq!(
            (order.crate_name.as_str(), order.env_prefix.as_str()),
            ("order_service", "ORDER_SERVICE")
        );
        assert_eq!(model.gateway().unwrap().name, "api-gateway");
        assert_eq!(model.services().count(), 7);
        assert_eq!(model.callees("product-service"), ["inventory-service"]);
        assert_eq!(model.publishers("payment.failed"), ["payment-service"]);
        assert_eq!(
            model.consumers("inventory.reserved"),
            ["payment-service", "order-service"]
        );
    }

    #[test]
    fn every_topic_a_unit_lists_matches_the_topic_table() {
        let model = ArchitectureModel::microservices("shop");
        for unit in &model.units {
            for t in &unit.publishes {
                assert_eq!(model.publishers(t), [unit.name.as_str()], "{t}");
            }
            for t in &unit.consumes {
                assert!(
                    model.consumers(t).contains(&unit.name.as_str()),
                    "{} consumes {t}",
                    unit.name
                );
            }
        }
        let listed: usize = model.units.iter().map(|u| u.consumes.len()).sum();
        assert_eq!(
            listed,
            model
                .topics
                .iter()
                .map(|t| t.subscriptions.len())
                .sum::<usize>()
        );
    }

    #[test]
    fn the_model_serializes_with_snake_case_fields_and_a_kebab_case_shape() {
        let json = serde_json::to_value(ArchitectureModel::microservices("shop")).unwrap();
        let keys: Vec<_> = json.as_object().unwrap().keys().cloned().collect();
        assert_eq!(
            keys,
            [
                "project",
                "shape",
                "units",
                "modules",
                "calls",
                "module_calls",
                "topics",
                "stores",
                "entries",
                "flows",
                "views",
                "deployment",
                "retention",
                "retry_budget",
                "overridden"
            ]
        );
        assert_eq!(json["shape"], "microservices");
        assert_eq!(json["units"][0]["ops"]["capacity_rps"], 500);
        assert_eq!(json["stores"][0]["replication"]["mode"], "synchronous");
        let back: ArchitectureModel = serde_json::from_value(json).unwrap();
        assert_eq!(back, ArchitectureModel::microservices("shop"));
        assert_eq!(
            serde_json::to_value(ArchitectureModel::decision_only("x")).unwrap()["shape"],
            "decision-only"
        );
    }

    #[test]
    fn a_measured_figure_is_no_longer_listed_as_assumed() {
        let mut model = ArchitectureModel::microservices("shop");
        assert!(
            model
                .assumed()
                .iter()
                .any(|a| a.key == "order-service.p99_ms" && a.value == "50")
        );
        model.mark_measured("order-service.p99_ms");
        assert!(
            !model
                .assumed()
                .iter()
                .any(|a| a.key == "order-service.p99_ms")
        );
    }
}
