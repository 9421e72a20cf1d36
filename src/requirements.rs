//! What the system must meet: rates, latency bounds, flow and staleness bounds, availability,
//! error rate, budget, RTO and RPO. Comes in as the scalability and security answers plus
//! optional overrides (flags or a `[requirements]` table, flags winning); goes out as a
//! serializable `Requirements` that `verify` checks the model against. It never looks at
//! the model.
//!
//! Defaults, before overrides:
//!
//! | scalability | orders/s | busiest entry req/s | entry p99 | monthly budget |
//! |---|---|---|---|---|
//! | low | 1 | 20 | 1000 ms | $500 |
//! | moderate | 10 | 200 | 500 ms | $2,000 |
//! | high | 100 | 2,000 | 300 ms | $10,000 |
//! | extreme | 1,000 | 20,000 | 200 ms | $50,000 |
//!
//! | security | availability floor | error rate | RTO | RPO |
//! |---|---|---|---|---|
//! | standard | 99.0% | 1% | 600 s | 300 s |
//! | high | 99.5% | 0.5% | 120 s | 60 s |
//! | critical | 99.9% | 0.1% | 30 s | 0 s |
//!
//! Availability is the higher of the security floor and the scalability floor (low 99.0%,
//! moderate 99.5%, high and extreme 99.9%). It stops at 99.9% because a request path that
//! touches two single-region stores at 99.95% each cannot exceed 99.90%; ask for more with
//! `--availability` and the report says what it would take. Every level: `order confirmed`
//! within 5 s at p99 and 30 s for all orders; `inventory change visible` within 10 s.

mod input;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::context::{Scalability, Security};

/// Bounds the system must meet, in integers: ms, cents, parts per million.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Requirements {
    /// Orders placed per second at peak.
    pub orders_per_second: u64,
    /// Requests per second at the busiest entry path at peak.
    pub busiest_rps: u64,
    /// p99 latency bound for every entry path without its own bound.
    pub p99_ms: u64,
    /// p99 latency bounds for named entry paths.
    pub entry_p99_ms: BTreeMap<String, u64>,
    /// Bounds for named flows.
    pub flows: BTreeMap<String, FlowBound>,
    /// Staleness bounds for named read views.
    pub staleness_ms: BTreeMap<String, u64>,
    /// Availability target per entry path, parts per million (999 000 = 99.9%).
    pub availability_ppm: u64,
    /// Error-rate target per entry path, parts per million (1 000 = 0.1%).
    pub error_rate_ppm: u64,
    /// Monthly budget in cents.
    pub monthly_budget_cents: u64,
    /// Longest acceptable failover.
    pub rto_ms: u64,
    /// Longest acceptable window of lost writes.
    pub rpo_ms: u64,
}

/// How long a flow may take.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowBound {
    /// Bound for 99% of flows.
    pub p99_ms: u64,
    /// Bound for every flow that does not end in the dead-letter queue.
    pub all_ms: u64,
}

/// The flow `--order-confirmed-*` bounds.
pub const ORDER_CONFIRMED: &str = "order confirmed";
/// The view `--stock-visible-within` bounds.
pub const INVENTORY_VISIBLE: &str = "inventory change visible";

