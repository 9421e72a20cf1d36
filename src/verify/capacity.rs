//! Throughput and availability: load per unit and store primary (with retries multiplying
//! load), and availability per entry path (k-of-r replicas, series over the stores touched,
//! regions with a failover penalty).

use std::collections::BTreeMap;

use crate::model::{
    ArchitectureModel, EntryPath, Hop, Ops, RetryBudget, Store, StoreKind, Subscription, Topic,
    Traffic, Unit, percent,
};
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

/// The load key of the read replicas of `store`.
pub(super) fn replicas_key(store: &str) -> String {
    format!("{store} read replicas")
}

/// The load key of `unit`'s handler for `topic`.
pub(super) fn consumer_key(topic: &str, unit: &str) -> String {
    format!("{topic} -> {unit}")
}

/// The load key of `unit`'s outbox relay.
pub(super) fn relay_key(unit: &str) -> String {
    format!("{unit} outbox relay")
}

fn push(loads: &mut Loads, key: &str, source: &str, rate: u64) {
    loads
        .entry(key.to_owned())
        .or_default()
        .push((source.to_owned(), rate));
}

fn add_hop(
    model: &ArchitectureModel,
    budget: RetryBudget,
    hop: &Hop,
    rate: u64,
    source: &str,
    loads: &mut Loads,
) {
    push(loads, &hop.unit, source, rate);
    for store in &hop.stores {
        // Reads replicas may serve are counted apart, so that sizing can move them.
        let key = if hop.replica_reads {
            replicas_key(store)
        } else {
            store.clone()
        };
        push(loads, &key, source, rate);
    }
    for child in hop.stages.iter().flatten() {
        // In a retry storm every client spends its whole retry budget.
        let retries = model
            .call(&hop.unit, &child.unit, child.method)
            .map_or(0, |c| {
                let clients = model.unit(&hop.unit).map_or(1, |u| u.ops.replicas);
                budget.retries(rate, c.attempts, clients)
            });
        add_hop(model, budget, child, rate + retries, source, loads);
    }
}

/// Mean time one delivery of `s` takes: the unit's median own time and one operation on each
/// store or provider it touches at that operation's p99 (a handler waits on them in turn).
#[must_use]
pub fn handler_ms(model: &ArchitectureModel, s: &Subscription) -> u64 {
    let own = model.unit(&s.unit).map_or(0, |u| u.ops.p50_ms);
    let stores: u64 = s
        .touches
        .iter()
        .filter_map(|n| model.store(n))
        .map(|st| st.p99_ms)
        .sum();
    (own + stores).max(1)
}

/// Deliveries a second one replica's consumer of `s` completes: `concurrency` in flight, each
/// for [`handler_ms`].
#[must_use]
pub fn consumer_capacity(model: &ArchitectureModel, s: &Subscription) -> u64 {
    u64::from(s.concurrency) * 1_000 / handler_ms(model, s)
}

/// How long one pass of the outbox relay publishing `t` takes when it never waits: the poll
/// interval (its bound when idle), a database round trip and a broker acknowledgement.
#[must_use]
pub fn relay_pass_ms(model: &ArchitectureModel, t: &Topic) -> u64 {
    let store_ms = model
        .unit(&t.publisher)
        .and_then(|u| {
            u.stores
                .iter()
                .filter_map(|n| model.store(n))
                .find(|s| s.outbox)
        })
        .map_or(0, |s| s.p99_ms);
    let broker_ms = model
        .stores
        .iter()
        .find(|s| s.kind == StoreKind::Kafka)
        .map_or(0, |s| s.p99_ms);
    (t.outbox_poll_ms + store_ms + broker_ms).max(1)
}

/// Rows a second one replica's outbox relay publishes: `outbox_batch` rows a pass.
#[must_use]
pub fn relay_capacity(model: &ArchitectureModel, t: &Topic) -> u64 {
    t.outbox_batch * 1_000 / relay_pass_ms(model, t)
}

