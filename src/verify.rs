//! Checks an `ArchitectureModel` against `Requirements` and says, property by property,
//! whether it is PROVED or FAILED by exact arithmetic over the model's figures (sums, maxima,
//! products and an exhaustive branch-and-bound, no sampling and no solver), TESTED by a named
//! test in the generated repository, or UNCHECKED. Failures carry a counterexample. It never
//! changes the model; `optimise` proposes replica counts and `ArchitectureModel::with_replicas`
//! applies them.

mod capacity;
mod deployment;
mod flows;
mod format;
mod measured;
mod optimise;
mod paths;
mod structure;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::model::{ArchitectureModel, AssumedFigure};
use crate::requirements::Requirements;

pub use measured::{Comparison, Measurement, compare};
pub use optimise::{EXTRA_REPLICAS, optimise};

/// The outcome of one check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Verdict {
    /// Holds, by arithmetic over the model.
    Proved,
    /// Does not hold; the check carries a counterexample.
    Failed,
    /// Enforced by a named test in the generated repository.
    Tested,
    /// Not checked; listed so it is not forgotten.
    Unchecked,
    /// Holds in a load run's measurement (`verify --measured`).
    Measured,
}

/// The property a check is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Property {
    /// p99 latency of an entry path.
    Latency,
    /// Callers' timeouts cover their callees' worst case.
    TimeoutNesting,
    /// A flow across sync and async hops finishes in time.
    FlowTime,
    /// A read view is fresh enough.
    Staleness,
    /// The busiest unit or store primary keeps up.
    Throughput,
    /// Every replica's database pool fits the connections its store (or pooler) accepts.
    Connections,
    /// An entry path is up often enough.
    Availability,
    /// An entry path fails rarely enough.
    ErrorRate,
    /// Failover finishes within the RTO.
    Failover,
    /// Failover loses at most the RPO.
    DataLoss,
    /// The monthly bill fits the budget.
    Cost,
    /// Retries, redeliveries, events and stock are safe by construction.
    Structure,
    /// A business invariant the generated code must keep.
    Invariant,
    /// An operational figure outside the model.
    Operations,
}

impl Property {
    /// Name shown in the report.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Self::Latency => "p99 latency",
            Self::TimeoutNesting => "timeout nesting",
            Self::FlowTime => "flow time",
            Self::Staleness => "staleness",
            Self::Throughput => "throughput",
            Self::Connections => "connections",
            Self::Availability => "availability",
            Self::ErrorRate => "error rate",
            Self::Failover => "failover (RTO)",
            Self::DataLoss => "data loss (RPO)",
            Self::Cost => "monthly cost",
            Self::Structure => "structural safety",
            Self::Invariant => "invariant",
            Self::Operations => "operations",
        }
    }
}

/// A number in a check, in integers so the report is deterministic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Figure {
    /// Milliseconds.
    Ms(u64),
    /// Parts per million (availability rounded down, error rate rounded up).
    Ppm(u64),
    /// Requests per second.
    Rps(u64),
    /// Cents.
    Cents(u64),
    /// Database connections.
    Connections(u64),
}

/// One row of the report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Check {
    /// What is checked.
    pub property: Property,
    /// Which entry path, flow, view or part of the system.
    pub subject: String,
    /// The outcome.
    pub verdict: Verdict,
    /// One line: the figure against its bound.
    pub detail: String,
    /// The computed figure, if any.
    pub value: Option<Figure>,
    /// The bound it is held to, if any.
    pub bound: Option<Figure>,
    /// For a failure, the counterexample line by line; otherwise the arithmetic.
    pub evidence: Vec<String>,
}

/// One line of the monthly bill.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CostItem {
    /// Unit or store.
    pub item: String,
    /// How the amount is made up, e.g. `3 replicas × $30.00 × 1 region`.
    pub basis: String,
    /// Amount in cents.
    pub cents: u64,
}

/// Replica counts and what they cost.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Sizing {
    /// Replicas per unit name.
    pub replicas: BTreeMap<String, u32>,
    /// Read replicas per store name, for the stores that need any.
    pub read_replicas: BTreeMap<String, u32>,
    /// Monthly cost of the whole model with these replicas, in cents.
    pub monthly_cost_cents: u64,
}

/// The cheapest replica counts that satisfy every property, or why there are none.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Optimum {
    /// Every property holds with these replicas, and no cheaper counts do.
    Found(Sizing),
    /// No replica counts satisfy every property.
    Infeasible {
        /// Why, one line each.
        reasons: Vec<String>,
        /// The cheapest counts meeting the properties replicas affect, if any exist.
        closest: Option<Sizing>,
    },
    /// The model has no units to size.
    NothingToSize,
}

impl Optimum {
    /// The replica counts to render: the optimum, or the closest counts when none exists.
    #[must_use]
    pub fn sizing(&self) -> Option<&Sizing> {
        match self {
            Self::Found(sizing) => Some(sizing),
            Self::Infeasible { closest, .. } => closest.as_ref(),
            Self::NothingToSize => None,
        }
    }
}

