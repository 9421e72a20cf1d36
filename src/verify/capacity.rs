//! Throughput and availability: load per unit and store primary (with retries multiplying
//! load), and availability per entry path (k-of-r replicas, series over the stores touched,
//! regions with a failover penalty).

use std::collections::BTreeMap;

use crate::model::{ArchitectureModel, Hop, Ops, StoreKind, Traffic, percent};
use crate::requirements::Requirements;

use super::{Check, Figure, Property, ms, ppm_floor, ppm_percent};

/// Milliseconds in the 30-day month the failover penalty is spread over.
const MONTH_MS: f64 = 30.0 * 24.0 * 3_600_000.0;

/// Worst-case load on each unit and store, with where it comes from.
pub(super) type Loads = BTreeMap<String, Vec<(String, u64)>>;

/// Requests per second entering at `traffic`.
fn entry_rate(traffic: Traffic, req: &Requirements) -> u64 {
    match traffic {
        Traffic::Busiest => req.busiest_rps,
        Traffic::PerOrder { per_order } => req.orders_per_second * per_order,
    }
}

fn add_hop(model: &ArchitectureModel, hop: &Hop, rate: u64, source: &str, loads: &mut Loads) {
    loads
        .entry(hop.unit.clone())
        .or_default()
        .push((source.to_owned(), rate));
    for store in &hop.stores {
        loads
            .entry(store.clone())
            .or_default()
            .push((source.to_owned(), rate));
    }
    for child in hop.stages.iter().flatten() {
        // In a retry storm every attempt is made: retries multiply load.
        let attempts = model
            .call(&hop.unit, &child.unit, child.method)
            .map_or(1, |c| u64::from(c.attempts.max(1)));
        add_hop(model, child, rate * attempts, source, loads);
    }
}

/// Load from every entry path and every topic (publish, and each delivery attempt).
pub(super) fn loads(model: &ArchitectureModel, req: &Requirements) -> Loads {
    let mut loads = Loads::new();
    for e in &model.entries {
        add_hop(
            model,
            &e.root,
            entry_rate(e.traffic, req),
            &e.name,
            &mut loads,
        );
    }
    let broker = model
        .stores
        .iter()
        .find(|s| s.kind == StoreKind::Kafka)
        .map(|s| s.name.clone());
    for t in &model.topics {
        let rate = req.orders_per_second * t.per_order;
        let mut messages = rate;
        for s in &t.subscriptions {
            let deliveries = rate * u64::from(s.attempts.max(1));
            messages += deliveries;
            loads
                .entry(s.unit.clone())
                .or_default()
                .push((t.name.clone(), deliveries));
            for store in &s.touches {
                loads
                    .entry(store.clone())
                    .or_default()
                    .push((t.name.clone(), deliveries));
            }
        }
        if let Some(b) = &broker {
            loads
                .entry(b.clone())
                .or_default()
                .push((t.name.clone(), messages));
        }
    }
    loads
}

/// Total load on `name`.
pub(super) fn total(loads: &Loads, name: &str) -> u64 {
    loads
        .get(name)
        .map_or(0, |parts| parts.iter().map(|(_, r)| r).sum())
}

/// The bottleneck: the unit or store primary with the highest utilisation.
pub(super) fn throughput(model: &ArchitectureModel, req: &Requirements) -> Check {
    let loads = loads(model, req);
    let mut rows: Vec<(String, u64, u64, String)> = Vec::new();
    for u in &model.units {
        let cap = u64::from(u.ops.replicas) * u.ops.capacity_rps;
        rows.push((
            u.name.clone(),
            total(&loads, &u.name),
            cap,
            format!("{} x {} req/s", u.ops.replicas, u.ops.capacity_rps),
        ));
    }
    for s in &model.stores {
        rows.push((
            s.name.clone(),
            total(&loads, &s.name),
            s.capacity_rps,
            "primary".to_owned(),
        ));
    }
    // Utilisation compared exactly as load_a * cap_b against load_b * cap_a.
    let worst = rows.iter().max_by(|a, b| {
        (u128::from(a.1) * u128::from(b.2.max(1))).cmp(&(u128::from(b.1) * u128::from(a.2.max(1))))
    });
    let Some((name, load, cap, basis)) = worst.cloned() else {
        return Check::new(Property::Throughput, "bottleneck", true, "nothing deployed");
    };
    let over: Vec<&(String, u64, u64, String)> = rows.iter().filter(|r| r.1 > r.2).collect();
    let arithmetic = |n: &str, l: u64, c: u64, b: &str| {
        let parts = loads
            .get(n)
            .map(|p| {
                p.iter()
                    .map(|(s, r)| format!("{s} {r}"))
                    .collect::<Vec<_>>()
                    .join(" + ")
            })
            .unwrap_or_default();
        format!("{n}: {parts} = {l} req/s vs {b} = {c} req/s")
    };
    let detail = if over.len() > 1 {
        format!(
            "{name} at {load} of {cap} req/s ({basis}); {} parts over capacity",
            over.len()
        )
    } else {
        format!("{name} at {load} of {cap} req/s ({basis})")
    };
    let evidence = if over.is_empty() {
        vec![arithmetic(&name, load, cap, &basis)]
    } else {
        over.iter()
            .map(|(n, l, c, b)| arithmetic(n, *l, *c, b))
            .collect()
    };
    Check::new(Property::Throughput, "bottleneck", over.is_empty(), detail)
        .figures(Figure::Rps(load), Figure::Rps(cap))
        .evidence(evidence)
}

