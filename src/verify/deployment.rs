//! Properties of the deployment as a whole: failover time against the RTO, writes lost on
//! failover against the RPO, database connections against what each store accepts, and the
//! itemised monthly bill against the budget.

use crate::model::{ArchitectureModel, RESERVED_CONNECTIONS, Replication};
use crate::requirements::Requirements;

use super::{Check, CostItem, Figure, Property, dollars, ms};

/// Failover time = interval x threshold + check timeout + switch, against the RTO.
pub(super) fn failover(model: &ArchitectureModel, req: &Requirements) -> Check {
    let d = &model.deployment;
    let value = d.failover_ms();
    let holds = value <= req.rto_ms;
    let detail = format!(
        "{} x {} + {} + {} = {} {} {}",
        ms(d.health_check_interval_ms),
        d.failure_threshold,
        ms(d.check_timeout_ms),
        ms(d.switch_ms),
        ms(value),
        if holds { "<=" } else { ">" },
        ms(req.rto_ms)
    );
    Check::new(
        Property::Failover,
        "health checks and switch",
        holds,
        detail,
    )
    .figures(Figure::Ms(value), Figure::Ms(req.rto_ms))
}

/// Writes lost on failover: the largest replication lag among systems of record.
pub(super) fn data_loss(model: &ArchitectureModel, req: &Requirements) -> Check {
    let lag = |r: Replication| match r {
        Replication::Synchronous | Replication::Managed => 0,
        Replication::Asynchronous { lag_ms } => lag_ms,
    };
    let mut worst = ("no system of record".to_owned(), 0);
    for s in model.stores.iter().filter(|s| s.system_of_record) {
        if lag(s.replication) > worst.1 || worst.0.starts_with("no ") {
            worst = (s.name.clone(), lag(s.replication));
        }
    }
    if model.deployment.regions > 1 && lag(model.deployment.replication) > worst.1 {
        worst = (
            "cross-region replication".to_owned(),
            lag(model.deployment.replication),
        );
    }
    let holds = worst.1 <= req.rpo_ms;
    let detail = format!(
        "{} {} {} ({})",
        ms(worst.1),
        if holds { "<=" } else { ">" },
        ms(req.rpo_ms),
        worst.0
    );
    Check::new(Property::DataLoss, "systems of record", holds, detail)
        .figures(Figure::Ms(worst.1), Figure::Ms(req.rpo_ms))
}

/// Per store that counts connections: every pool of every replica at the autoscaler's ceiling
/// (replicas × pool size, summed over the store's users) against what the store accepts less
/// the reserved connections, or, behind a pooler, against the pooler's client connections with
/// the pooler's server connections within the store's.
pub(super) fn connections(model: &ArchitectureModel) -> Vec<Check> {
    model
        .stores
        .iter()
        .filter(|s| s.max_connections > 0)
        .filter_map(|store| {
            let demand = model.connection_demand(store);
            if demand == 0 {
                return None;
            }
            let parts: Vec<String> = model
                .units
                .iter()
                .filter(|u| u.stores.contains(&store.name))
                .map(|u| format!("{} {} x {}", u.name, u.ops.replicas, u.ops.pool_size))
                .collect();
            let reserved = RESERVED_CONNECTIONS;
            let usable = store.max_connections.saturating_sub(reserved);
            let server = format!("{usable} ({} max_connections - {reserved} reserved)", store.max_connections);
            let (holds, detail, bound) = match store.pooler {
                None => {
                    let holds = demand <= usable;
                    let verb = if holds { "<=" } else { ">" };
                    (holds, format!("{demand} {verb} {server}, direct"), usable)
                }
                Some(pooler) => {
                    let holds = demand <= pooler.client_connections
                        && pooler.server_connections <= usable;
                    let detail = format!(
                        "{demand} {} {} client connections of the pooler, whose {} server connections {} {server}",
                        if demand <= pooler.client_connections { "<=" } else { ">" },
                        pooler.client_connections,
                        pooler.server_connections,
                        if pooler.server_connections <= usable { "<=" } else { ">" },
                    );
                    (holds, detail, pooler.client_connections)
                }
            };
            let check = Check::new(Property::Connections, &store.name, holds, detail)
                .figures(
                    Figure::Connections(u64::from(demand)),
                    Figure::Connections(u64::from(bound)),
                );
            Some(if holds {
                check
            } else {
                check.evidence(vec![format!(
                    "{}: {} = {demand} connections at the autoscaler's ceiling",
                    store.name,
                    parts.join(" + ")
                )])
            })
        })
        .collect()
}

/// The monthly bill, line by line.
pub(super) fn bill(model: &ArchitectureModel) -> Vec<CostItem> {
    let regions = u64::from(model.deployment.regions.max(1));
    let mut items = Vec::new();
    for u in &model.units {
        items.push(CostItem {
            item: u.name.clone(),
            basis: format!(
                "{} replicas x {} x {regions} region(s)",
                u.ops.replicas,
                dollars(u.ops.cost_cents)
            ),
            cents: u64::from(u.ops.replicas) * u.ops.cost_cents * regions,
        });
    }
    for s in model.stores.iter().filter(|s| s.cost_cents > 0) {
        items.push(CostItem {
            item: s.name.clone(),
            basis: format!("{} x {regions} region(s)", dollars(s.cost_cents)),
            cents: s.cost_cents * regions,
        });
        if s.read_replicas > 0 {
            items.push(CostItem {
                item: format!("{} read replicas", s.name),
                basis: format!(
                    "{} x {} x {regions} region(s)",
                    s.read_replicas,
                    dollars(s.cost_cents)
                ),
                cents: u64::from(s.read_replicas) * s.cost_cents * regions,
            });
        }
    }
    items
}

/// Total of `bill` against the budget.
pub(super) fn cost(model: &ArchitectureModel, req: &Requirements) -> Check {
    let total: u64 = bill(model).iter().map(|i| i.cents).sum();
    let holds = total <= req.monthly_budget_cents;
    let detail = format!(
        "{} {} {} a month (itemised below)",
        dollars(total),
        if holds { "<=" } else { ">" },
        dollars(req.monthly_budget_cents)
    );
    Check::new(Property::Cost, "infrastructure", holds, detail).figures(
        Figure::Cents(total),
        Figure::Cents(req.monthly_budget_cents),
    )
}