/// Every check, the optimum, the bill and the figures that are still assumptions.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct VerificationReport {
    /// Project name.
    pub project: String,
    /// Checks in property order, then in model order.
    pub checks: Vec<Check>,
    /// The monthly bill of the model as given.
    pub cost: Vec<CostItem>,
    /// Cheapest replica counts satisfying every property.
    pub optimum: Optimum,
    /// Planning figures nobody has measured.
    pub assumed: Vec<AssumedFigure>,
}

impl VerificationReport {
    /// Whether any check FAILED.
    #[must_use]
    pub fn has_failures(&self) -> bool {
        self.checks.iter().any(|c| c.verdict == Verdict::Failed)
    }

    /// How many checks FAILED.
    #[must_use]
    pub fn failures(&self) -> usize {
        failures(&self.checks)
    }

    /// The checks about `property`.
    pub fn checks_of(&self, property: Property) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(move |c| c.property == property)
    }

    /// A plain-text table for the terminal, then counterexamples, the optimum and assumptions.
    #[must_use]
    pub fn to_text(&self) -> String {
        format::text(self)
    }

    /// The same content as Markdown, for the ADR and ARCHITECTURE.md.
    #[must_use]
    pub fn to_markdown(&self) -> String {
        format::markdown(self)
    }
}

/// Checks every property of `model` against `req`.
#[must_use]
pub fn verify(model: &ArchitectureModel, req: &Requirements) -> VerificationReport {
    if model.units.is_empty() {
        // Nothing is rendered, so there is nothing to hold to the requirements; checks over
        // an empty model would all hold vacuously and say nothing.
        return VerificationReport {
            project: model.project.clone(),
            checks: Vec::new(),
            cost: Vec::new(),
            optimum: Optimum::NothingToSize,
            assumed: Vec::new(),
        };
    }
    let mut checks = model_checks(model, req);
    checks.sort_by_key(|c| c.property);
    VerificationReport {
        project: model.project.clone(),
        checks,
        cost: deployment::bill(model),
        optimum: optimise(model, req),
        assumed: model.assumed(),
    }
}

/// Every check, in the order each property produces them (no optimum: it calls this).
fn model_checks(model: &ArchitectureModel, req: &Requirements) -> Vec<Check> {
    let mut checks = Vec::new();
    checks.extend(paths::latency(model, req));
    checks.push(paths::timeouts(model));
    checks.extend(flows::flows(model, req));
    checks.extend(flows::staleness(model, req));
    checks.push(capacity::throughput(model, req));
    checks.extend(deployment::connections(model));
    checks.extend(capacity::availability(model, req));
    checks.extend(paths::error_rates(model, req));
    checks.push(deployment::failover(model, req));
    checks.push(deployment::data_loss(model, req));
    checks.push(deployment::cost(model, req));
    checks.extend(structure::safety(model));
    checks.extend(structure::invariants(model));
    checks.extend(structure::unchecked());
    checks
}

impl Check {
    fn new(
        property: Property,
        subject: impl Into<String>,
        holds: bool,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            property,
            subject: subject.into(),
            verdict: if holds {
                Verdict::Proved
            } else {
                Verdict::Failed
            },
            detail: detail.into(),
            value: None,
            bound: None,
            evidence: Vec::new(),
        }
    }

    fn figures(mut self, value: Figure, bound: Figure) -> Self {
        self.value = Some(value);
        self.bound = Some(bound);
        self
    }

    fn evidence(mut self, lines: Vec<String>) -> Self {
        self.evidence = lines;
        self
    }
}

/// How many of `checks` FAILED.
fn failures(checks: &[Check]) -> usize {
    checks
        .iter()
        .filter(|c| c.verdict == Verdict::Failed)
        .count()
}

/// Milliseconds as the report prints them: `850 ms`, `22 s`, `1.5 s`.
fn ms(value: u64) -> String {
    if value >= 1_000 && value % 100 == 0 {
        let s = format!("{}.{}", value / 1_000, (value % 1_000) / 100);
        format!("{} s", s.trim_end_matches(".0"))
    } else {
        format!("{value} ms")
    }
}

/// Cents as dollars: `$1,234.50`.
fn dollars(cents: u64) -> String {
    let whole = (cents / 100).to_string();
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("${grouped}.{:02}", cents % 100)
}

/// A probability rounded down to parts per million (never overstates availability).
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "p is in [0, 1]"
)]
fn ppm_floor(p: f64) -> u64 {
    (p.clamp(0.0, 1.0) * 1_000_000.0 + 1e-9).floor() as u64
}

/// A fraction rounded up to parts per million (never understates an error rate).
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "p is in [0, 1]"
)]
fn ppm_ceil(p: f64) -> u64 {
    (p.clamp(0.0, 1.0) * 1_000_000.0 - 1e-9).ceil() as u64
}

/// Parts per million as a percentage with four decimals: `99.9000%`.
fn ppm_percent(ppm: u64) -> String {
    format!("{}.{:04}%", ppm / 10_000, ppm % 10_000)
}

#[cfg(test)]
mod tests;