impl Requirements {
    /// Defaults from the answers (tables above), then the overrides.
    #[must_use]
    pub fn derive(
        scalability: Scalability,
        security: Security,
        answers: &RequirementAnswers,
    ) -> Self {
        let (orders, busiest, p99, budget_dollars, scale_floor) = match scalability {
            Scalability::Low => (1, 20, 1_000, 500, 990_000),
            Scalability::Moderate => (10, 200, 500, 2_000, 995_000),
            Scalability::High => (100, 2_000, 300, 10_000, 999_000),
            Scalability::Extreme => (1_000, 20_000, 200, 50_000, 999_000),
        };
        let (security_floor, error_rate_ppm, recovery_s, loss_window_s) = match security {
            Security::Standard => (990_000, 10_000, 600, 300),
            Security::High => (995_000, 5_000, 120, 60),
            Security::Critical => (999_000, 1_000, 30, 0),
        };
        let a = answers;
        let confirmed = FlowBound {
            p99_ms: a.order_confirmed_p99.map_or(5_000, |s| s * 1_000),
            all_ms: a.order_confirmed_within.map_or(30_000, |s| s * 1_000),
        };
        Self {
            orders_per_second: a.orders_per_second.unwrap_or(orders),
            busiest_rps: a.requests_per_second.unwrap_or(busiest),
            p99_ms: a.p99_ms.unwrap_or(p99),
            entry_p99_ms: a.entry_p99_ms.clone(),
            flows: BTreeMap::from([(ORDER_CONFIRMED.to_owned(), confirmed)]),
            staleness_ms: BTreeMap::from([(
                INVENTORY_VISIBLE.to_owned(),
                a.stock_visible_within.map_or(10_000, |s| s * 1_000),
            )]),
            availability_ppm: a
                .availability_ppm
                .unwrap_or(scale_floor.max(security_floor)),
            error_rate_ppm: a.error_rate_ppm.unwrap_or(error_rate_ppm),
            monthly_budget_cents: a.monthly_budget_cents.unwrap_or(budget_dollars * 100),
            rto_ms: a.rto.unwrap_or(recovery_s) * 1_000,
            rpo_ms: a.rpo.unwrap_or(loss_window_s) * 1_000,
        }
    }

    /// The p99 bound for the entry path `entry`.
    #[must_use]
    pub fn p99_bound(&self, entry: &str) -> u64 {
        self.entry_p99_ms.get(entry).copied().unwrap_or(self.p99_ms)
    }

    /// The availability target as a probability.
    #[must_use]
    pub fn availability(&self) -> f64 {
        ppm_to_f64(self.availability_ppm)
    }

    /// The error-rate target as a fraction.
    #[must_use]
    pub fn error_rate(&self) -> f64 {
        ppm_to_f64(self.error_rate_ppm)
    }
}

#[allow(clippy::cast_precision_loss, reason = "ppm values stay below 2^53")]
fn ppm_to_f64(ppm: u64) -> f64 {
    ppm as f64 / 1_000_000.0
}

/// Overrides the user gave, already validated and in the units `Requirements` uses.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequirementAnswers {
    /// Orders per second at peak.
    pub orders_per_second: Option<u64>,
    /// Requests per second at the busiest entry path.
    pub requests_per_second: Option<u64>,
    /// Default p99 bound in ms.
    pub p99_ms: Option<u64>,
    /// p99 bounds per entry path in ms.
    pub entry_p99_ms: BTreeMap<String, u64>,
    /// Availability target in ppm.
    pub availability_ppm: Option<u64>,
    /// Error-rate target in ppm.
    pub error_rate_ppm: Option<u64>,
    /// Monthly budget in cents.
    pub monthly_budget_cents: Option<u64>,
    /// RTO in seconds.
    pub rto: Option<u64>,
    /// RPO in seconds.
    pub rpo: Option<u64>,
    /// `order confirmed` p99 bound in seconds.
    pub order_confirmed_p99: Option<u64>,
    /// `order confirmed` bound for all orders in seconds.
    pub order_confirmed_within: Option<u64>,
    /// `inventory change visible` bound in seconds.
    pub stock_visible_within: Option<u64>,
}

impl RequirementAnswers {
    /// These answers with every value `over` sets replacing ours (flags over a file).
    #[must_use]
    pub fn overlay(&self, over: &Self) -> Self {
        let mut entry_p99_ms = self.entry_p99_ms.clone();
        entry_p99_ms.extend(over.entry_p99_ms.iter().map(|(k, v)| (k.clone(), *v)));
        Self {
            orders_per_second: over.orders_per_second.or(self.orders_per_second),
            requests_per_second: over.requests_per_second.or(self.requests_per_second),
            p99_ms: over.p99_ms.or(self.p99_ms),
            entry_p99_ms,
            availability_ppm: over.availability_ppm.or(self.availability_ppm),
            error_rate_ppm: over.error_rate_ppm.or(self.error_rate_ppm),
            monthly_budget_cents: over.monthly_budget_cents.or(self.monthly_budget_cents),
            rto: over.rto.or(self.rto),
            rpo: over.rpo.or(self.rpo),
            order_confirmed_p99: over.order_confirmed_p99.or(self.order_confirmed_p99),
            order_confirmed_within: over.order_confirmed_within.or(self.order_confirmed_within),
            stock_visible_within: over.stock_visible_within.or(self.stock_visible_within),
        }
    }

