//! Planning defaults: the figures a model uses until someone measures the real ones. Every
//! figure built from these is listed as "assumed" in the verification report; nothing here
//! is read at run time from anywhere else.

/// Replicas per unit before optimisation: two, so one can restart while the other serves.
pub const REPLICAS: u32 = 2;
/// Replicas that must be up for a unit to be up (k of r); one unless a unit needs quorum.
pub const MIN_UP: u32 = 1;
/// Peak load over steady-state load: a deployment starts at a third of the replicas the peak
/// needs and lets the autoscaler add the rest (retail traffic's daily peak runs at about three
/// times its daily mean).
pub const PEAK_TO_STEADY: u32 = 3;
/// Database connections one replica's pool opens at most (`DATABASE_MAX_CONNECTIONS`).
pub const POOL_SIZE: u32 = 10;
/// Connections each module's pool opens at most in a modular monolith, where every module
/// on `PostgreSQL` has a pool of its own to its schema (the unit's `pool_size` is their sum).
pub const MODULE_POOL_SIZE: u32 = 4;
/// Connections a `PostgreSQL` server accepts: its default `max_connections`.
pub const POSTGRES_MAX_CONNECTIONS: u32 = 100;
/// Of those, kept free for migrations, administrators and monitoring, outside every pool.
pub const RESERVED_CONNECTIONS: u32 = 10;
/// Median time a service spends on a request itself (downstream calls and stores excluded).
pub const SERVICE_P50_MS: u64 = 10;
/// 99th-percentile time a service spends on a request itself.
pub const SERVICE_P99_MS: u64 = 50;
/// Median time the gateway adds (routing, authentication).
pub const GATEWAY_P50_MS: u64 = 2;
/// 99th-percentile time the gateway adds.
pub const GATEWAY_P99_MS: u64 = 10;
/// Requests per second one service replica serves (axum, one pooled database round trip).
pub const SERVICE_CAPACITY_RPS: u64 = 500;
/// Requests per second one gateway replica forwards.
pub const GATEWAY_CAPACITY_RPS: u64 = 2_000;
/// Probability that one replica is up (about 3.6 hours down a month).
pub const REPLICA_AVAILABILITY: f64 = 0.995;
/// Fraction of requests a healthy replica answers with an error (1 in 5,000).
pub const ERROR_RATE: f64 = 0.000_2;
/// Cost of one replica-month (0.5 vCPU, 1 GiB), in cents.
pub const REPLICA_COST_CENTS: u64 = 3_000;

/// Availability of a managed `PostgreSQL` primary with a synchronous standby.
pub const POSTGRES_AVAILABILITY: f64 = 0.999_5;
/// 99th-percentile latency of one `PostgreSQL` transaction (synchronous commit included).
pub const POSTGRES_P99_MS: u64 = 10;
/// Operations per second one `PostgreSQL` primary sustains.
pub const POSTGRES_CAPACITY_RPS: u64 = 20_000;
/// Monthly cost of one `PostgreSQL` primary with its standby, in cents.
pub const POSTGRES_COST_CENTS: u64 = 20_000;
/// Availability of a managed Redis primary with a replica.
pub const REDIS_AVAILABILITY: f64 = 0.999_5;
/// 99th-percentile latency of one Redis command.
pub const REDIS_P99_MS: u64 = 2;
/// Operations per second one Redis primary sustains.
pub const REDIS_CAPACITY_RPS: u64 = 100_000;
/// Monthly cost of one Redis primary with its replica, in cents.
pub const REDIS_COST_CENTS: u64 = 10_000;
/// Replication lag of Redis' asynchronous replica.
pub const REDIS_LAG_MS: u64 = 1_000;
/// Availability of the Kafka-protocol broker cluster.
pub const BROKER_AVAILABILITY: f64 = 0.999_5;
/// 99th-percentile time from publish to delivery at a consumer.
pub const BROKER_DELIVERY_P99_MS: u64 = 50;
/// 99th-percentile time from an outbox relay's publish to the handler in the same process:
/// a queue hand-off, no network.
pub const IN_PROCESS_DELIVERY_P99_MS: u64 = 5;
/// Messages per second the broker cluster sustains.
pub const BROKER_CAPACITY_RPS: u64 = 50_000;
/// Monthly cost of the broker cluster (three brokers), in cents.
pub const BROKER_COST_CENTS: u64 = 50_000;
/// Availability of the external payment provider.
pub const PROVIDER_AVAILABILITY: f64 = 0.999_5;
/// 99th-percentile latency of one charge at the payment provider.
pub const PROVIDER_P99_MS: u64 = 800;
/// Charges per second the payment provider accepts from us (its rate limit).
pub const PROVIDER_CAPACITY_RPS: u64 = 5_000;

/// How often each outbox relay polls for unpublished events.
pub const OUTBOX_POLL_MS: u64 = 100;
/// The most rows one pass of an outbox relay locks and publishes.
pub const OUTBOX_BATCH: u64 = 100;
/// Retries a client may add per hundred first attempts: Finagle's default retry budget.
pub const RETRY_BUDGET_PERCENT: u32 = 20;
/// Retries a client may make per second whatever its traffic: Finagle's default floor.
pub const RETRY_BUDGET_MIN_PER_SECOND: u32 = 10;
/// How far a `PostgreSQL` read replica (asynchronous streaming replication) may trail its
/// primary under load.
pub const REPLICA_LAG_MS: u64 = 1_000;
/// How long a consumer's handler may run before the message is redelivered.
pub const HANDLER_TIMEOUT_MS: u64 = 1_000;
/// Deliveries of one message before it is dead-lettered.
pub const DELIVERY_ATTEMPTS: u32 = 3;
/// Pause between redeliveries.
pub const REDELIVERY_BACKOFF_MS: u64 = 500;
/// Messages of different aggregates one consumer replica handles at once: enough to keep a
/// handler that waits on a 50 ms provider call at several hundred messages a second.
pub const CONSUMER_CONCURRENCY: u32 = 32;

/// Interval between health checks.
pub const HEALTH_CHECK_INTERVAL_MS: u64 = 5_000;
/// Consecutive failed checks before the instance is declared down.
pub const FAILURE_THRESHOLD: u32 = 3;
/// How long one health check may take.
pub const CHECK_TIMEOUT_MS: u64 = 2_000;
/// Time to promote the standby and move traffic once failure is declared.
pub const SWITCH_MS: u64 = 5_000;
/// Region failovers planned for per month (prices the failover penalty).
pub const FAILOVERS_PER_MONTH: u32 = 1;
/// Lag of asynchronous cross-region replication.
pub const CROSS_REGION_LAG_MS: u64 = 1_000;
/// Hours the broker keeps a topic's records: Kafka's own default (`log.retention.hours`).
pub const BROKER_RETENTION_HOURS: u64 = 7 * 24;
/// Hours an inbox remembers a processed event id: the broker's retention and a day for a
/// consumer that reads at the very edge of it.
pub const INBOX_RETENTION_HOURS: u64 = 8 * 24;
/// Hours a published outbox row is kept for "what was announced, and when".
pub const OUTBOX_RETENTION_HOURS: u64 = 24;
/// How long a flow (the checkout saga) may take before it is given up and compensated: long
/// enough to outlast a consumer group's rebalance during a rolling deploy and the flow's worst
/// case within its redelivery budgets, short enough that a customer is not left waiting.
pub const FLOW_TIMEOUT_MS: u64 = 300_000;
/// Hours an idempotency key replays its first response: a day, as payment APIs keep theirs
/// (Stripe's window), far longer than any client retries.
pub const IDEMPOTENCY_RETENTION_HOURS: u64 = 24;
