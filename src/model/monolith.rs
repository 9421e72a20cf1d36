//! The modular monolith: the platform's bounded contexts, unchanged, as modules of one
//! deployable unit. What changes is the assembly, and the model says so: one unit serves every
//! route behind one port (it checks tokens and rate limits itself, so there is no gateway);
//! a call between modules is a function call in the process, not a network hop (no timeout, no
//! retry, no second failure); every `PostgreSQL` database becomes a schema of one database;
//! events travel in process from each module's outbox, so there is no broker.

use super::{
    ArchitectureModel, Hop, Ops, Shape, Store, StoreKind, Unit, UnitKind, defaults as d,
    microservices,
};

/// The one deployable unit's name.
pub(super) const APP: &str = "app";
/// The one database every module keeps a schema of.
pub(super) const APP_DB: &str = "app-db";

/// The platform's modules in one unit.
#[allow(
    clippy::too_many_lines,
    reason = "one transformation of the platform, read top to bottom"
)]
pub(super) fn modular_monolith(project: &str) -> ArchitectureModel {
    let platform = microservices::platform(project);
    let modules: Vec<Unit> = platform.services().cloned().collect();
    let merged: Vec<&Store> = platform
        .stores
        .iter()
        .filter(|s| s.kind == StoreKind::Postgres)
        .collect();
    let store_of = |name: &str| -> String {
        if merged.iter().any(|s| s.name == name) {
            APP_DB.to_owned()
        } else {
            name.to_owned()
        }
    };
    let rename = |names: &[String]| -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for name in names.iter().map(|n| store_of(n)) {
            if !out.contains(&name) {
                out.push(name);
            }
        }
        out
    };

    let mut stores: Vec<Store> = Vec::new();
    if let Some(first) = merged.first() {
        let mut db = (*first).clone();
        APP_DB.clone_into(&mut db.name);
        db.summary = format!(
            "One PostgreSQL database, a schema per module ({}); each schema as its service's database was: {}",
            modules
                .iter()
                .filter(|m| m.stores.iter().any(|s| merged.iter().any(|p| &p.name == s)))
                .map(|m| m.crate_name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            merged
                .iter()
                .map(|s| s.summary.to_lowercase())
                .collect::<Vec<_>>()
                .join("; ")
        );
        for s in &merged {
            db.stock |= s.stock;
            db.non_negative_stock_constraint |= s.non_negative_stock_constraint;
            db.idempotency_key |= s.idempotency_key;
            db.outbox |= s.outbox;
            db.inbox |= s.inbox;
        }
        stores.push(db);
    }
    stores.extend(
        platform
            .stores
            .iter()
            .filter(|s| !matches!(s.kind, StoreKind::Postgres | StoreKind::Kafka))
            .cloned(),
    );

    let mut app = microservices::service(
        APP,
        8080,
        "Every module in one process: one binary, one port, one database",
        &[],
        &[],
        &[],
        &[],
    );
    app.kind = UnitKind::Monolith;
    for module in &modules {
        app.routes.extend(module.routes.iter().cloned());
        for topic in &module.publishes {
            if !app.publishes.contains(topic) {
                app.publishes.push(topic.clone());
            }
        }
        for topic in &module.consumes {
            if !app.consumes.contains(topic) {
                app.consumes.push(topic.clone());
            }
        }
        app.stores.extend(module.stores.iter().cloned());
    }
    app.stores = rename(&app.stores);
    app.ops = Ops {
        pool_size: d::MODULE_POOL_SIZE * postgres_modules(&modules, &merged),
        ..app.ops
    };

    let gateway = platform.gateway().map(|g| g.name.clone());
    // Publishers and consumers stay the modules ([`ArchitectureModel::unit`] finds the unit
    // they run in): each module subscribes under its own name, with its own budget.
    let mut topics = platform.topics;
    for topic in &mut topics {
        topic.delivery_p99_ms = d::IN_PROCESS_DELIVERY_P99_MS;
        for sub in &mut topic.subscriptions {
            sub.touches = rename(&sub.touches);
        }
    }
    let mut entries = platform.entries;
    for entry in &mut entries {
        entry.root = in_process(entry.root.clone(), gateway.as_deref(), &rename);
    }
    let flows = platform.flows;
    let mut views = platform.views;
    for view in &mut views {
        view.source = store_of(&view.source);
    }
    ArchitectureModel {
        project: project.to_owned(),
        shape: Shape::ModularMonolith,
        units: vec![app],
        modules,
        // Modules call each other in process: no call is made over the network. The calls
        // stay as what each module's client does once the module is extracted.
        calls: Vec::new(),
        module_calls: platform.calls,
        topics,
        stores,
        entries,
        flows,
        views,
        deployment: platform.deployment,
        retention: platform.retention,
        retry_budget: platform.retry_budget,
        overridden: platform.overridden,
    }
}

