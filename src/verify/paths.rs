//! Properties of request paths, computed over the entry hop trees: p99 latency
//! (sum along a path, maximum over parallel branches), timeout nesting and error rates with
//! retries (only idempotent calls are retried).

use crate::model::{ArchitectureModel, Hop};
use crate::requirements::Requirements;

use super::{Check, Figure, Property, ms, ppm_ceil, ppm_percent};

/// Own p99 of a hop: the unit's own time plus each store it touches.
fn own_p99(model: &ArchitectureModel, hop: &Hop) -> u64 {
    let unit = model.unit(&hop.unit).map_or(0, |u| u.ops.p99_ms);
    unit + hop
        .stores
        .iter()
        .filter_map(|s| model.store(s))
        .map(|s| s.p99_ms)
        .sum::<u64>()
}

/// p99 of a hop and everything below it.
pub(super) fn p99(model: &ArchitectureModel, hop: &Hop) -> u64 {
    own_p99(model, hop)
        + hop
            .stages
            .iter()
            .map(|stage| stage.iter().map(|h| p99(model, h)).max().unwrap_or(0))
            .sum::<u64>()
}

/// Worst time a caller waits on `child`: every attempt times out, with backoff between.
fn worst_call(model: &ArchitectureModel, parent: &str, child: &Hop) -> u64 {
    model.call(parent, &child.unit, child.method).map_or_else(
        || need(model, child),
        |c| {
            u64::from(c.attempts) * c.timeout_ms
                + u64::from(c.attempts.saturating_sub(1)) * c.backoff_ms
        },
    )
}

/// Worst case of a hop: its own p99 plus the worst case of every call it makes.
pub(super) fn need(model: &ArchitectureModel, hop: &Hop) -> u64 {
    own_p99(model, hop)
        + hop
            .stages
            .iter()
            .map(|stage| {
                stage
                    .iter()
                    .map(|h| worst_call(model, &hop.unit, h))
                    .max()
                    .unwrap_or(0)
            })
            .sum::<u64>()
}

/// The slowest path below `hop`, one line per hop.
fn slowest(model: &ArchitectureModel, hop: &Hop, depth: usize, lines: &mut Vec<String>) {
    let mut parts = vec![format!(
        "{} {}",
        hop.unit,
        ms(model.unit(&hop.unit).map_or(0, |u| u.ops.p99_ms))
    )];
    parts.extend(
        hop.stores
            .iter()
            .filter_map(|s| model.store(s))
            .map(|s| format!("{} {}", s.name, ms(s.p99_ms))),
    );
    lines.push(format!("{}{}", "  ".repeat(depth), parts.join(" + ")));
    for stage in &hop.stages {
        if let Some(worst) = stage.iter().max_by_key(|h| p99(model, h)) {
            slowest(model, worst, depth + 1, lines);
        }
    }
}

/// p99 latency of every entry path against its bound.
pub(super) fn latency(model: &ArchitectureModel, req: &Requirements) -> Vec<Check> {
    model
        .entries
        .iter()
        .map(|e| {
            let (value, bound) = (p99(model, &e.root), req.p99_bound(&e.name));
            let holds = value <= bound;
            let mut lines = Vec::new();
            slowest(model, &e.root, 0, &mut lines);
            lines.push(format!(
                "total {} {} {}",
                ms(value),
                if holds { "<=" } else { ">" },
                ms(bound)
            ));
            let detail = format!(
                "{} {} {} ({} {})",
                ms(value),
                if holds { "<=" } else { ">" },
                ms(bound),
                e.method.as_str(),
                e.path
            );
            Check::new(Property::Latency, &e.name, holds, detail)
                .figures(Figure::Ms(value), Figure::Ms(bound))
                .evidence(lines)
        })
        .collect()
}

/// Every call on an entry path has a timeout covering its callee's worst case.
pub(super) fn timeouts(model: &ArchitectureModel) -> Check {
    let mut failures = Vec::new();
    let mut checked = 0;
    let mut tightest: Option<(u64, String)> = None;
    let mut visit = |parent: &Hop, child: &Hop| {
        let Some(call) = model.call(&parent.unit, &child.unit, child.method) else {
            return;
        };
        checked += 1;
        let needed = need(model, child);
        let line = format!(
            "{} -> {} {}: timeout {} vs callee worst case {}",
            call.from,
            call.to,
            call.method.as_str(),
            ms(call.timeout_ms),
            ms(needed)
        );
        let slack = call.timeout_ms.saturating_sub(needed);
        if call.timeout_ms < needed {
            failures.push(line);
        } else if tightest.as_ref().is_none_or(|(s, _)| slack < *s) {
            tightest = Some((slack, line));
        }
    };
    for e in &model.entries {
        walk(&e.root, &mut visit);
    }
    if failures.is_empty() {
        let detail = tightest.map_or_else(
            || "no calls on entry paths".to_owned(),
            |(_, l)| format!("{checked} calls covered; tightest {l}"),
        );
        Check::new(
            Property::TimeoutNesting,
            "calls on entry paths",
            true,
            detail,
        )
    } else {
        let detail = format!(
            "{} of {checked} calls time out before their callee can finish",
            failures.len()
        );
        Check::new(
            Property::TimeoutNesting,
            "calls on entry paths",
            false,
            detail,
        )
        .evidence(failures)
    }
}

/// Calls `visit(parent, child)` for every call edge below `hop`.
fn walk(hop: &Hop, visit: &mut impl FnMut(&Hop, &Hop)) {
    for child in hop.stages.iter().flatten() {
        visit(hop, child);
        walk(child, visit);
    }
}

/// Probability a request to `hop` fails: its own errors, or a call failing on every attempt
/// (only idempotent calls are retried).
fn failure(model: &ArchitectureModel, hop: &Hop) -> f64 {
    let own = model.unit(&hop.unit).map_or(0.0, |u| u.ops.error_rate);
    let mut ok = 1.0 - own;
    for child in hop.stages.iter().flatten() {
        let attempts = model
            .call(&hop.unit, &child.unit, child.method)
            .map_or(1, |c| if c.idempotent { c.attempts.max(1) } else { 1 });
        ok *= 1.0 - failure(model, child).powi(i32::try_from(attempts).unwrap_or(i32::MAX));
    }
    1.0 - ok
}

/// Error rate of every entry path against the target.
pub(super) fn error_rates(model: &ArchitectureModel, req: &Requirements) -> Vec<Check> {
    model
        .entries
        .iter()
        .map(|e| {
            let value = ppm_ceil(failure(model, &e.root));
            let holds = value <= req.error_rate_ppm;
            let detail = format!(
                "{} {} {}",
                ppm_percent(value),
                if holds { "<=" } else { ">" },
                ppm_percent(req.error_rate_ppm)
            );
            Check::new(Property::ErrorRate, &e.name, holds, detail)
                .figures(Figure::Ppm(value), Figure::Ppm(req.error_rate_ppm))
        })
        .collect()
}
