//! Structural safety read straight off the model (retries and redeliveries are idempotent,
//! events leave through an outbox, stock cannot go negative, every name resolves), the
//! invariants the generated tests enforce, and the operational figures left unchecked.

use crate::model::{ArchitectureModel, Dedupe, Shape};

use super::{Check, Property, Verdict};

fn rule(subject: &str, failures: Vec<String>, proved: String) -> Check {
    if failures.is_empty() {
        Check::new(Property::Structure, subject, true, proved)
    } else {
        let detail = failures[0].clone();
        Check::new(Property::Structure, subject, false, detail).evidence(failures)
    }
}

/// The structural rules, one check each.
pub(super) fn safety(model: &ArchitectureModel) -> Vec<Check> {
    let retried: Vec<String> = model
        .calls
        .iter()
        .filter(|c| c.attempts > 1 && !c.idempotent)
        .map(|c| {
            format!(
                "{} -> {} {} is retried {} times but not idempotent",
                c.from,
                c.to,
                c.method.as_str(),
                c.attempts
            )
        })
        .collect();
    let n_retried = model.calls.iter().filter(|c| c.attempts > 1).count();

    let mut redelivered = Vec::new();
    let mut n_subs = 0;
    for t in &model.topics {
        for s in &t.subscriptions {
            n_subs += 1;
            let stores = || s.touches.iter().filter_map(|n| model.store(n));
            let missing = match s.dedupe {
                Dedupe::Natural => None,
                Dedupe::IdempotencyKey => (!stores().any(|st| st.idempotency_key))
                    .then_some("declares an idempotency key but touches no store with one"),
                Dedupe::Inbox => (!stores().any(|st| st.inbox))
                    .then_some("declares an inbox but touches no store with one"),
                Dedupe::None => Some("has no deduplication, so a redelivery repeats its effect"),
            };
            if let Some(why) = missing {
                redelivered.push(format!(
                    "{} consuming {} ({}) {why}",
                    s.unit, t.name, s.purpose
                ));
            }
        }
    }

    let outbox: Vec<String> = model
        .topics
        .iter()
        .filter(|t| {
            let stores = model
                .unit(&t.publisher)
                .map(|u| u.stores.as_slice())
                .unwrap_or_default();
            !stores
                .iter()
                .filter_map(|n| model.store(n))
                .any(|s| s.outbox)
        })
        .map(|t| {
            format!(
                "{} publishes {} without an outbox in its store",
                t.publisher, t.name
            )
        })
        .collect();

    let stock: Vec<String> = model
        .stores
        .iter()
        .filter(|s| s.stock && !s.non_negative_stock_constraint)
        .map(|s| format!("{} holds stock without a non-negative CHECK", s.name))
        .collect();
    let n_stock = model.stores.iter().filter(|s| s.stock).count();

    vec![
        rule(
            "retried calls",
            retried,
            format!("all {n_retried} retried calls are idempotent"),
        ),
        rule(
            "at-least-once consumers",
            redelivered,
            format!("all {n_subs} subscriptions deduplicate redeliveries"),
        ),
        rule(
            "events via outbox",
            outbox,
            format!(
                "all {} topics are published through an outbox",
                model.topics.len()
            ),
        ),
        inbox_retention(model),
        rule(
            "stock never negative",
            stock,
            format!("{n_stock} stock store(s) declare CHECK available >= 0"),
        ),
        rule(
            "references",
            dangling(model),
            "every unit, store, topic and call named in the model exists".to_owned(),
        ),
    ]
}

