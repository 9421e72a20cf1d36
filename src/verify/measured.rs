//! Measurement against the model: a load run's report (the generated repository's `loadgen`
//! writes it as `report.json`) compared, figure by figure, with the requirement and with what
//! the model predicts, and the planning assumptions the run contradicts. The model predicts
//! latencies from its figures as they are, and the highest rate the measured deployment (one
//! replica of each unit, as the devstack and compose run them) could carry with the run's mix
//! of entry paths, from each part's capacity.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::{ArchitectureModel, EntryPath, RetryBudget};
use crate::requirements::Requirements;

use super::capacity::{Loads, loads_at, rows};
use super::{Check, Figure, Property, Verdict, VerificationReport, ms};

/// What `verify --measured` reads of a load run's report: the fields `loadgen` writes that the
/// comparison needs; any others are ignored.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Measurement {
    /// Where the run sent its requests.
    pub target: String,
    /// Requests per second offered.
    pub rate: u32,
    /// Seconds the requests were sent for.
    pub duration_s: f64,
    /// Each entry path's part of the run.
    pub entries: Vec<MeasuredEntry>,
    /// What became of the orders placed.
    pub orders: MeasuredOrders,
    /// The business invariants the run checked.
    #[serde(default)]
    pub invariants: Vec<MeasuredInvariant>,
}

/// One entry path in a load run.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct MeasuredEntry {
    /// The model's name of the entry path.
    pub name: String,
    /// Requests the run meant to send.
    pub scheduled: u64,
    /// Successful answers.
    pub ok: u64,
    /// Failures by kind.
    #[serde(default)]
    pub errors: BTreeMap<String, u64>,
    /// Successful answers per second.
    pub ok_per_second: f64,
    /// Latency of the successful answers, from their intended start.
    pub latency: MeasuredLatency,
}

/// A latency distribution, in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize)]
pub struct MeasuredLatency {
    /// How many were measured.
    pub count: u64,
    /// The 99th percentile.
    pub p99_ms: f64,
}

/// The orders of a load run.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct MeasuredOrders {
    /// Orders placed.
    pub placed: u64,
    /// Orders confirmed.
    pub confirmed: u64,
    /// Orders not final when the run stopped waiting.
    pub unsettled: u64,
    /// Time from placed to confirmed.
    pub confirmed_time: MeasuredLatency,
}

/// One invariant a load run checked.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct MeasuredInvariant {
    /// Its name, e.g. `no oversell`.
    pub name: String,
    /// Whether it held.
    pub held: bool,
    /// What was checked, or the first counterexamples.
    #[serde(default)]
    pub detail: String,
}

/// A measured figure more than this much worse than the model's prediction contradicts the
/// assumptions behind it (the model's figures are planning figures, not bounds on noise).
const TOLERANCE_PERCENT: u64 = 30;

/// The measured checks and the assumptions the run contradicts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Comparison {
    /// Where the figures come from, in one line.
    pub source: String,
    /// One check per measured figure that has a requirement; MEASURED when it meets it.
    pub checks: Vec<Check>,
    /// Each assumption the measurement contradicts, with the figures.
    pub contradicted: Vec<String>,
    /// The highest rate of the run's mix the model says one replica of each unit carries.
    pub predicted_rps: u64,
}

fn measured(property: Property, subject: &str, holds: bool, detail: String) -> Check {
    let mut check = Check::new(property, format!("{subject} (measured)"), holds, detail);
    if holds {
        check.verdict = Verdict::Measured;
    }
    check
}

/// A measured p99 against its bound, with the model's prediction beside it.
fn latency(property: Property, subject: &str, p99: u64, bound: u64, model_p99: u64) -> Check {
    let holds = p99 <= bound;
    measured(
        property,
        subject,
        holds,
        format!(
            "{} {} {}; the model predicts {}",
            ms(p99),
            if holds { "<=" } else { ">" },
            ms(bound),
            ms(model_p99)
        ),
    )
    .figures(Figure::Ms(p99), Figure::Ms(bound))
}

/// Whether `measured` exceeds `predicted` by more than the tolerance.
fn slower(measured: u64, predicted: u64) -> bool {
    measured * 100 > predicted * (100 + TOLERANCE_PERCENT)
}

