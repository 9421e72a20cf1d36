//! Properties of flows and views: bounded-time flows across the entry path and the async
//! hops after it (p99, and all messages within their redelivery budget), and the staleness
//! of read views.

use crate::model::{ArchitectureModel, Freshness, Subscription, Topic};
use crate::requirements::Requirements;

use super::capacity::reads_from_replicas;
use super::paths::{need, p99};
use super::{Check, Figure, Property, Verdict, ms};

fn subscription<'m>(
    model: &'m ArchitectureModel,
    topic: &str,
    consumer: &str,
) -> Option<(&'m Topic, &'m Subscription)> {
    let t = model.topic(topic)?;
    Some((t, t.subscriptions.iter().find(|s| s.unit == consumer)?))
}

/// p99 of one async hop: outbox poll + broker delivery p99 + the handler's p99.
fn async_p99(model: &ArchitectureModel, t: &Topic, s: &Subscription) -> u64 {
    let handler = model.unit(&s.unit).map_or(0, |u| u.ops.p99_ms)
        + s.touches
            .iter()
            .filter_map(|n| model.store(n))
            .map(|st| st.p99_ms)
            .sum::<u64>();
    t.outbox_poll_ms + t.delivery_p99_ms + handler
}

/// Worst case of one async hop within the redelivery budget.
fn async_all(t: &Topic, s: &Subscription) -> u64 {
    t.outbox_poll_ms
        + t.delivery_p99_ms
        + u64::from(s.attempts) * s.handler_timeout_ms
        + u64::from(s.attempts.saturating_sub(1)) * s.backoff_ms
}

/// Each flow at p99 and for all messages that are not dead-lettered.
pub(super) fn flows(model: &ArchitectureModel, req: &Requirements) -> Vec<Check> {
    let mut out = Vec::new();
    for flow in &model.flows {
        let Some(entry) = model.entry(&flow.entry) else {
            continue;
        };
        let (mut p, mut all) = (p99(model, &entry.root), need(model, &entry.root));
        let mut lines_p = vec![format!("{} p99 {}", entry.name, ms(p))];
        let mut lines_all = vec![format!(
            "{} worst case with retries {}",
            entry.name,
            ms(all)
        )];
        for step in &flow.steps {
            let Some((t, s)) = subscription(model, &step.topic, &step.consumer) else {
                lines_p.push(format!(
                    "{} has no subscription by {}",
                    step.topic, step.consumer
                ));
                continue;
            };
            let (hp, ha) = (async_p99(model, t, s), async_all(t, s));
            p += hp;
            all += ha;
            lines_p.push(format!(
                "{} -> {}: poll {} + delivery {} + handler = {}",
                t.name,
                s.unit,
                ms(t.outbox_poll_ms),
                ms(t.delivery_p99_ms),
                ms(hp)
            ));
            lines_all.push(format!(
                "{} -> {}: poll {} + delivery {} + {} x {} + {} x {} backoff = {}",
                t.name,
                s.unit,
                ms(t.outbox_poll_ms),
                ms(t.delivery_p99_ms),
                s.attempts,
                ms(s.handler_timeout_ms),
                s.attempts.saturating_sub(1),
                ms(s.backoff_ms),
                ms(ha)
            ));
        }
        let outlasts = all <= flow.timeout_ms;
        out.push(
            Check::new(
                Property::FlowTime,
                format!("{} (timeout)", flow.name),
                outlasts,
                format!(
                    "worst case {} {} timeout {}{}",
                    ms(all),
                    if outlasts { "<=" } else { ">" },
                    ms(flow.timeout_ms),
                    if outlasts {
                        ""
                    } else {
                        ": flows that would still finish are given up and compensated"
                    }
                ),
            )
            .figures(Figure::Ms(all), Figure::Ms(flow.timeout_ms))
            .evidence(lines_all.clone()),
        );
        let Some(bound) = req.flows.get(&flow.name) else {
            out.push(unbounded(Property::FlowTime, &flow.name));
            continue;
        };
        for (label, value, limit, lines) in [
            ("p99", p, bound.p99_ms, lines_p),
            ("all", all, bound.all_ms, lines_all),
        ] {
            let holds = value <= limit;
            let detail = format!(
                "{} {} {}",
                ms(value),
                if holds { "<=" } else { ">" },
                ms(limit)
            );
            out.push(
                Check::new(
                    Property::FlowTime,
                    format!("{} ({label})", flow.name),
                    holds,
                    detail,
                )
                .figures(Figure::Ms(value), Figure::Ms(limit))
                .evidence(lines),
            );
        }
    }
    out
}

fn unbounded(property: Property, subject: &str) -> Check {
    let mut check = Check::new(property, subject, true, "no bound in the requirements");
    check.verdict = Verdict::Unchecked;
    check
}

/// Worst staleness of each read view against its bound.
pub(super) fn staleness(model: &ArchitectureModel, req: &Requirements) -> Vec<Check> {
    model
        .views
        .iter()
        .map(|v| {
            let (value, how) = match &v.freshness {
                Freshness::Synchronous => match model.store(&v.source) {
                    Some(store)
                        if store.read_replicas > 0
                            && model
                                .entry(&v.entry)
                                .is_some_and(|e| reads_from_replicas(&e.root, &store.name)) =>
                    {
                        (
                            store.replica_lag_ms,
                            format!(
                                "{} reads {} from its {} read replicas, which trail it by up to {}",
                                v.entry,
                                v.source,
                                store.read_replicas,
                                ms(store.replica_lag_ms)
                            ),
                        )
                    }
                    _ => (0, format!("{} reads {} synchronously", v.entry, v.source)),
                },
                Freshness::Cache {
                    ttl_ms,
                    invalidated_by: None,
                } => (
                    *ttl_ms,
                    format!("cache TTL {} without invalidation", ms(*ttl_ms)),
                ),
                Freshness::Cache {
                    ttl_ms,
                    invalidated_by: Some(topic),
                } => {
                    let hop = model
                        .topic(topic)
                        .map_or(*ttl_ms, |t| t.outbox_poll_ms + t.delivery_p99_ms);
                    (
                        (*ttl_ms).min(hop),
                        format!("cache invalidated by {topic} (TTL {})", ms(*ttl_ms)),
                    )
                }
            };
            let Some(&bound) = req.staleness_ms.get(&v.name) else {
                return unbounded(Property::Staleness, &v.name);
            };
            let holds = value <= bound;
            let detail = format!(
                "{} {} {}: {how}",
                ms(value),
                if holds { "<=" } else { ">" },
                ms(bound)
            );
            Check::new(Property::Staleness, &v.name, holds, detail)
                .figures(Figure::Ms(value), Figure::Ms(bound))
        })
        .collect()
}
