//! The report as Markdown, for a pull request or the README: the verdict first, then the
//! entry paths, the orders, the invariants and resource use. Pure: a [`Report`] in, text out.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::report::{EntryReport, Report, Summary};

/// The Markdown of `report`.
#[must_use]
pub fn render(report: &Report) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# Load run: {} req/s for {} s against {}\n",
        report.rate, report.duration_s, report.target
    );
    let _ = writeln!(
        md,
        "Started {}; open loop: each request starts at its intended time whatever the answers \
         before it, and its latency is counted from that time. At most {} requests in flight; \
         the last answer came {} s after the first intended start.\n",
        report.started_at, report.max_in_flight, report.elapsed_s
    );
    md.push_str(&verdict(report));
    md.push_str("\n## Entry paths\n\n");
    md.push_str("| Entry path | Share | Requests | OK/s | p50 ms | p95 ms | p99 ms | max ms | p99 bound ms | Errors |\n");
    md.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
    for entry in report.entries.iter().chain([&report.all]) {
        md.push_str(&row(entry));
    }
    let lag = &report.send_lag;
    let _ = writeln!(
        md,
        "\nRequests went out {} ms (p99) and at most {} ms after their intended start.",
        num(lag.p99_ms),
        num(lag.max_ms)
    );
    md.push_str(&orders(report));
    md.push_str("\n## Invariants\n\n| Invariant | Held | What was checked |\n|---|---|---|\n");
    for invariant in &report.invariants {
        let held = if invariant.held { "yes" } else { "**no**" };
        let _ = writeln!(md, "| {} | {held} | {} |", invariant.name, invariant.detail);
    }
    md.push_str("\n## Resource use\n\n");
    md.push_str(
        "Sampled from /proc every 0.5 s while requests were sent; CPU in percent of one core.\n\n",
    );
    md.push_str("| Process | PID | RSS mean MiB | RSS max MiB | CPU mean % | CPU max % |\n");
    md.push_str("|---|---:|---:|---:|---:|---:|\n");
    for p in &report.processes {
        let _ = writeln!(
            md,
            "| {} | {} | {:.1} | {:.1} | {:.0} | {:.0} |",
            p.name, p.pid, p.rss_mib_mean, p.rss_mib_max, p.cpu_percent_mean, p.cpu_percent_max
        );
    }
    md.push_str(
        "\nLatency and throughput per second: `report.svg`; every figure: `report.json`.\n",
    );
    md
}

fn verdict(report: &Report) -> String {
    if report.passed {
        return "**Passed**: every order settled and every invariant held.\n".to_owned();
    }
    let mut broken: Vec<String> = report
        .invariants
        .iter()
        .filter(|i| !i.held)
        .map(|i| format!("{}: {}", i.name, i.detail))
        .collect();
    if report.orders.unsettled > 0 && broken.is_empty() {
        broken.push(format!("{} orders not final", report.orders.unsettled));
    }
    format!("**Failed**: {}.\n", broken.join("; "))
}

fn row(entry: &EntryReport) -> String {
    let name = if entry.path.is_empty() {
        format!("**{}**", entry.name)
    } else {
        format!("{} (`{} {}`)", entry.name, entry.method, entry.path)
    };
    let bound = if entry.p99_bound_ms == 0 {
        String::new()
    } else {
        entry.p99_bound_ms.to_string()
    };
    let Summary {
        p50_ms,
        p95_ms,
        p99_ms,
        max_ms,
        ..
    } = entry.latency;
    format!(
        "| {name} | {:.1}% | {} | {:.1} | {} | {} | {} | {} | {bound} | {} |\n",
        entry.share_percent,
        entry.scheduled,
        entry.ok_per_second,
        num(p50_ms),
        num(p95_ms),
        num(p99_ms),
        num(max_ms),
        errors(&entry.errors)
    )
}

fn orders(report: &Report) -> String {
    let o = &report.orders;
    let mut md = String::from("\n## Orders\n\n");
    let _ = write!(
        md,
        "{} placed: {} confirmed, {} cancelled",
        o.placed, o.confirmed, o.cancelled
    );
    if !o.cancel_reasons.is_empty() {
        let _ = write!(md, " ({})", errors(&o.cancel_reasons));
    }
    let _ = writeln!(
        md,
        ", {} not final when the settle timeout ran out.",
        o.unsettled
    );
    let t = &o.confirmed_time;
    if t.count > 0 {
        let _ = writeln!(
            md,
            "\nOrder confirmed, `pending` → `confirmed` from each order's status history: \
             p50 {} ms, p95 {} ms, p99 {} ms, max {} ms (the model's bounds: p99 ≤ {} ms, all ≤ {} ms).",
            num(t.p50_ms),
            num(t.p95_ms),
            num(t.p99_ms),
            num(t.max_ms),
            o.p99_bound_ms,
            o.all_bound_ms
        );
    }
    if !o.unsettled_ids.is_empty() {
        let _ = writeln!(md, "\nNot final: {}.", o.unsettled_ids.join(", "));
    }
    md
}