/// Every inbox remembers a processed event id at least as long as the broker can deliver the
/// event again (a Redis inbox by its TTL), or a late redelivery is processed twice.
fn inbox_retention(model: &ArchitectureModel) -> Check {
    let broker = model.retention.broker_hours;
    let forgotten: Vec<String> = model
        .stores
        .iter()
        .filter(|s| s.inbox)
        .filter_map(|s| {
            let kept = s
                .ttl_seconds
                .map_or(model.retention.inbox_hours, |ttl| ttl / 3_600);
            (kept < broker).then(|| {
                format!(
                    "{} forgets a processed event after {kept} h, but the broker can deliver it again for {broker} h",
                    s.name
                )
            })
        })
        .collect();
    let n_inboxes = model.stores.iter().filter(|s| s.inbox).count();

    rule(
        "inbox outlives redelivery",
        forgotten,
        format!(
            "all {n_inboxes} inboxes remember an event id at least as long as the broker keeps it ({broker} h)"
        ),
    )
}

/// Names used but not defined.
fn dangling(model: &ArchitectureModel) -> Vec<String> {
    let mut out = Vec::new();
    let unit = |n: &str, out: &mut Vec<String>, at: &str| {
        if model.unit(n).is_none() {
            out.push(format!("{at} names unknown unit {n}"));
        }
    };
    let store = |n: &str, out: &mut Vec<String>, at: &str| {
        if model.store(n).is_none() {
            out.push(format!("{at} names unknown store {n}"));
        }
    };
    for u in &model.units {
        for s in &u.stores {
            store(s, &mut out, &u.name);
        }
    }
    for c in &model.calls {
        unit(&c.from, &mut out, "a call");
        unit(&c.to, &mut out, "a call");
    }
    for t in &model.topics {
        unit(&t.publisher, &mut out, &t.name);
        for s in &t.subscriptions {
            unit(&s.unit, &mut out, &t.name);
            for st in &s.touches {
                store(st, &mut out, &t.name);
            }
        }
    }
    for e in &model.entries {
        let mut stack = vec![&e.root];
        while let Some(hop) = stack.pop() {
            unit(&hop.unit, &mut out, &e.name);
            for s in &hop.stores {
                store(s, &mut out, &e.name);
            }
            for child in hop.stages.iter().flatten() {
                // Within one unit a hop is a function call (a monolith's modules), not a call
                // over the network.
                let in_process = child.unit == hop.unit;
                if !in_process && model.call(&hop.unit, &child.unit, child.method).is_none() {
                    out.push(format!(
                        "{}: {} calls {} {} without a declared call",
                        e.name,
                        hop.unit,
                        child.method.as_str(),
                        child.unit
                    ));
                }
                stack.push(child);
            }
        }
    }
    out
}

/// Invariants only code can keep, with the generated test that enforces each.
pub(super) fn invariants(model: &ArchitectureModel) -> Vec<Check> {
    let (modules, journey) = match model.shape {
        Shape::Microservices => ("services", "devstack/tests/journey.rs"),
        Shape::ModularMonolith => ("modules", "app/tests/journey.rs"),
        Shape::DecisionOnly => return Vec::new(),
    };
    [
        (
            "no double charge",
            format!(
                "{modules}/payment-service/tests/api.rs::same_idempotency_key_never_charges_twice"
            ),
        ),
        (
            "stock never below zero",
            format!(
                "{modules}/inventory-service/tests/api.rs::concurrent_reservations_never_oversell"
            ),
        ),
        (
            "saga compensation",
            format!("{journey}::failed_payment_cancels_order_and_restores_stock"),
        ),
    ]
    .into_iter()
    .map(|(subject, test)| {
        let mut check = Check::new(
            Property::Invariant,
            subject,
            true,
            format!("enforced by {test}"),
        );
        check.verdict = Verdict::Tested;
        check
    })
    .collect()
}

/// Operational figures outside the model, listed so they are not forgotten.
pub(super) fn unchecked() -> Vec<Check> {
    [
        (
            "mean time to repair",
            "depends on on-call and runbooks; measure it in incident reviews",
        ),
        (
            "backup restore time",
            "rehearse a restore; failover does not cover data corruption",
        ),
        (
            "alert to acknowledgement",
            "depends on paging policy; not part of the model",
        ),
    ]
    .into_iter()
    .map(|(subject, detail)| {
        let mut check = Check::new(Property::Operations, subject, true, detail);
        check.verdict = Verdict::Unchecked;
        check
    })
    .collect()
}