/// The fewest replicas of `unit` that carry its load: its requests, each subscription's
/// deliveries and its outbox relay's rows; at least `min_up` and one.
pub(super) fn replicas_needed(
    model: &ArchitectureModel,
    loads: &Loads,
    unit: &Unit,
) -> Result<u32, String> {
    let mut need = vec![(
        total(loads, &unit.name),
        unit.ops.capacity_rps,
        unit.name.clone(),
    )];
    for t in &model.topics {
        for s in t.subscriptions.iter().filter(|s| s.unit == unit.name) {
            let key = consumer_key(&t.name, &s.unit);
            need.push((total(loads, &key), consumer_capacity(model, s), key));
        }
    }
    if let Some(t) = model.topics.iter().find(|t| t.publisher == unit.name) {
        let key = relay_key(&unit.name);
        need.push((total(loads, &key), relay_capacity(model, t), key));
    }
    let mut most = unit.ops.min_up.max(1);
    for (load, per_replica, what) in need {
        if load == 0 {
            continue;
        }
        if per_replica == 0 {
            return Err(format!("{what} has no capacity but {load} req/s of load"));
        }
        most = most.max(u32::try_from(load.div_ceil(per_replica)).unwrap_or(u32::MAX));
    }
    Ok(most)
}

/// Whether a hop of the tree under `hop` reads `store` from its read replicas when it has any.
pub(super) fn reads_from_replicas(hop: &Hop, store: &str) -> bool {
    (hop.replica_reads && hop.stores.iter().any(|s| s == store))
        || hop
            .stages
            .iter()
            .flatten()
            .any(|child| reads_from_replicas(child, store))
}

/// Load on `store`'s primary: all of it, less the reads its read replicas serve if it has any.
pub(super) fn primary_load(loads: &Loads, store: &Store) -> u64 {
    let reads = total(loads, &replicas_key(&store.name));
    total(loads, &store.name) + if store.read_replicas > 0 { 0 } else { reads }
}

/// Read replicas per store whose primary cannot carry its whole load: as many as the reads
/// replicas may serve need. A store its primary can carry gets none (a replica is a part to run
/// and pay for, so only where it is needed).
pub(super) fn read_replicas_needed(
    model: &ArchitectureModel,
    loads: &Loads,
) -> BTreeMap<String, u32> {
    let mut out = BTreeMap::new();
    for s in model
        .stores
        .iter()
        .filter(|s| s.kind == StoreKind::Postgres && s.capacity_rps > 0)
    {
        let reads = total(loads, &replicas_key(&s.name));
        if reads > 0 && total(loads, &s.name) + reads > s.capacity_rps {
            let n = u32::try_from(reads.div_ceil(s.capacity_rps)).unwrap_or(u32::MAX);
            out.insert(s.name.clone(), n);
        }
    }
    out
}

/// Load from every entry path, every topic (publish, and each delivery with the retries the
/// budget allows) and every outbox relay (its publishes, and its polls on its database).
pub(super) fn loads(model: &ArchitectureModel, req: &Requirements) -> Loads {
    loads_at(
        model,
        |e| entry_rate(e.traffic, req),
        req.orders_per_second,
        1,
    )
}