/// `none`, or `429: 3, timeout: 1`.
fn errors(counts: &BTreeMap<String, u64>) -> String {
    if counts.is_empty() {
        return "none".to_owned();
    }
    counts
        .iter()
        .map(|(label, n)| format!("{label}: {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Milliseconds as a table shows them: three significant digits, `–` for none.
fn num(ms: f64) -> String {
    if ms <= 0.0 {
        "–".to_owned()
    } else if ms < 10.0 {
        format!("{ms:.2}")
    } else if ms < 100.0 {
        format!("{ms:.1}")
    } else {
        format!("{ms:.0}")
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::report::{OrdersReport, ProcessReport};
    use crate::settle::Invariant;

    fn summary(p50_ms: f64, max_ms: f64) -> Summary {
        Summary {
            count: 10,
            p50_ms,
            p95_ms: max_ms,
            p99_ms: max_ms,
            max_ms,
            mean_ms: p50_ms,
        }
    }

    fn entry(name: &str, path: &str, errors: &[(&str, u64)]) -> EntryReport {
        EntryReport {
            name: name.into(),
            method: "GET".into(),
            path: path.into(),
            share_percent: 80.0,
            scheduled: 400,
            ok: 398,
            errors: errors.iter().map(|(l, n)| ((*l).to_owned(), *n)).collect(),
            ok_per_second: 39.8,
            latency: summary(1.234, 123.4),
            p99_bound_ms: if path.is_empty() { 0 } else { 200 },
        }
    }

    pub(crate) fn sample() -> Report {
        Report {
            target: "http://127.0.0.1:8080/".into(),
            started_at: "2026-11-22T10:00:00Z".into(),
            rate: 50,
            duration_s: 10.0,
            max_in_flight: 256,
            elapsed_s: 10.1,
            entries: vec![entry("browse", "/api/v1/products/{id}", &[("503", 2)])],
            all: entry("all", "", &[("503", 2)]),
            send_lag: summary(0.1, 2.5),
            orders: OrdersReport {
                placed: 20,
                confirmed: 19,
                cancelled: 1,
                unsettled: 0,
                unsettled_ids: Vec::new(),
                cancel_reasons: BTreeMap::from([("payment failed".to_owned(), 1)]),
                confirmed_time: summary(80.0, 250.0),
                p99_bound_ms: 5_000,
                all_bound_ms: 30_000,
            },
            invariants: vec![Invariant {
                name: "no oversell",
                held: true,
                detail: "10 products".into(),
            }],
            processes: vec![ProcessReport {
                name: "devstack".into(),
                pid: 42,
                rss_mib_mean: 30.31,
                rss_mib_max: 31.5,
                cpu_percent_mean: 12.4,
                cpu_percent_max: 40.0,
                samples: vec![[0.5, 30.0, 12.0]],
            }],
            seconds: Vec::new(),
            passed: true,
        }
    }

    #[test]
    fn a_passed_run_says_so_first_and_tabulates_each_entry_path() {
        let md = render(&sample());
        assert!(md.starts_with("# Load run: 50 req/s for 10 s against http://127.0.0.1:8080/\n"));
        assert!(md.contains("**Passed**: every order settled and every invariant held."));
        assert!(md.contains(
            "| browse (`GET /api/v1/products/{id}`) | 80.0% | 400 | 39.8 | 1.23 | 123 | 123 | 123 | 200 | 503: 2 |"
        ), "{md}");
        assert!(md.contains("| **all** | 80.0% |"), "{md}");
        assert!(
            md.contains("20 placed: 19 confirmed, 1 cancelled (payment failed: 1), 0 not final")
        );
        assert!(md.contains("p50 80.0 ms, p95 250 ms, p99 250 ms, max 250 ms"));
        assert!(md.contains("| no oversell | yes | 10 products |"));
        assert!(
            md.contains("| devstack | 42 | 30.3 | 31.5 | 12 | 40 |"),
            "{md}"
        );
    }

    #[test]
    fn a_failed_run_names_what_broke() {
        let mut report = sample();
        report.passed = false;
        report.invariants[0].held = false;
        report.invariants[0].detail = "p1: stock 10 but 11 sold".into();
        let md = render(&report);
        assert!(
            md.contains("**Failed**: no oversell: p1: stock 10 but 11 sold."),
            "{md}"
        );
        assert!(md.contains("| no oversell | **no** |"));
    }

    #[test]
    fn numbers_keep_three_significant_digits() {
        assert_eq!(num(0.0), "–");
        assert_eq!(num(1.23456), "1.23");
        assert_eq!(num(12.345), "12.3");
        assert_eq!(num(1234.4), "1234");
    }
}
