//! Properties of the deployment as a whole: failover time against the RTO, writes lost on
//! failover against the RPO, and the itemised monthly bill against the budget.

use crate::model::{ArchitectureModel, Replication};
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