/// Milliseconds, rounded up, as the checks carry them.
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "latencies are positive and far below 2^64 ms"
)]
fn ceil_ms(value: f64) -> u64 {
    value.max(0.0).ceil() as u64
}

/// A rate in thousandths of a request per second, so that a run of a few requests a second
/// keeps its mix exactly.
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "rates are positive and far below 2^53"
)]
fn milli(rate: f64) -> u64 {
    (rate.max(0.0) * 1_000.0).round() as u64
}

/// The predicted value of `property` for `subject` in `report`.
fn predicted(report: &VerificationReport, property: Property, subject: &str) -> Option<(u64, u64)> {
    let c = report.checks_of(property).find(|c| c.subject == subject)?;
    match (c.value, c.bound) {
        (Some(Figure::Ms(value)), Some(Figure::Ms(bound))) => Some((value, bound)),
        _ => None,
    }
}

impl Comparison {
    /// How many measured checks FAILED.
    #[must_use]
    pub fn failures(&self) -> usize {
        super::failures(&self.checks)
    }

    /// Plain text for the terminal, after the verification report.
    #[must_use]
    pub fn to_text(&self) -> String {
        super::format::comparison(self)
    }
}

/// Compares `m` with `req` and with `model`'s predictions in `report` (its verification).
#[must_use]
pub fn compare(
    model: &ArchitectureModel,
    req: &Requirements,
    report: &VerificationReport,
    m: &Measurement,
) -> Comparison {
    let mut checks = Vec::new();
    let mut contradicted = Vec::new();
    for e in m.entries.iter().filter(|e| e.latency.count > 0) {
        let Some((model_p99, bound)) = predicted(report, Property::Latency, &e.name) else {
            continue;
        };
        let p99 = ceil_ms(e.latency.p99_ms);
        checks.push(latency(Property::Latency, &e.name, p99, bound, model_p99));
        if slower(p99, model_p99) {
            contradicted.push(format!(
                "p99 of {}: measured {} > predicted {}: the own-time (p99_ms) figures of the units on its path are optimistic for this deployment",
                e.name,
                ms(p99),
                ms(model_p99)
            ));
        }
        let failed: u64 = e.errors.values().sum();
        let ppm = failed * 1_000_000 / e.scheduled.max(1);
        let holds = ppm <= req.error_rate_ppm;
        checks.push(
            measured(
                Property::ErrorRate,
                &e.name,
                holds,
                format!(
                    "{failed} of {} requests failed = {} {} {}",
                    e.scheduled,
                    super::ppm_percent(ppm),
                    if holds { "<=" } else { ">" },
                    super::ppm_percent(req.error_rate_ppm)
                ),
            )
            .figures(Figure::Ppm(ppm), Figure::Ppm(req.error_rate_ppm)),
        );
    }
    if m.orders.placed > 0 {
        orders(report, m, &mut checks, &mut contradicted);
    }
    for i in &m.invariants {
        let mut check = measured(Property::Invariant, &i.name, i.held, i.detail.clone());
        check.evidence = if i.held {
            Vec::new()
        } else {
            vec![i.detail.clone()]
        };
        checks.push(check);
    }
    let predicted_rps = capacity(model, m, &mut contradicted);
    Comparison {
        source: format!(
            "{:.0} s at {} req/s against {}",
            m.duration_s, m.rate, m.target
        ),
        checks,
        contradicted,
        predicted_rps,
    }
}