/// How many modules keep data in `PostgreSQL`: each opens a pool of its own to its schema.
fn postgres_modules(modules: &[Unit], postgres: &[&Store]) -> u32 {
    let count = modules
        .iter()
        .filter(|m| {
            m.stores
                .iter()
                .any(|s| postgres.iter().any(|p| &p.name == s))
        })
        .count();
    u32::try_from(count).unwrap_or(u32::MAX)
}

/// `hop` as the monolith runs it: the gateway's hop is gone (the unit checks tokens and rate
/// limits itself), every module's hop is the unit's, and every store is where the monolith
/// keeps it.
fn in_process(hop: Hop, gateway: Option<&str>, rename: &impl Fn(&[String]) -> Vec<String>) -> Hop {
    if Some(hop.unit.as_str()) == gateway {
        if let [stage] = hop.stages.as_slice() {
            if let [only] = stage.as_slice() {
                return in_process(only.clone(), gateway, rename);
            }
        }
    }
    Hop {
        unit: APP.to_owned(),
        stores: rename(&hop.stores),
        stages: hop
            .stages
            .into_iter()
            .map(|stage| {
                stage
                    .into_iter()
                    .map(|h| in_process(h, gateway, rename))
                    .collect()
            })
            .collect(),
        ..hop
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Method;

    #[test]
    fn one_unit_hosts_every_module_on_one_database_without_a_broker_or_network_calls() {
        let model = ArchitectureModel::modular_monolith("shop");
        assert_eq!(model.shape, Shape::ModularMonolith);
        let units: Vec<(&str, UnitKind, u16)> = model
            .units
            .iter()
            .map(|u| (u.name.as_str(), u.kind, u.port))
            .collect();
        assert_eq!(units, [("app", UnitKind::Monolith, 8080)]);
        let modules: Vec<&str> = model.modules.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(
            modules,
            [
                "inventory-service",
                "user-service",
                "payment-service",
                "notification-service",
                "product-service",
                "cart-service",
                "order-service"
            ]
        );
        assert!(model.calls.is_empty());
        assert!(
            model
                .module_calls
                .iter()
                .any(|c| c.from == "order-service" && c.to == "cart-service" && c.attempts == 2)
        );
        let stores: Vec<&str> = model.stores.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(stores, ["app-db", "cart-cache", "payment-provider"]);
        let db = model.store(APP_DB).unwrap();
        assert!(db.stock && db.non_negative_stock_constraint && db.idempotency_key);
        assert!(db.outbox && db.inbox);
        assert!(db.summary.contains("order_service"), "{}", db.summary);
        let app = model.unit(APP).unwrap();
        assert_eq!(app.stores, ["app-db", "payment-provider", "cart-cache"]);
        assert!(app.routes.contains(&"/api/v1/orders".to_owned()));
        assert_eq!(app.ops.pool_size, d::MODULE_POOL_SIZE * 6);
        assert!(
            model
                .topics
                .iter()
                .all(|t| t.delivery_p99_ms == d::IN_PROCESS_DELIVERY_P99_MS
                    && model.unit(&t.publisher).is_some_and(|u| u.name == APP))
        );
        assert_eq!(model.consumers("order.created"), ["inventory-service"]);
        assert_eq!(model.unit("inventory-service").unwrap().name, APP);
        assert!(model.unit("no-such-module").is_none());
        assert_eq!(model.views[0].source, APP_DB);
    }

    #[test]
    fn an_entry_path_loses_the_gateway_hop_and_keeps_each_module_visit() {
        let model = ArchitectureModel::modular_monolith("shop");
        let checkout = &model.entry("checkout").unwrap().root;
        assert_eq!(
            (
                checkout.unit.as_str(),
                checkout.method,
                checkout.stores.clone()
            ),
            ("app", Method::Post, vec!["app-db".to_owned()])
        );
        let cart = &checkout.stages[0][0];
        assert_eq!(
            (cart.unit.as_str(), cart.stores.clone()),
            ("app", vec!["cart-cache".to_owned()])
        );
        let browse = &model.entry("browse").unwrap().root;
        assert!(browse.replica_reads && browse.stages[0][0].replica_reads);
    }
}