/// [`loads`] with each entry path at `rate_of` it and `orders` orders a second, all in units of
/// 1/`scale` request a second (the fixed per-second figures, retry floors and relay polls,
/// are scaled to match).
pub(super) fn loads_at(
    model: &ArchitectureModel,
    rate_of: impl Fn(&EntryPath) -> u64,
    orders: u64,
    scale: u64,
) -> Loads {
    let mut loads = Loads::new();
    let budget = RetryBudget {
        percent: model.retry_budget.percent,
        min_per_second: u32::try_from(u64::from(model.retry_budget.min_per_second) * scale)
            .unwrap_or(u32::MAX),
    };
    for e in &model.entries {
        add_hop(model, budget, &e.root, rate_of(e), &e.name, &mut loads);
    }
    let broker = model
        .stores
        .iter()
        .find(|s| s.kind == StoreKind::Kafka)
        .map(|s| s.name.clone());
    for t in &model.topics {
        let rate = orders * t.per_order;
        push(&mut loads, &relay_key(&t.publisher), &t.name, rate);
        let mut messages = rate;
        for s in &t.subscriptions {
            let clients = model.unit(&s.unit).map_or(1, |u| u.ops.replicas);
            let deliveries = rate + budget.retries(rate, s.attempts, clients);
            messages += deliveries;
            push(&mut loads, &s.unit, &t.name, deliveries);
            push(
                &mut loads,
                &consumer_key(&t.name, &s.unit),
                &t.name,
                deliveries,
            );
            for store in &s.touches {
                push(&mut loads, store, &t.name, deliveries);
            }
        }
        if let Some(b) = &broker {
            push(&mut loads, b, &t.name, messages);
        }
    }
    for u in &model.units {
        let Some(poll_ms) = model
            .topics
            .iter()
            .filter(|t| t.publisher == u.name)
            .map(|t| t.outbox_poll_ms)
            .min()
        else {
            continue;
        };
        if let Some(outbox) = u
            .stores
            .iter()
            .filter_map(|n| model.store(n))
            .find(|s| s.outbox)
        {
            // An idle relay polls once an interval on every replica.
            let polls = u64::from(u.ops.replicas) * 1_000 * scale / poll_ms.max(1);
            push(&mut loads, &outbox.name, "outbox polls", polls);
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

/// One part of the system against its capacity: name, load, capacity and how the capacity is
/// made up.
pub(super) struct Row {
    pub(super) name: String,
    pub(super) load: u64,
    pub(super) capacity: u64,
    pub(super) basis: String,
}

/// Every part that carries load: units, store primaries and read replicas, each topic's
/// consumers and each publisher's outbox relay.
pub(super) fn rows(model: &ArchitectureModel, loads: &Loads) -> Vec<Row> {
    let mut rows = Vec::new();
    for u in &model.units {
        rows.push(Row {
            name: u.name.clone(),
            load: total(loads, &u.name),
            capacity: u64::from(u.ops.replicas) * u.ops.capacity_rps,
            basis: format!("{} x {} req/s", u.ops.replicas, u.ops.capacity_rps),
        });
    }
    for s in &model.stores {
        rows.push(Row {
            name: s.name.clone(),
            load: primary_load(loads, s),
            capacity: s.capacity_rps,
            basis: "primary".to_owned(),
        });
        if s.read_replicas > 0 {
            let name = replicas_key(&s.name);
            rows.push(Row {
                load: total(loads, &name),
                capacity: u64::from(s.read_replicas) * s.capacity_rps,
                basis: format!("{} x {} req/s", s.read_replicas, s.capacity_rps),
                name,
            });
        }
    }
    for t in &model.topics {
        for s in &t.subscriptions {
            let replicas = model.unit(&s.unit).map_or(0, |u| u.ops.replicas);
            let name = consumer_key(&t.name, &s.unit);
            rows.push(Row {
                load: total(loads, &name),
                capacity: u64::from(replicas) * consumer_capacity(model, s),
                basis: format!(
                    "{replicas} x {} in flight / {} ms",
                    s.concurrency,
                    handler_ms(model, s)
                ),
                name,
            });
        }
    }
    for u in &model.units {
        let Some(t) = model.topics.iter().find(|t| t.publisher == u.name) else {
            continue;
        };
        let name = relay_key(&u.name);
        rows.push(Row {
            load: total(loads, &name),
            capacity: u64::from(u.ops.replicas) * relay_capacity(model, t),
            basis: format!(
                "{} x {} rows a pass / {} ms",
                u.ops.replicas,
                t.outbox_batch,
                relay_pass_ms(model, t)
            ),
            name,
        });
    }
    rows
}

/// The bottleneck: the part with the highest utilisation.
pub(super) fn throughput(model: &ArchitectureModel, req: &Requirements) -> Check {
    let loads = loads(model, req);
    let rows = rows(model, &loads);
    // Utilisation compared exactly as load_a * cap_b against load_b * cap_a.
    let worst = rows.iter().max_by(|a, b| {
        (u128::from(a.load) * u128::from(b.capacity.max(1)))
            .cmp(&(u128::from(b.load) * u128::from(a.capacity.max(1))))
    });
    let Some(worst) = worst else {
        return Check::new(Property::Throughput, "bottleneck", true, "nothing deployed");
    };
    let over: Vec<&Row> = rows.iter().filter(|r| r.load > r.capacity).collect();
    let arithmetic = |r: &Row| {
        let parts = loads
            .get(&r.name)
            .map(|p| {
                p.iter()
                    .map(|(s, r)| format!("{s} {r}"))
                    .collect::<Vec<_>>()
                    .join(" + ")
            })
            .unwrap_or_default();
        format!(
            "{}: {parts} = {} req/s vs {} = {} req/s",
            r.name, r.load, r.basis, r.capacity
        )
    };
    let detail = format!(
        "{} at {} of {} req/s ({}){}",
        worst.name,
        worst.load,
        worst.capacity,
        worst.basis,
        if over.len() > 1 {
            format!("; {} parts over capacity", over.len())
        } else {
            String::new()
        }
    );
    let evidence = if over.is_empty() {
        vec![arithmetic(worst)]
    } else {
        over.iter().map(|r| arithmetic(r)).collect()
    };
    Check::new(Property::Throughput, "bottleneck", over.is_empty(), detail)
        .figures(Figure::Rps(worst.load), Figure::Rps(worst.capacity))
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