/// The order-confirmed flow: its p99 against the bound and the prediction, and every order
/// settled.
fn orders(
    report: &VerificationReport,
    m: &Measurement,
    checks: &mut Vec<Check>,
    contradicted: &mut Vec<String>,
) {
    if let Some((model_p99, bound)) = predicted(report, Property::FlowTime, "order confirmed (p99)")
        && m.orders.confirmed_time.count > 0
    {
        let p99 = ceil_ms(m.orders.confirmed_time.p99_ms);
        checks.push(latency(
            Property::FlowTime,
            "order confirmed (p99)",
            p99,
            bound,
            model_p99,
        ));
        if slower(p99, model_p99) {
            contradicted.push(format!(
                "order confirmed p99: measured {} > predicted {}: the outbox poll, delivery or handler figures of its steps are optimistic, or a step queues (see the throughput figures)",
                ms(p99),
                ms(model_p99)
            ));
        }
    }
    let settled = m.orders.unsettled == 0;
    let mut check = measured(
        Property::FlowTime,
        "order confirmed (all)",
        settled,
        if settled {
            format!("all {} orders reached a final state", m.orders.placed)
        } else {
            format!(
                "{} of {} orders were not final when the run stopped waiting",
                m.orders.unsettled, m.orders.placed
            )
        },
    );
    if !settled {
        check.evidence = vec![format!(
            "{} placed, {} confirmed, {} not final",
            m.orders.placed, m.orders.confirmed, m.orders.unsettled
        )];
    }
    checks.push(check);
}

