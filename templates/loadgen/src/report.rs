//! The report: what was asked, what each entry path did (throughput, latency percentiles from
//! the HDR histograms, failures by status), order-confirmed times, the invariants, resource
//! use and a per-second series. Built from what the run recorded; serialized as JSON as is,
//! rendered as Markdown by [`crate::markdown`] and plotted by [`crate::plot`].

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::drive::Driven;
use crate::flags::Flags;
use crate::mix::{Entry, ORDER_CONFIRMED_ALL_MS, ORDER_CONFIRMED_P99_MS};
use crate::schedule::Schedule;
use crate::settle::{Invariant, Settlement};
use crate::watch::Samples;

/// Percentiles of a histogram of microseconds, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Summary {
    pub count: u64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

impl Summary {
    /// The percentiles of `histogram` (all zero when it is empty).
    #[must_use]
    pub fn of(histogram: &Histogram<u64>) -> Self {
        if histogram.is_empty() {
            return Self {
                count: 0,
                p50_ms: 0.0,
                p95_ms: 0.0,
                p99_ms: 0.0,
                max_ms: 0.0,
                mean_ms: 0.0,
            };
        }
        let at = |q: f64| millis(histogram.value_at_quantile(q));
        Self {
            count: histogram.len(),
            p50_ms: at(0.50),
            p95_ms: at(0.95),
            p99_ms: at(0.99),
            max_ms: millis(histogram.max()),
            mean_ms: round(histogram.mean() / 1_000.0),
        }
    }
}

/// Microseconds as milliseconds, to the microsecond.
#[allow(
    clippy::cast_precision_loss,
    reason = "latencies stay far below 2^52 µs"
)]
fn millis(micros: u64) -> f64 {
    micros as f64 / 1_000.0
}

/// One entry path's part of the run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EntryReport {
    pub name: String,
    pub method: String,
    pub path: String,
    /// Its share of the requests, in percent.
    pub share_percent: f64,
    pub scheduled: u64,
    pub ok: u64,
    /// Failures by status code or kind (`timeout`, `connect`, `unsent`, `other`).
    pub errors: BTreeMap<String, u64>,
    /// Successful answers per second of the run.
    pub ok_per_second: f64,
    /// Latency of the successful answers, from their intended start.
    pub latency: Summary,
    /// The p99 the verification holds it to (0 for the whole).
    pub p99_bound_ms: u64,
}

/// What became of the orders the run placed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OrdersReport {
    pub placed: usize,
    pub confirmed: usize,
    pub cancelled: usize,
    pub unsettled: usize,
    /// The first few orders not final at the settle timeout.
    pub unsettled_ids: Vec<String>,
    pub cancel_reasons: BTreeMap<String, u64>,
    /// `pending` → `confirmed`, from the orders' own status history.
    pub confirmed_time: Summary,
    pub p99_bound_ms: u64,
    pub all_bound_ms: u64,
}

/// One watched process.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProcessReport {
    pub name: String,
    pub pid: u32,
    pub rss_mib_mean: f64,
    pub rss_mib_max: f64,
    /// Percent of one core.
    pub cpu_percent_mean: f64,
    pub cpu_percent_max: f64,
    /// `[seconds, RSS MiB, CPU %]` every half second.
    pub samples: Vec<[f64; 3]>,
}

/// One second of the run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SecondReport {
    /// Seconds since the first intended start.
    pub t: u64,
    /// Successful answers completed in it.
    pub ok: u64,
    /// Failures completed in it.
    pub errors: u64,
    /// Latency of the successful requests due in it.
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub target: String,
    /// When the load began (UTC, RFC 3339).
    pub started_at: String,
    pub rate: u32,
    pub duration_s: f64,
    pub max_in_flight: usize,
    /// From the first intended start to the last answer.
    pub elapsed_s: f64,
    pub entries: Vec<EntryReport>,
    /// Every entry path together.
    pub all: EntryReport,
    /// How late requests went out after their intended start.
    pub send_lag: Summary,
    pub orders: OrdersReport,
    pub invariants: Vec<Invariant>,
    pub processes: Vec<ProcessReport>,
    pub seconds: Vec<SecondReport>,
    /// Every order settled and every invariant held.
    pub passed: bool,
}

/// What the report is made of.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    pub flags: &'a Flags,
    pub entries: &'a [Entry],
    pub schedule: &'a Schedule,
    pub driven: &'a Driven,
    pub settlement: &'a Settlement,
    pub samples: &'a [Samples],
    pub started_at: &'a str,
}

