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
//! | low | 1 | 20 | 1000 ms | $2,500 |
//! | moderate | 10 | 200 | 500 ms | $5,000 |
//! | high | 100 | 2,000 | 300 ms | $15,000 |
//! | extreme | 1,000 | 20,000 | 200 ms | $60,000 |
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
//! within 5 s at p99 and 30 s for all orders; `inventory change visible` within 10 s. Budgets
//! leave room for the platform's fixed part: six `PostgreSQL` primaries, Redis and the broker
//! cost $1,800 a month before any replica.

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
            Scalability::Low => (1, 20, 1_000, 2_500, 990_000),
            Scalability::Moderate => (10, 200, 500, 5_000, 995_000),
            Scalability::High => (100, 2_000, 300, 15_000, 999_000),
            Scalability::Extreme => (1_000, 20_000, 200, 60_000, 999_000),
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

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        req: RequirementArgs,
    }

    fn flags(args: &[&str]) -> Result<RequirementAnswers, RequirementError> {
        Cli::parse_from(std::iter::once("arch-init").chain(args.iter().copied()))
            .req
            .answers()
    }

    #[test]
    fn extreme_critical_defaults_follow_the_documented_tables() {
        let r = Requirements::derive(
            Scalability::Extreme,
            Security::Critical,
            &RequirementAnswers::default(),
        );
        assert_eq!(
            (r.orders_per_second, r.busiest_rps, r.p99_ms),
            (1_000, 20_000, 200)
        );
        assert_eq!((r.availability_ppm, r.error_rate_ppm), (999_000, 1_000));
        assert_eq!(
            (r.rto_ms, r.rpo_ms, r.monthly_budget_cents),
            (30_000, 0, 6_000_000)
        );
        assert_eq!(
            r.flows[ORDER_CONFIRMED],
            FlowBound {
                p99_ms: 5_000,
                all_ms: 30_000
            }
        );
        assert_eq!(r.staleness_ms[INVENTORY_VISIBLE], 10_000);
    }

    #[test]
    fn flags_convert_to_the_units_requirements_use() {
        let a = flags(&[
            "--availability",
            "99.95",
            "--error-rate",
            "0.1",
            "--monthly-budget",
            "1234.5",
            "--rto",
            "20",
            "--entry-p99",
            "checkout=300",
        ])
        .unwrap();
        let r = Requirements::derive(Scalability::Low, Security::Standard, &a);
        assert_eq!(
            (
                r.availability_ppm,
                r.error_rate_ppm,
                r.monthly_budget_cents,
                r.rto_ms
            ),
            (999_500, 1_000, 123_450, 20_000)
        );
        assert_eq!(
            (r.p99_bound("checkout"), r.p99_bound("login")),
            (300, 1_000)
        );
    }

    #[test]
    fn an_out_of_range_flag_is_named_with_its_value() {
        let err = flags(&["--availability", "120"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`--availability 120` is out of range: expected a percentage from 90 to 99.9999, e.g. 99.9"
        );
        let err = flags(&["--entry-p99", "checkout"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`--entry-p99 checkout` is not `ENTRY=MS`, e.g. `checkout=300`"
        );
    }

    #[test]
    fn a_requirements_table_reads_like_the_flags_and_names_bad_keys() {
        let table: toml::Table = toml::from_str(
            "orders_per_second = 50\navailability = 99.9\n[entry_p99_ms]\ncheckout = 250",
        )
        .unwrap();
        let a = RequirementAnswers::from_toml_value(&toml::Value::Table(table)).unwrap();
        assert_eq!(
            (
                a.orders_per_second,
                a.availability_ppm,
                a.entry_p99_ms["checkout"]
            ),
            (Some(50), Some(999_000), 250)
        );
        let bad: toml::Table = toml::from_str("rto = \"fast\"").unwrap();
        let err = RequirementAnswers::from_toml_value(&toml::Value::Table(bad)).unwrap_err();
        assert_eq!(err.to_string(), "`rto = \"fast\"` is not a whole number");
        let err =
            RequirementAnswers::from_json_value(&serde_json::json!({ "rpo": -1 })).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`\"rpo\": -1` is out of range: expected whole seconds from 0 to 86400"
        );
        let err =
            RequirementAnswers::from_json_value(&serde_json::json!({ "uptime": 1 })).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("unknown requirement `uptime`; expected one of: `orders_per_second`")
        );
    }

    #[test]
    fn flags_win_over_the_answers_file_when_overlaid() {
        let file = RequirementAnswers::from_json_value(&serde_json::json!({ "rto": 60, "rpo": 5 }))
            .unwrap();
        let cli = flags(&["--rto", "20"]).unwrap();
        let both = file.overlay(&cli);
        assert_eq!((both.rto, both.rpo), (Some(20), Some(5)));
    }
}
