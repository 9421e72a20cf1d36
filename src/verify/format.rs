//! The report as text for the terminal and as Markdown for the ADR and ARCHITECTURE.md:
//! the table of checks, counterexamples, the bill, the optimum and the assumed figures.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::{Check, Comparison, Optimum, Verdict, VerificationReport, dollars};

fn verdict(v: Verdict) -> &'static str {
    match v {
        Verdict::Proved => "PROVED",
        Verdict::Failed => "FAILED",
        Verdict::Tested => "TESTED",
        Verdict::Unchecked => "UNCHECKED",
        Verdict::Measured => "MEASURED",
    }
}

/// Assumed figures grouped by figure and value: `(figure = value, subjects)`.
fn assumed_groups(report: &VerificationReport) -> Vec<(String, Vec<String>)> {
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for a in &report.assumed {
        let (subject, figure) = a.key.rsplit_once('.').unwrap_or(("", &a.key));
        groups
            .entry(format!("{figure} = {}", a.value))
            .or_default()
            .push(subject.to_owned());
    }
    groups.into_iter().collect()
}

fn optimum_lines(report: &VerificationReport) -> Vec<String> {
    let counts = |s: &super::Sizing| {
        let list = |m: &std::collections::BTreeMap<String, u32>| {
            m.iter()
                .map(|(u, r)| format!("{u} {r}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if s.read_replicas.is_empty() {
            list(&s.replicas)
        } else {
            format!(
                "{}; read replicas: {}",
                list(&s.replicas),
                list(&s.read_replicas)
            )
        }
    };
    match &report.optimum {
        Optimum::Found(s) => vec![
            format!("replicas: {}", counts(s)),
            format!(
                "monthly cost {}; every property holds",
                dollars(s.monthly_cost_cents)
            ),
        ],
        Optimum::Infeasible { reasons, closest } => {
            let mut lines = vec!["no replica counts satisfy every property:".to_owned()];
            lines.extend(reasons.iter().map(|r| format!("- {r}")));
            if let Some(s) = closest {
                lines.push(format!(
                    "closest (replica-dependent properties only): {}; {}",
                    counts(s),
                    dollars(s.monthly_cost_cents)
                ));
            }
            lines
        }
        Optimum::NothingToSize => vec!["no units to size".to_owned()],
    }
}

/// The checks as an aligned table with a header row.
fn table(checks: &[Check]) -> String {
    let rows: Vec<[String; 4]> = checks
        .iter()
        .map(|c| {
            [
                c.property.label().to_owned(),
                c.subject.clone(),
                verdict(c.verdict).to_owned(),
                c.detail.clone(),
            ]
        })
        .collect();
    let header = ["PROPERTY", "SUBJECT", "VERDICT", "DETAIL"].map(str::to_owned);
    let width = |i: usize| {
        rows.iter()
            .chain([&header])
            .map(|r| r[i].chars().count())
            .max()
            .unwrap_or(0)
    };
    let (w0, w1, w2) = (width(0), width(1), width(2));
    let mut out = String::new();
    for r in [&header].into_iter().chain(&rows) {
        let line = format!("{:w0$}  {:w1$}  {:w2$}  {}", r[0], r[1], r[2], r[3]);
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The evidence of each FAILED check that has some, under a heading; empty when none has.
fn counterexamples(checks: &[Check]) -> String {
    let failed: Vec<_> = checks
        .iter()
        .filter(|c| c.verdict == Verdict::Failed && !c.evidence.is_empty())
        .collect();
    let mut out = String::new();
    if !failed.is_empty() {
        out.push_str("\nCounterexamples\n");
        for c in failed {
            let _ = writeln!(out, "  {} / {}:", c.property.label(), c.subject);
            for line in &c.evidence {
                let _ = writeln!(out, "    {line}");
            }
        }
    }
    out
}

/// A load run's comparison: its checks, counterexamples, the predicted capacity and the
/// contradicted assumptions.
pub(super) fn comparison(c: &Comparison) -> String {
    let mut out = format!("Measured ({})\n\n", c.source);
    out.push_str(&table(&c.checks));
    out.push_str(&counterexamples(&c.checks));
    let _ = writeln!(
        out,
        "\nBy the model's capacities, one replica of each unit carries at most {} req/s of this mix.",
        c.predicted_rps
    );
    if c.contradicted.is_empty() {
        out.push_str("No assumption of the model is contradicted by this run.\n");
    } else {
        out.push_str("\nContradicted assumptions (measure and set these figures)\n");
        for line in &c.contradicted {
            let _ = writeln!(out, "  - {line}");
        }
    }
    out
}

pub(super) fn text(report: &VerificationReport) -> String {
    let mut out = format!("Verification of {}\n\n", report.project);
    out.push_str(&table(&report.checks));
    out.push_str(&counterexamples(&report.checks));
    out.push_str("\nMonthly cost\n");
    let iw = report.cost.iter().map(|i| i.item.len()).max().unwrap_or(0);
    let bw = report.cost.iter().map(|i| i.basis.len()).max().unwrap_or(0);
    for i in &report.cost {
        let _ = writeln!(
            out,
            "  {:iw$}  {:bw$}  {:>12}",
            i.item,
            i.basis,
            dollars(i.cents)
        );
    }
    let _ = writeln!(
        out,
        "  {:iw$}  {:bw$}  {:>12}",
        "total",
        "",
        dollars(report.cost.iter().map(|i| i.cents).sum())
    );
    out.push_str("\nOptimum\n");
    for line in optimum_lines(report) {
        let _ = writeln!(out, "  {line}");
    }
    out.push_str("\nAssumed figures (planning defaults, not measured)\n");
    for (figure, subjects) in assumed_groups(report) {
        let _ = writeln!(out, "  {figure}: {}", subjects.join(", "));
    }
    out
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|")
}

pub(super) fn markdown(report: &VerificationReport) -> String {
    let mut out = String::from("| Property | Subject | Verdict | Detail |\n|---|---|---|---|\n");
    for c in &report.checks {
        let _ = writeln!(
            out,
            "| {} | {} | **{}** | {} |",
            c.property.label(),
            cell(&c.subject),
            verdict(c.verdict),
            cell(&c.detail)
        );
    }
    let failed: Vec<_> = report
        .checks
        .iter()
        .filter(|c| c.verdict == Verdict::Failed && !c.evidence.is_empty())
        .collect();
    if !failed.is_empty() {
        out.push_str("\n### Counterexamples\n");
        for c in failed {
            let _ = writeln!(
                out,
                "\n**{} / {}**\n\n```text",
                c.property.label(),
                cell(&c.subject)
            );
            for line in &c.evidence {
                let _ = writeln!(out, "{line}");
            }
            out.push_str("```\n");
        }
    }
    out.push_str("\n### Monthly cost\n\n| Item | Basis | Monthly |\n|---|---|---:|\n");
    for i in &report.cost {
        let _ = writeln!(out, "| {} | {} | {} |", i.item, i.basis, dollars(i.cents));
    }
    let _ = writeln!(
        out,
        "| **total** | | **{}** |",
        dollars(report.cost.iter().map(|i| i.cents).sum())
    );
    out.push_str("\n### Optimum\n\n");
    for line in optimum_lines(report) {
        let _ = writeln!(out, "{line}  ");
    }
    out.push_str("\n### Assumed figures\n\nPlanning defaults, not measured:\n\n");
    for (figure, subjects) in assumed_groups(report) {
        let _ = writeln!(out, "- `{figure}`: {}", subjects.join(", "));
    }
    out
}