impl Report {
    /// Summarises a finished run.
    ///
    /// # Panics
    ///
    /// Never: every histogram has the same bounds, so they always add up.
    #[must_use]
    pub fn new(inputs: Inputs<'_>) -> Self {
        let Inputs {
            flags,
            entries,
            schedule,
            driven,
            settlement,
            samples,
            started_at,
        } = inputs;
        let elapsed = driven.elapsed.max(Duration::from_millis(1)).as_secs_f64();
        let total = u64::try_from(schedule.len()).unwrap_or(u64::MAX);
        let mut all_latency = crate::record::histogram(3);
        let mut all_errors: BTreeMap<String, u64> = BTreeMap::new();
        let reports: Vec<EntryReport> = entries
            .iter()
            .zip(&driven.recorder.entries)
            .enumerate()
            .map(|(e, (entry, record))| {
                all_latency.add(&record.latency).expect("same bounds");
                for (label, n) in &record.errors {
                    *all_errors.entry(label.clone()).or_default() += n;
                }
                let scheduled = u64::try_from(schedule.count(e)).unwrap_or(u64::MAX);
                entry_report(
                    entry.name,
                    entry.method,
                    entry.path,
                    scheduled,
                    total,
                    &record.latency,
                    &record.errors,
                    elapsed,
                )
                .bounded(entry.p99_bound_ms)
            })
            .collect();
        let all = entry_report(
            "all",
            "",
            "",
            total,
            total,
            &all_latency,
            &all_errors,
            elapsed,
        );
        let invariants = settlement.invariants.clone();
        let passed = settlement.unsettled.is_empty() && invariants.iter().all(|i| i.held);
        Self {
            target: flags.target.as_str().trim_end_matches('/').to_owned(),
            started_at: started_at.to_owned(),
            rate: flags.rate,
            duration_s: flags.duration.as_secs_f64(),
            max_in_flight: flags.max_in_flight,
            elapsed_s: round(elapsed),
            entries: reports,
            all,
            send_lag: Summary::of(&driven.recorder.lag),
            orders: OrdersReport {
                placed: settlement.placed,
                confirmed: settlement.confirmed,
                cancelled: settlement.cancelled,
                unsettled: settlement.unsettled.len(),
                unsettled_ids: settlement.unsettled.iter().take(10).cloned().collect(),
                cancel_reasons: settlement.cancel_reasons.clone(),
                confirmed_time: Summary::of(&settlement.confirmed_time),
                p99_bound_ms: ORDER_CONFIRMED_P99_MS,
                all_bound_ms: ORDER_CONFIRMED_ALL_MS,
            },
            invariants,
            processes: samples.iter().map(process_report).collect(),
            seconds: driven
                .recorder
                .seconds
                .iter()
                .zip(0..)
                .map(|(second, t)| {
                    let latency = Summary::of(&second.latency);
                    SecondReport {
                        t,
                        ok: second.ok,
                        errors: second.errors,
                        p50_ms: latency.p50_ms,
                        p99_ms: latency.p99_ms,
                        max_ms: latency.max_ms,
                    }
                })
                .collect(),
            passed,
        }
    }
}

#[allow(
    clippy::too_many_arguments,
    reason = "one row's columns, named at the call"
)]
fn entry_report(
    name: &str,
    method: &str,
    path: &str,
    scheduled: u64,
    total: u64,
    latency: &Histogram<u64>,
    errors: &BTreeMap<String, u64>,
    elapsed_s: f64,
) -> EntryReport {
    #[allow(
        clippy::cast_precision_loss,
        reason = "request counts stay far below 2^52"
    )]
    let (share, ok_per_second) = (
        scheduled as f64 * 100.0 / total.max(1) as f64,
        latency.len() as f64 / elapsed_s,
    );
    EntryReport {
        name: name.to_owned(),
        method: method.to_owned(),
        path: path.to_owned(),
        share_percent: round(share),
        scheduled,
        ok: latency.len(),
        errors: errors.clone(),
        ok_per_second: round(ok_per_second),
        latency: Summary::of(latency),
        p99_bound_ms: 0,
    }
}

impl EntryReport {
    fn bounded(self, p99_bound_ms: u64) -> Self {
        Self {
            p99_bound_ms,
            ..self
        }
    }
}

#[allow(
    clippy::cast_precision_loss,
    reason = "byte counts stay far below 2^52"
)]
fn process_report(process: &Samples) -> ProcessReport {
    let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
    let n = process.samples.len().max(1) as f64;
    let rss: Vec<f64> = process.samples.iter().map(|s| mib(s.rss_bytes)).collect();
    let cpu: Vec<f64> = process.samples.iter().map(|s| s.cpu_percent).collect();
    ProcessReport {
        name: process.target.name.clone(),
        pid: process.target.pid,
        rss_mib_mean: round(rss.iter().sum::<f64>() / n),
        rss_mib_max: round(rss.iter().copied().fold(0.0, f64::max)),
        cpu_percent_mean: round(cpu.iter().sum::<f64>() / n),
        cpu_percent_max: round(cpu.iter().copied().fold(0.0, f64::max)),
        samples: process
            .samples
            .iter()
            .map(|s| [round(s.t), round(mib(s.rss_bytes)), round(s.cpu_percent)])
            .collect(),
    }
}

/// To three decimals.
fn round(x: f64) -> f64 {
    (x * 1_000.0).round() / 1_000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{histogram, record};

    #[test]
    fn a_summary_reads_the_percentiles_in_milliseconds() {
        let mut h = histogram(3);
        for ms in 1..=100 {
            record(&mut h, Duration::from_millis(ms));
        }
        let s = Summary::of(&h);
        assert_eq!(s.count, 100);
        // Three significant digits: each value within 0.1% of the exact one.
        for (got, exact) in [
            (s.p50_ms, 50.0),
            (s.p95_ms, 95.0),
            (s.p99_ms, 99.0),
            (s.max_ms, 100.0),
        ] {
            assert!((got - exact).abs() <= exact * 0.001, "{got} vs {exact}");
        }
        assert!((s.mean_ms - 50.5).abs() < 0.1, "{}", s.mean_ms);
    }

    #[test]
    fn an_empty_histogram_summarises_to_zeros() {
        let s = Summary::of(&histogram(3));
        assert_eq!(s.count, 0);
        assert!(s.max_ms.abs() < f64::EPSILON);
    }

    #[test]
    fn a_row_counts_its_share_throughput_and_failures() {
        let mut h = histogram(3);
        for _ in 0..30 {
            record(&mut h, Duration::from_millis(2));
        }
        let errors = BTreeMap::from([("503".to_owned(), 2)]);
        let row = entry_report("browse", "GET", "/p", 32, 128, &h, &errors, 10.0);
        assert!((row.share_percent - 25.0).abs() < 1e-9);
        assert_eq!(row.ok, 30);
        assert!((row.ok_per_second - 3.0).abs() < 1e-9);
        assert_eq!(row.errors["503"], 2);
    }
}