/// Probability at least `min_up` of `replicas` replicas are up.
#[must_use]
pub fn unit_availability(ops: &Ops, replicas: u32) -> f64 {
    let (a, k) = (ops.availability, ops.min_up.max(1));
    if k > replicas {
        return 0.0;
    }
    // Sum the down side: fewer than k up. For k = 1 this is (1 - a)^r exactly.
    let mut down = 0.0;
    let mut choose = 1.0;
    for i in 0..k {
        if i > 0 {
            choose = choose * f64::from(replicas - i + 1) / f64::from(i);
        }
        down += choose
            * a.powi(i32::try_from(i).unwrap_or(i32::MAX))
            * (1.0 - a).powi(i32::try_from(replicas - i).unwrap_or(i32::MAX));
    }
    1.0 - down
}

/// Composes one region's availability over the deployment's regions, less the failover penalty.
pub(super) fn across_regions(model: &ArchitectureModel, single: f64) -> f64 {
    let d = &model.deployment;
    if d.regions <= 1 {
        return single;
    }
    #[allow(
        clippy::cast_precision_loss,
        reason = "failover times are far below 2^53 ms"
    )]
    let penalty = f64::from(d.failovers_per_month) * d.failover_ms() as f64 / MONTH_MS;
    (1.0 - (1.0 - single).powi(i32::try_from(d.regions).unwrap_or(i32::MAX)) - penalty).max(0.0)
}

/// Distinct units and stores a hop tree touches, in first-touch order.
pub(super) fn touched(hop: &Hop, units: &mut Vec<String>, stores: &mut Vec<String>) {
    if !units.contains(&hop.unit) {
        units.push(hop.unit.clone());
    }
    for s in &hop.stores {
        if !stores.contains(s) {
            stores.push(s.clone());
        }
    }
    for child in hop.stages.iter().flatten() {
        touched(child, units, stores);
    }
}

/// Availability of each entry path: series over its units and stores, then regions.
pub(super) fn availability(model: &ArchitectureModel, req: &Requirements) -> Vec<Check> {
    let target = req.availability_ppm;
    let mut out = Vec::new();
    for e in &model.entries {
        let (mut units, mut stores) = (Vec::new(), Vec::new());
        touched(&e.root, &mut units, &mut stores);
        let mut lines = Vec::new();
        let mut single = 1.0;
        for u in units.iter().filter_map(|n| model.unit(n)) {
            let a = unit_availability(&u.ops, u.ops.replicas);
            single *= a;
            lines.push(format!(
                "{}: {} of {} replicas at {} = {}",
                u.name,
                u.ops.min_up,
                u.ops.replicas,
                percent(u.ops.availability),
                ppm_percent(ppm_floor(a))
            ));
        }
        let mut fixed = 1.0;
        for s in stores.iter().filter_map(|n| model.store(n)) {
            fixed *= s.availability;
            lines.push(format!(
                "{}: {} (single point of failure)",
                s.name,
                percent(s.availability)
            ));
        }
        let value = ppm_floor(across_regions(model, single * fixed));
        let ceiling = ppm_floor(across_regions(model, fixed));
        let holds = value >= target;
        let rel = if holds { ">=" } else { "<" };
        let detail = if holds {
            format!("{} {rel} {}", ppm_percent(value), ppm_percent(target))
        } else if ceiling < target {
            format!(
                "{} {rel} {}; no replica count can work: the stores alone give {} (single points of failure: {})",
                ppm_percent(value),
                ppm_percent(target),
                ppm_percent(ceiling),
                stores.join(", ")
            )
        } else {
            format!(
                "{} {rel} {}; reachable with more replicas (see the optimum)",
                ppm_percent(value),
                ppm_percent(target)
            )
        };
        if model.deployment.regions > 1 {
            lines.push(format!(
                "{} regions, failover penalty {} x {} a month",
                model.deployment.regions,
                model.deployment.failovers_per_month,
                ms(model.deployment.failover_ms())
            ));
        }
        out.push(
            Check::new(Property::Availability, &e.name, holds, detail)
                .figures(Figure::Ppm(value), Figure::Ppm(target))
                .evidence(lines),
        );
    }
    out
}