    /// Reads a `[requirements]` table (the table itself, not the whole answers file).
    pub fn from_toml_value(value: &toml::Value) -> Result<Self, RequirementError> {
        let json = serde_json::to_value(value).map_err(|_| RequirementError::NotATable)?;
        input::from_table(&json, input::Syntax::Toml)
    }

    /// Reads a `"requirements"` object of a JSON answers file.
    pub fn from_json_value(value: &serde_json::Value) -> Result<Self, RequirementError> {
        input::from_table(value, input::Syntax::Json)
    }
}

/// A requirement the user set that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequirementError {
    /// A number outside its range, shown as the user wrote it.
    #[error("{setting} is out of range: expected {expected}")]
    OutOfRange {
        /// The flag or key with its value, e.g. `` `--availability 120` ``.
        setting: String,
        /// The accepted range.
        expected: &'static str,
    },
    /// A value of the wrong type.
    #[error("{setting} is not {expected}")]
    WrongType {
        /// The key with its value.
        setting: String,
        /// What was expected.
        expected: &'static str,
    },
    /// A key the requirements table does not have.
    #[error("unknown requirement `{key}`; expected one of: {known}")]
    UnknownKey {
        /// The key as written.
        key: String,
        /// The accepted keys.
        known: String,
    },
    /// The requirements are not a table.
    #[error(
        "`requirements` is not a table; write `[requirements]` followed by `key = value` lines"
    )]
    NotATable,
}

/// Requirement flags; each overrides the default derived from `--scalability` and `--security`.
#[derive(clap::Args, Debug, Default, Clone)]
pub struct RequirementArgs {
    /// Orders per second at peak [default by scalability: 1, 10, 100, 1000].
    #[arg(long, value_name = "N")]
    pub orders_per_second: Option<u64>,
    /// Requests per second at the busiest entry path, e.g. product pages [default: 20× orders].
    #[arg(long, value_name = "N")]
    pub requests_per_second: Option<u64>,
    /// p99 latency bound for every request path, in milliseconds [default: 1000 to 200].
    #[arg(long, value_name = "MS")]
    pub p99_ms: Option<u64>,
    /// p99 bound for one request path, e.g. `checkout=300`; repeatable.
    #[arg(long, value_name = "ENTRY=MS")]
    pub entry_p99: Vec<String>,
    /// Availability target in percent, e.g. 99.9 [default by security and scalability].
    #[arg(long, value_name = "PERCENT")]
    pub availability: Option<f64>,
    /// Error-rate target in percent, e.g. 0.1 [default by security: 1, 0.5, 0.1].
    #[arg(long, value_name = "PERCENT")]
    pub error_rate: Option<f64>,
    /// Monthly infrastructure budget in dollars [default by scalability].
    #[arg(long, value_name = "DOLLARS")]
    pub monthly_budget: Option<f64>,
    /// Longest acceptable failover (RTO) in seconds [default by security: 600, 120, 30].
    #[arg(long, value_name = "SECONDS")]
    pub rto: Option<u64>,
    /// Longest acceptable window of lost writes (RPO) in seconds [default: 300, 60, 0].
    #[arg(long, value_name = "SECONDS")]
    pub rpo: Option<u64>,
    /// Seconds within which 99% of orders are confirmed [default: 5].
    #[arg(long, value_name = "SECONDS")]
    pub order_confirmed_p99: Option<u64>,
    /// Seconds within which every order is confirmed or cancelled [default: 30].
    #[arg(long, value_name = "SECONDS")]
    pub order_confirmed_within: Option<u64>,
    /// Seconds within which a stock change shows on product pages [default: 10].
    #[arg(long, value_name = "SECONDS")]
    pub stock_visible_within: Option<u64>,
}

impl RequirementArgs {
    /// The flags as validated answers; errors name the flag and its value.
    pub fn answers(&self) -> Result<RequirementAnswers, RequirementError> {
        input::from_args(self)
    }
}