/// The rate of the run's mix one replica of each unit carries by the model's capacities, and
/// whether the run contradicts it: it carried more than that (the capacities are pessimistic)
/// or it fell behind below it (they are optimistic).
fn capacity(model: &ArchitectureModel, m: &Measurement, contradicted: &mut Vec<String>) -> u64 {
    let rates: BTreeMap<&str, u64> = m
        .entries
        .iter()
        .map(|e| (e.name.as_str(), milli(e.ok_per_second)))
        .collect();
    let orders = rates.get("checkout").copied().unwrap_or(0);
    let total: u64 = rates.values().sum();
    if total == 0 {
        return 0;
    }
    // As measured: one replica of each unit, and no retry storm (the run's own failures are
    // in its error rates).
    let mut one = model.clone();
    for u in &mut one.units {
        u.ops.replicas = 1;
    }
    one.retry_budget = RetryBudget {
        percent: 0,
        min_per_second: 0,
    };
    let rate_of = |e: &EntryPath| rates.get(e.name.as_str()).copied().unwrap_or(0);
    let loads: Loads = loads_at(&one, rate_of, orders, 1_000);
    // Loads are in thousandths: the scale at which the busiest part is full is capacity x 1000
    // / load, and the run's rate times that scale is the predicted most.
    let Some(bottleneck) = rows(&one, &loads)
        .into_iter()
        .filter(|r| r.load > 0)
        .min_by_key(|r| u128::from(r.capacity) * 1_000_000 / u128::from(r.load))
    else {
        return 0;
    };
    let predicted = u64::try_from(
        u128::from(total) * u128::from(bottleneck.capacity) / u128::from(bottleneck.load),
    )
    .unwrap_or(u64::MAX);
    let carried = total / 1_000;
    let kept_up =
        m.orders.unsettled == 0 && m.entries.iter().all(|e| e.ok * 100 >= e.scheduled * 95);
    if kept_up && slower(carried, predicted) {
        contradicted.push(format!(
            "capacity: the run carried {carried} req/s, all settled, but the model says one replica of each unit carries at most {predicted} req/s of this mix ({}: {}): its capacity figures are pessimistic for this deployment",
            bottleneck.name, bottleneck.basis
        ));
    } else if !kept_up && slower(predicted, carried) {
        contradicted.push(format!(
            "capacity: the run fell behind at {carried} req/s, but the model says one replica of each unit carries {predicted} req/s of this mix (busiest part {}: {}): some capacity figure is optimistic for this deployment",
            bottleneck.name, bottleneck.basis
        ));
    }
    predicted
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::{Scalability, Security};
    use crate::requirements::RequirementAnswers;
    use crate::verify::{optimise, verify};

    fn sized() -> (ArchitectureModel, Requirements, VerificationReport) {
        let req = Requirements::derive(
            Scalability::Extreme,
            Security::Critical,
            &RequirementAnswers::default(),
        );
        let model = ArchitectureModel::microservices("shop");
        let sizing = optimise(&model, &req).sizing().cloned().unwrap();
        let model = model
            .with_replicas(&sizing.replicas)
            .with_read_replicas(&sizing.read_replicas);
        let report = verify(&model, &req);
        (model, req, report)
    }

    /// A run of checkouts only at `rate` a second, with `p99_ms` at checkout and `unsettled`
    /// orders left over.
    fn run(rate: f64, p99_ms: f64, confirmed_p99_ms: f64, unsettled: u64) -> Measurement {
        let json = serde_json::json!({
            "target": "http://127.0.0.1:8080",
            "rate": 75,
            "duration_s": 60.0,
            "elapsed_s": 61.0,
            "entries": [{
                "name": "checkout", "method": "POST", "path": "/api/v1/orders",
                "scheduled": 4500, "ok": 4500, "errors": {},
                "ok_per_second": rate,
                "latency": {"count": 4500, "p50_ms": 5.0, "p95_ms": 9.0, "p99_ms": p99_ms,
                            "max_ms": 80.0, "mean_ms": 6.0},
                "p99_bound_ms": 200, "share_percent": 100.0
            }],
            "orders": {"placed": 4500, "confirmed": 4500 - unsettled, "cancelled": 0,
                       "unsettled": unsettled, "unsettled_ids": [], "cancel_reasons": {},
                       "confirmed_time": {"count": 4500, "p99_ms": confirmed_p99_ms},
                       "p99_bound_ms": 5000, "all_bound_ms": 30000},
            "invariants": [{"name": "no oversell", "held": true, "detail": "stock adds up"}],
        });
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn a_run_within_every_bound_is_measured_and_names_its_figures() {
        let (model, req, report) = sized();
        let c = compare(&model, &req, &report, &run(75.0, 35.5, 457.0, 0));
        assert_eq!(c.failures(), 0, "{}", c.to_text());
        let checkout = c
            .checks
            .iter()
            .find(|c| c.subject == "checkout (measured)")
            .unwrap();
        assert_eq!(checkout.verdict, Verdict::Measured);
        assert_eq!(
            checkout.detail,
            "36 ms <= 200 ms; the model predicts 122 ms"
        );
        let flow = c
            .checks
            .iter()
            .find(|c| c.subject == "order confirmed (p99) (measured)")
            .unwrap();
        assert_eq!(flow.detail, "457 ms <= 5 s; the model predicts 1552 ms");
        assert!(
            c.checks
                .iter()
                .any(|c| c.subject == "no oversell (measured)")
        );
    }

    #[test]
    fn a_slower_run_fails_its_bounds_and_contradicts_the_models_latencies() {
        let (model, req, report) = sized();
        let c = compare(&model, &req, &report, &run(75.0, 250.0, 8_700.0, 12));
        assert_eq!(c.failures(), 3, "{}", c.to_text());
        let text = c.to_text();
        assert!(text.contains("12 of 4500 orders were not final"), "{text}");
        assert!(
            c.contradicted
                .iter()
                .any(|l| l.starts_with("p99 of checkout: measured 250 ms > predicted 122 ms")),
            "{:?}",
            c.contradicted
        );
        assert!(
            c.contradicted
                .iter()
                .any(|l| l.starts_with("order confirmed p99: measured 8.7 s > predicted 1552 ms")),
            "{:?}",
            c.contradicted
        );
    }

    #[test]
    fn the_models_capacity_for_one_replica_each_is_checked_against_the_rate_carried() {
        let (model, req, report) = sized();
        // A charge takes 10 + 10 + 800 ms with 32 in flight: one payment-service replica
        // handles 39 a second, so 75 checkouts a second, all settled, contradict it.
        let c = compare(&model, &req, &report, &run(75.0, 35.5, 457.0, 0));
        assert_eq!(c.predicted_rps, 39, "{}", c.to_text());
        assert!(
            c.contradicted.iter().any(|l| l.starts_with(
                "capacity: the run carried 75 req/s, all settled, but the model says one replica of each unit carries at most 39 req/s"
            ) && l.contains("-> payment-service")),
            "{:?}",
            c.contradicted
        );
        // Falling behind at 20 a second contradicts it the other way.
        let c = compare(&model, &req, &report, &run(20.0, 35.5, 457.0, 5));
        assert!(
            c.contradicted
                .iter()
                .any(|l| l.starts_with("capacity: the run fell behind at 20 req/s")),
            "{:?}",
            c.contradicted
        );
    }
}
