use std::collections::BTreeMap;

use proptest::prelude::*;

use crate::context::{Scalability, Security};
use crate::model::{
    ArchitectureModel, Dedupe, Freshness, Hop, Method, Replication, Store, SyncCall, Traffic,
    UnitKind,
};
use crate::requirements::{RequirementAnswers, Requirements};

use super::capacity::unit_availability;
use super::*;

fn req(scalability: Scalability, security: Security) -> Requirements {
    Requirements::derive(scalability, security, &RequirementAnswers::default())
}

fn extreme_critical() -> Requirements {
    req(Scalability::Extreme, Security::Critical)
}

fn platform() -> ArchitectureModel {
    ArchitectureModel::microservices("ecommerce-platform")
}

#[track_caller]
fn check<'r>(report: &'r VerificationReport, property: Property, subject: &str) -> &'r Check {
    report
        .checks_of(property)
        .find(|c| c.subject == subject)
        .unwrap_or_else(|| panic!("no {property:?} check for {subject}"))
}

#[track_caller]
fn verdict_of(
    model: &ArchitectureModel,
    req: &Requirements,
    property: Property,
    subject: &str,
) -> Verdict {
    check(&verify(model, req), property, subject).verdict
}

fn hop(unit: &str, method: Method, stores: &[&str], stages: Vec<Vec<Hop>>) -> Hop {
    Hop {
        unit: unit.into(),
        method,
        stores: stores.iter().map(|s| (*s).to_owned()).collect(),
        stages,
        replica_reads: false,
    }
}

fn call(from: &str, to: &str, method: Method) -> SyncCall {
    SyncCall {
        from: from.into(),
        to: to.into(),
        purpose: "test".into(),
        method,
        timeout_ms: 2_000,
        attempts: 1,
        backoff_ms: 0,
        idempotent: true,
    }
}

fn set_replicas(model: &mut ArchitectureModel, units: &[&str], replicas: u32) {
    for u in units {
        model.unit_mut(u).unwrap().ops.replicas = replicas;
    }
}

/// The checkout as a chain of synchronous calls: cart, inventory and payment, over six stores.
fn synchronous_checkout() -> ArchitectureModel {
    let mut model = platform();
    model
        .calls
        .push(call("order-service", "inventory-service", Method::Post));
    model
        .calls
        .push(call("order-service", "payment-service", Method::Post));
    let entry = model
        .entries
        .iter_mut()
        .find(|e| e.name == "checkout")
        .unwrap();
    entry.root = hop(
        "api-gateway",
        Method::Post,
        &[],
        vec![vec![hop(
            "order-service",
            Method::Post,
            &["order-db", "kafka"],
            vec![
                vec![hop("cart-service", Method::Get, &["cart-cache"], vec![])],
                vec![hop(
                    "inventory-service",
                    Method::Post,
                    &["inventory-db"],
                    vec![],
                )],
                vec![hop(
                    "payment-service",
                    Method::Post,
                    &["payment-db", "payment-provider"],
                    vec![],
                )],
            ],
        )]],
    );
    model
}

#[test]
fn a_synchronous_checkout_over_six_stores_cannot_reach_three_nines_whatever_the_replicas() {
    let mut model = synchronous_checkout();
    set_replicas(
        &mut model,
        &[
            "api-gateway",
            "order-service",
            "cart-service",
            "inventory-service",
            "payment-service",
        ],
        8,
    );
    let report = verify(&model, &extreme_critical());
    let c = check(&report, Property::Availability, "checkout");
    assert_eq!(c.verdict, Verdict::Failed);
    // 0.9995^6 = 0.99700374..., rounded down to ppm.
    assert!(
        c.detail
            .contains("no replica count can work: the stores alone give 99.7003%"),
        "{}",
        c.detail
    );
    for spof in [
        "order-db",
        "kafka",
        "cart-cache",
        "inventory-db",
        "payment-db",
        "payment-provider",
    ] {
        assert!(c.detail.contains(spof), "{spof} not named in {}", c.detail);
    }
    let Optimum::Infeasible {
        reasons,
        closest: None,
    } = optimise(&model, &extreme_critical())
    else {
        panic!("expected no optimum")
    };
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("checkout: no replica count can work")),
        "{reasons:?}"
    );
}

#[test]
fn a_checkout_that_only_writes_the_order_and_its_outbox_event_reaches_three_nines() {
    let mut model = platform();
    let entry = model
        .entries
        .iter_mut()
        .find(|e| e.name == "checkout")
        .unwrap();
    entry.root = hop(
        "api-gateway",
        Method::Post,
        &[],
        vec![vec![hop(
            "order-service",
            Method::Post,
            &["order-db"],
            vec![],
        )]],
    );
    set_replicas(&mut model, &["api-gateway", "order-service"], 3);
    let c = verify(&model, &extreme_critical())
        .checks_of(Property::Availability)
        .find(|c| c.subject == "checkout")
        .cloned()
        .unwrap();
    assert_eq!(c.verdict, Verdict::Proved);
    // 0.9995 * (1 - 0.005^3)^2 = 0.99949975...
    assert_eq!(c.value, Some(Figure::Ppm(999_499)));
}

#[test]
fn failover_every_ten_seconds_misses_a_thirty_second_rto_and_every_five_meets_it() {
    let mut model = platform();
    model.deployment.health_check_interval_ms = 10_000;
    model.deployment.failure_threshold = 3;
    model.deployment.check_timeout_ms = 0;
    model.deployment.switch_ms = 5_000;
    let report = verify(&model, &extreme_critical());
    let c = check(&report, Property::Failover, "health checks and switch");
    assert_eq!(
        (c.verdict, c.value),
        (Verdict::Failed, Some(Figure::Ms(35_000)))
    );
    model.deployment.health_check_interval_ms = 5_000;
    let report = verify(&model, &extreme_critical());
    let c = check(&report, Property::Failover, "health checks and switch");
    assert_eq!(
        (c.verdict, c.value),
        (Verdict::Proved, Some(Figure::Ms(20_000)))
    );
}

#[test]
fn one_millisecond_of_latency_bound_flips_the_checkout_latency_verdict() {
    let model = platform();
    let mut r = extreme_critical();
    r.entry_p99_ms.insert("checkout".into(), 122);
    assert_eq!(
        verdict_of(&model, &r, Property::Latency, "checkout"),
        Verdict::Proved
    );
    r.entry_p99_ms.insert("checkout".into(), 121);
    let report = verify(&model, &r);
    let c = check(&report, Property::Latency, "checkout");
    assert_eq!(c.verdict, Verdict::Failed);
    assert_eq!(
        c.evidence.first().map(String::as_str),
        Some("api-gateway 10 ms")
    );
    assert_eq!(
        c.evidence.last().map(String::as_str),
        Some("total 122 ms > 121 ms")
    );
}

#[test]
fn a_timeout_one_millisecond_short_of_the_callees_worst_case_fails_nesting() {
    let mut model = platform();
    let subject = "calls on entry paths";
    let c = model
        .calls
        .iter_mut()
        .find(|c| c.from == "product-service" && c.to == "inventory-service")
        .unwrap();
    c.timeout_ms = 60; // inventory-service 50 ms + inventory-db 10 ms
    assert_eq!(
        verdict_of(
            &model,
            &extreme_critical(),
            Property::TimeoutNesting,
            subject
        ),
        Verdict::Proved
    );
    model
        .calls
        .iter_mut()
        .find(|c| c.from == "product-service" && c.to == "inventory-service")
        .unwrap()
        .timeout_ms = 59;
    assert_eq!(
        verdict_of(
            &model,
            &extreme_critical(),
            Property::TimeoutNesting,
            subject
        ),
        Verdict::Failed
    );
}

#[test]
fn the_order_confirmed_flow_flips_at_its_computed_bound() {
    let model = platform();
    let mut r = extreme_critical();
    let report = verify(&model, &r);
    let Some(Figure::Ms(p99)) = check(&report, Property::FlowTime, "order confirmed (p99)").value
    else {
        panic!()
    };
    let Some(Figure::Ms(all)) = check(&report, Property::FlowTime, "order confirmed (all)").value
    else {
        panic!()
    };
    // checkout 122 + three hops of poll 100 + delivery 50 + handler; the charge waits on the provider.
    assert_eq!(
        p99,
        122 + (100 + 50 + 60) + (100 + 50 + 50 + 10 + 800) + (100 + 50 + 60)
    );
    let bound = r.flows.get_mut("order confirmed").unwrap();
    bound.p99_ms = p99;
    bound.all_ms = all - 1;
    let report = verify(&model, &r);
    assert_eq!(
        check(&report, Property::FlowTime, "order confirmed (p99)").verdict,
        Verdict::Proved
    );
    assert_eq!(
        check(&report, Property::FlowTime, "order confirmed (all)").verdict,
        Verdict::Failed
    );
}

#[test]
fn a_cache_without_invalidation_is_as_stale_as_its_ttl() {
    let mut model = platform();
    let subject = "inventory change visible";
    model.views[0].freshness = Freshness::Cache {
        ttl_ms: 10_000,
        invalidated_by: None,
    };
    assert_eq!(
        verdict_of(&model, &extreme_critical(), Property::Staleness, subject),
        Verdict::Proved
    );
    model.views[0].freshness = Freshness::Cache {
        ttl_ms: 10_001,
        invalidated_by: None,
    };
    assert_eq!(
        verdict_of(&model, &extreme_critical(), Property::Staleness, subject),
        Verdict::Failed
    );
}

#[test]
fn throughput_fails_when_the_bottleneck_loses_one_request_per_second_of_capacity() {
    let mut model = platform();
    for u in &mut model.units {
        u.ops.capacity_rps = 1_000_000;
    }
    for s in &mut model.stores {
        s.capacity_rps = 1_000_000;
    }
    let order = model.unit_mut("order-service").unwrap();
    order.ops.replicas = 1;
    // 1 order/s: checkout 1 + four subscriptions x 1 message x 3 deliveries = 13 req/s.
    order.ops.capacity_rps = 13;
    let low = req(Scalability::Low, Security::Standard);
    assert_eq!(
        verdict_of(&model, &low, Property::Throughput, "bottleneck"),
        Verdict::Proved
    );
    model.unit_mut("order-service").unwrap().ops.capacity_rps = 12;
    let report = verify(&model, &low);
    let c = check(&report, Property::Throughput, "bottleneck");
    assert_eq!(c.verdict, Verdict::Failed);
    assert!(
        c.evidence[0].starts_with("order-service: checkout 1 + inventory.reserved 3"),
        "{:?}",
        c.evidence
    );
}

#[test]
fn a_less_available_user_database_makes_login_miss_three_nines() {
    let mut model = platform();
    assert_eq!(
        verdict_of(&model, &extreme_critical(), Property::Availability, "login"),
        Verdict::Proved
    );
    model.store_mut("user-db").unwrap().availability = 0.999;
    assert_eq!(
        verdict_of(&model, &extreme_critical(), Property::Availability, "login"),
        Verdict::Failed
    );
}

#[test]
fn login_error_rate_flips_at_four_hundred_parts_per_million() {
    let model = platform();
    let mut r = extreme_critical();
    r.error_rate_ppm = 400; // 1 - (1 - 0.0002)^2 = 0.00039996
    assert_eq!(
        verdict_of(&model, &r, Property::ErrorRate, "login"),
        Verdict::Proved
    );
    r.error_rate_ppm = 399;
    assert_eq!(
        verdict_of(&model, &r, Property::ErrorRate, "login"),
        Verdict::Failed
    );
}

#[test]
fn retrying_an_idempotent_read_lowers_the_error_rate_and_retrying_is_ignored_otherwise() {
    let mut model = platform();
    let before = check(
        &verify(&model, &extreme_critical()),
        Property::ErrorRate,
        "browse",
    )
    .value;
    for c in &mut model.calls {
        c.idempotent = false;
    }
    let after = check(
        &verify(&model, &extreme_critical()),
        Property::ErrorRate,
        "browse",
    )
    .value;
    assert!(matches!((before, after), (Some(Figure::Ppm(b)), Some(Figure::Ppm(a))) if b < a));
}

#[test]
fn asynchronous_replication_of_a_system_of_record_breaks_a_zero_rpo() {
    let mut model = platform();
    let subject = "systems of record";
    assert_eq!(
        verdict_of(&model, &extreme_critical(), Property::DataLoss, subject),
        Verdict::Proved
    );
    model.store_mut("order-db").unwrap().replication = Replication::Asynchronous { lag_ms: 1 };
    assert_eq!(
        verdict_of(&model, &extreme_critical(), Property::DataLoss, subject),
        Verdict::Failed
    );
}

#[test]
fn the_bill_fits_a_budget_of_exactly_its_total_and_not_a_cent_less() {
    let model = platform();
    let mut r = extreme_critical();
    let total: u64 = verify(&model, &r).cost.iter().map(|i| i.cents).sum();
    assert_eq!(total, 8 * 2 * 3_000 + 6 * 20_000 + 10_000 + 50_000);
    r.monthly_budget_cents = total;
    assert_eq!(
        verdict_of(&model, &r, Property::Cost, "infrastructure"),
        Verdict::Proved
    );
    r.monthly_budget_cents = total - 1;
    assert_eq!(
        verdict_of(&model, &r, Property::Cost, "infrastructure"),
        Verdict::Failed
    );
}

#[test]
fn a_saga_timeout_shorter_than_the_flows_worst_case_fails() {
    let r = extreme_critical();
    let mut m = platform();
    assert_eq!(
        verdict_of(&m, &r, Property::FlowTime, "order confirmed (timeout)"),
        Verdict::Proved
    );
    m.flows[0].timeout_ms = 1_000;
    assert_eq!(
        verdict_of(&m, &r, Property::FlowTime, "order confirmed (timeout)"),
        Verdict::Failed
    );
}

#[test]
fn each_structural_rule_fails_when_its_one_fact_is_removed() {
    let r = extreme_critical();
    let mut m = platform();
    m.calls
        .iter_mut()
        .find(|c| c.attempts > 1)
        .unwrap()
        .idempotent = false;
    assert_eq!(
        verdict_of(&m, &r, Property::Structure, "retried calls"),
        Verdict::Failed
    );
    let mut m = platform();
    m.topics[0].subscriptions[0].dedupe = Dedupe::None;
    assert_eq!(
        verdict_of(&m, &r, Property::Structure, "at-least-once consumers"),
        Verdict::Failed
    );
    let mut m = platform();
    m.store_mut("order-db").unwrap().outbox = false;
    assert_eq!(
        verdict_of(&m, &r, Property::Structure, "events via outbox"),
        Verdict::Failed
    );
    let mut m = platform();
    m.store_mut("inventory-db")
        .unwrap()
        .non_negative_stock_constraint = false;
    assert_eq!(
        verdict_of(&m, &r, Property::Structure, "stock never negative"),
        Verdict::Failed
    );
    let mut m = platform();
    m.retention.inbox_hours = m.retention.broker_hours - 1;
    assert_eq!(
        verdict_of(&m, &r, Property::Structure, "inbox outlives redelivery"),
        Verdict::Failed
    );
    let mut m = platform();
    m.units[0].stores.push("no-such-db".into());
    assert_eq!(
        verdict_of(&m, &r, Property::Structure, "references"),
        Verdict::Failed
    );
    let report = verify(&platform(), &r);
    assert!(
        report
            .checks_of(Property::Structure)
            .all(|c| c.verdict == Verdict::Proved)
    );
}

#[test]
fn the_invariants_name_the_generated_tests_and_operational_figures_stay_listed() {
    let report = verify(&platform(), &extreme_critical());
    let tested: Vec<_> = report
        .checks_of(Property::Invariant)
        .map(|c| (c.verdict, c.detail.as_str()))
        .collect();
    assert_eq!(
        tested,
        [
            (
                Verdict::Tested,
                "enforced by services/payment-service/tests/api.rs::same_idempotency_key_never_charges_twice"
            ),
            (
                Verdict::Tested,
                "enforced by services/inventory-service/tests/api.rs::concurrent_reservations_never_oversell"
            ),
            (
                Verdict::Tested,
                "enforced by devstack/tests/journey.rs::failed_payment_cancels_order_and_restores_stock"
            ),
        ]
    );
    assert!(
        report
            .checks_of(Property::Operations)
            .any(|c| c.subject == "mean time to repair" && c.verdict == Verdict::Unchecked)
    );
}

#[test]
fn the_optimum_meets_every_property_and_the_resized_model_verifies_clean() {
    let model = platform();
    let r = req(Scalability::Moderate, Security::High);
    let Optimum::Found(sizing) = optimise(&model, &r) else {
        panic!("{:?}", optimise(&model, &r))
    };
    let sized = model.with_replicas(&sizing.replicas);
    let report = verify(&sized, &r);
    assert!(!report.has_failures(), "{}", report.to_text());
    assert!(report.assumed.iter().all(|a| !a.key.ends_with(".replicas")));
    // One replica fewer anywhere that matters breaks a property or is below the load minimum.
    for (unit, &count) in &sizing.replicas {
        if count > 1 {
            let mut fewer = sizing.replicas.clone();
            fewer.insert(unit.clone(), count - 1);
            assert!(
                verify(&model.with_replicas(&fewer), &r).has_failures() || count - 1 < 1,
                "{unit} could lose one"
            );
        }
    }
}

#[test]
fn a_decision_only_model_has_nothing_to_size_and_nothing_failing() {
    let report = verify(
        &ArchitectureModel::decision_only("shop"),
        &extreme_critical(),
    );
    assert_eq!(report.optimum, Optimum::NothingToSize);
    assert!(!report.has_failures(), "{}", report.to_text());
}

#[test]
fn the_report_serializes_with_stable_field_names_and_integer_figures() {
    let report = verify(&platform(), &extreme_critical());
    let json = serde_json::to_value(&report).unwrap();
    let keys: Vec<_> = json.as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys, ["project", "checks", "cost", "optimum", "assumed"]);
    let first = &json["checks"][0];
    assert_eq!(first["property"], "latency");
    assert_eq!(first["verdict"], "PROVED");
    assert_eq!(first["value"], serde_json::json!({ "ms": 122 }));
    assert_eq!(json["optimum"]["status"], "found");
    assert_eq!(
        json["optimum"]["read_replicas"],
        serde_json::json!({ "inventory-db": 2, "product-db": 2 })
    );
    assert_eq!(
        serde_json::to_string(&report).unwrap(),
        serde_json::to_string(&verify(&platform(), &extreme_critical())).unwrap()
    );
}

#[test]
fn the_markdown_table_has_a_row_per_check() {
    let report = verify(&platform(), &extreme_critical());
    let md = report.to_markdown();
    let rows = md
        .lines()
        .take_while(|l| !l.is_empty())
        .filter(|l| l.contains("| **"))
        .count();
    assert_eq!(rows, report.checks.len());
    assert!(md.contains("| availability | checkout | **FAILED** |"));
}

/// Gateway, two services and two stores; `a` calls `b`, and `b` is also reached directly.
fn small_model(
    avail: [f64; 3],
    min_up: [u32; 3],
    cost: [u64; 3],
    stores: [f64; 2],
) -> ArchitectureModel {
    let base = platform();
    let mut model = ArchitectureModel::decision_only("small");
    for (i, name) in ["svc-a", "svc-b", "api-gateway"].into_iter().enumerate() {
        let mut unit = base.gateway().unwrap().clone();
        unit.name = name.into();
        unit.kind = if i == 2 {
            UnitKind::Gateway
        } else {
            UnitKind::Service
        };
        unit.ops.availability = avail[i];
        unit.ops.min_up = min_up[i];
        unit.ops.cost_cents = cost[i];
        unit.ops.capacity_rps = 1_000_000;
        model.units.push(unit);
    }
    for (i, name) in ["db-a", "db-b"].into_iter().enumerate() {
        let mut store: Store = base.store("order-db").unwrap().clone();
        store.name = name.into();
        store.availability = stores[i];
        store.cost_cents = 0;
        model.stores.push(store);
    }
    model.calls = vec![
        call("api-gateway", "svc-a", Method::Post),
        call("svc-a", "svc-b", Method::Get),
        call("api-gateway", "svc-b", Method::Get),
    ];
    let chain = hop(
        "api-gateway",
        Method::Post,
        &[],
        vec![vec![hop(
            "svc-a",
            Method::Post,
            &["db-a"],
            vec![vec![hop("svc-b", Method::Get, &["db-b"], vec![])]],
        )]],
    );
    let direct = hop(
        "api-gateway",
        Method::Get,
        &[],
        vec![vec![hop("svc-b", Method::Get, &["db-b"], vec![])]],
    );
    model.entries = vec![
        crate::model::EntryPath {
            name: "chain".into(),
            method: Method::Post,
            path: "/a".into(),
            traffic: Traffic::PerOrder { per_order: 1 },
            root: chain,
        },
        crate::model::EntryPath {
            name: "direct".into(),
            method: Method::Get,
            path: "/b".into(),
            traffic: Traffic::Busiest,
            root: direct,
        },
    ];
    model
}

/// Cheapest counts with every check passing, by trying every combination.
fn brute_force(model: &ArchitectureModel, r: &Requirements) -> Option<BTreeMap<String, u32>> {
    let lo: Vec<u32> = model.units.iter().map(|u| u.ops.min_up.max(1)).collect();
    let mut best: Option<(u64, Vec<u32>)> = None;
    let span = EXTRA_REPLICAS + 1;
    for n in 0..span.pow(3) {
        let pick: Vec<u32> = (0..3)
            .map(|i: u32| lo[i as usize] + n / span.pow(2 - i) % span)
            .collect();
        let counts: BTreeMap<String, u32> = model
            .units
            .iter()
            .map(|u| u.name.clone())
            .zip(pick.iter().copied())
            .collect();
        let sized = model.with_replicas(&counts);
        if model_checks(&sized, r)
            .iter()
            .any(|c| c.verdict == Verdict::Failed)
        {
            continue;
        }
        let cost: u64 = deployment::bill(&sized).iter().map(|i| i.cents).sum();
        if best.as_ref().is_none_or(|(c, p)| (cost, &pick) < (*c, p)) {
            best = Some((cost, pick));
        }
    }
    best.map(|(_, pick)| {
        model
            .units
            .iter()
            .map(|u| u.name.clone())
            .zip(pick)
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn adding_a_replica_never_lowers_a_units_availability(a in 0.5f64..0.9999, k in 1u32..=3, r in 1u32..=12) {
        let mut ops = platform().units[0].ops;
        ops.availability = a;
        ops.min_up = k;
        prop_assert!(unit_availability(&ops, r + 1) >= unit_availability(&ops, r));
    }

    #[test]
    fn adding_a_replica_never_lowers_path_availability_or_capacity(unit in 0usize..8, extra in 1u32..4) {
        let model = platform();
        let mut more = model.clone();
        more.units[unit].ops.replicas += extra;
        let r = extreme_critical();
        let (before, after) = (verify(&model, &r), verify(&more, &r));
        for (b, a) in before.checks_of(Property::Availability).zip(after.checks_of(Property::Availability)) {
            let (Some(Figure::Ppm(b)), Some(Figure::Ppm(a))) = (b.value, a.value) else { unreachable!() };
            prop_assert!(a >= b);
        }
        let capacity = |m: &ArchitectureModel| u64::from(m.units[unit].ops.replicas) * m.units[unit].ops.capacity_rps;
        prop_assert!(capacity(&more) > capacity(&model));
    }

    #[test]
    fn the_optimiser_equals_brute_force_on_small_models(
        avail in proptest::array::uniform3(0.80f64..0.999),
        min_up in proptest::array::uniform3(1u32..=2),
        cost in proptest::array::uniform3(0u64..50),
        stores in proptest::array::uniform2(0.9990f64..1.0),
        target in 990_000u64..999_900,
    ) {
        let model = small_model(avail, min_up, cost, stores);
        let mut r = req(Scalability::Low, Security::Standard);
        r.availability_ppm = target;
        let expected = brute_force(&model, &r);
        match optimise(&model, &r) {
            Optimum::Found(sizing) => prop_assert_eq!(Some(sizing.replicas), expected),
            other => prop_assert!(expected.is_none(), "optimiser said {:?}", other),
        }
    }
}

/// The platform with `inventory-service` at `replicas` (and every other unit as it is).
fn inventory_at(replicas: u32) -> ArchitectureModel {
    platform().with_replicas(&BTreeMap::from([(
        "inventory-service".to_owned(),
        replicas,
    )]))
}

#[test]
fn pools_that_exceed_a_databases_connections_without_a_pooler_fail_with_the_sum() {
    let r = extreme_critical();
    // 9 replicas x 10 = 90 connections: exactly what 100 less 10 reserved allows.
    let fits = inventory_at(9);
    let store = fits
        .stores
        .iter()
        .find(|s| s.name == "inventory-db")
        .unwrap();
    assert_eq!(store.pooler, None, "no pooler where the pools fit");
    let c = check(&verify(&fits, &r), Property::Connections, "inventory-db").clone();
    assert_eq!(c.verdict, Verdict::Proved, "{}", c.detail);
    assert_eq!(
        (c.value, c.bound),
        (Some(Figure::Connections(90)), Some(Figure::Connections(90)))
    );

    let mut over = inventory_at(10);
    for store in &mut over.stores {
        store.pooler = None;
    }
    let c = check(&verify(&over, &r), Property::Connections, "inventory-db").clone();
    assert_eq!(c.verdict, Verdict::Failed, "{}", c.detail);
    assert!(c.detail.starts_with("100 > 90"), "{}", c.detail);
    assert!(
        c.evidence[0].contains("inventory-service 10 x 10 = 100"),
        "{:?}",
        c.evidence
    );
}

#[test]
fn sizing_puts_a_pooler_in_front_of_a_database_only_while_the_pools_exceed_it() {
    let r = extreme_critical();
    let big = inventory_at(178);
    let store = big
        .stores
        .iter()
        .find(|s| s.name == "inventory-db")
        .unwrap();
    let pooler = store.pooler.expect("1,780 connections need a pooler");
    assert_eq!(
        (pooler.client_connections, pooler.server_connections),
        (1_780, 90)
    );
    assert_eq!(
        verdict_of(&big, &r, Property::Connections, "inventory-db"),
        Verdict::Proved
    );
    // A pooler whose server side outgrows the database fails too.
    let mut greedy = big.clone();
    for store in &mut greedy.stores {
        if let Some(pooler) = &mut store.pooler {
            pooler.server_connections = 95;
        }
    }
    assert_eq!(
        verdict_of(&greedy, &r, Property::Connections, "inventory-db"),
        Verdict::Failed
    );
    // Sized down again, the pooler goes.
    let small = big.with_replicas(&BTreeMap::from([("inventory-service".to_owned(), 2)]));
    let store = small
        .stores
        .iter()
        .find(|s| s.name == "inventory-db")
        .unwrap();
    assert_eq!(store.pooler, None);
}

#[test]
fn a_deployment_starts_at_a_third_of_the_peak_count_but_never_below_two_or_min_up() {
    use crate::model::Ops;
    assert_eq!(Ops::steady_for(178, 1), 60);
    assert_eq!(Ops::steady_for(12, 1), 4);
    assert_eq!(Ops::steady_for(3, 1), 2);
    assert_eq!(Ops::steady_for(2, 1), 2);
    assert_eq!(Ops::steady_for(1, 1), 1, "never above the peak count");
    assert_eq!(Ops::steady_for(9, 5), 5);
    let sized = inventory_at(178);
    let unit = sized
        .units
        .iter()
        .find(|u| u.name == "inventory-service")
        .unwrap();
    assert_eq!((unit.ops.steady_replicas, unit.ops.replicas), (60, 178));
}

#[test]
fn a_retry_budget_adds_its_share_and_floor_but_never_more_than_every_attempt() {
    let budget = crate::model::RetryBudget {
        percent: 20,
        min_per_second: 10,
    };
    // 1,000 first attempts a second from 3 clients: 200 + 30 retries, not 1,000 more.
    assert_eq!(budget.retries(1_000, 2, 3), 230);
    // A quiet client: its floor, but never more than one retry per attempt.
    assert_eq!(budget.retries(5, 2, 1), 5);
    assert_eq!(budget.retries(5, 3, 1), 10);
    assert_eq!(budget.retries(1_000, 1, 3), 0, "one attempt: no retry");
}

#[test]
fn without_a_retry_budget_retry_storms_overload_the_reference_stores() {
    let r = extreme_critical();
    let Optimum::Found(sizing) = optimise(&platform(), &r) else {
        panic!("the reference case must be satisfiable");
    };
    assert_eq!(
        sizing.read_replicas,
        BTreeMap::from([("inventory-db".to_owned(), 2), ("product-db".to_owned(), 2)])
    );
    // Every attempt made (the budget as large as the attempts): nothing can be sized.
    let mut unbounded = platform();
    unbounded.retry_budget.percent = 100;
    unbounded.retry_budget.min_per_second = 1_000_000;
    let Optimum::Infeasible { reasons, .. } = optimise(&unbounded, &r) else {
        panic!("retry storms must overload a store");
    };
    assert!(
        reasons[0].contains("kafka at 62000 of 50000 req/s"),
        "{reasons:?}"
    );
}

#[test]
fn reads_move_to_replicas_only_where_the_primary_cannot_carry_them() {
    let model = platform();
    let moderate = req(Scalability::Moderate, Security::High);
    let Optimum::Found(sizing) = optimise(&model, &moderate) else {
        panic!("moderate is satisfiable");
    };
    assert!(
        sizing.read_replicas.is_empty(),
        "{:?}",
        sizing.read_replicas
    );
    let r = extreme_critical();
    let Optimum::Found(sizing) = optimise(&model, &r) else {
        panic!("extreme is satisfiable");
    };
    let sized = model
        .with_replicas(&sizing.replicas)
        .with_read_replicas(&sizing.read_replicas);
    let report = verify(&sized, &r);
    assert!(!report.has_failures(), "{}", report.to_text());
    let product = sized.unit("product-service").unwrap();
    assert_eq!(product.reads_replicas_of, ["product-db"]);
    assert!(
        sized
            .unit("order-service")
            .unwrap()
            .reads_replicas_of
            .is_empty()
    );
    // Each replica's second pool (to the replicas) counts against the database's pooler.
    let db = sized.store("product-db").unwrap();
    assert_eq!(
        sized.connection_demand(db),
        product.ops.replicas * product.ops.pool_size * 2
    );
    // Without the replicas, product-db's primary is over capacity.
    let primary_only = sized.with_read_replicas(&BTreeMap::new());
    let c = check(
        &verify(&primary_only, &r),
        Property::Throughput,
        "bottleneck",
    )
    .clone();
    assert_eq!(c.verdict, Verdict::Failed);
    assert!(
        c.evidence.iter().any(|e| e.starts_with("product-db: ")),
        "{:?}",
        c.evidence
    );
}

#[test]
fn replicas_lagging_past_the_staleness_bound_fail_the_view() {
    let r = extreme_critical();
    let Optimum::Found(sizing) = optimise(&platform(), &r) else {
        panic!("extreme is satisfiable");
    };
    let mut sized = platform()
        .with_replicas(&sizing.replicas)
        .with_read_replicas(&sizing.read_replicas);
    let bound = r.staleness_ms["inventory change visible"];
    sized.store_mut("inventory-db").unwrap().replica_lag_ms = bound;
    assert_eq!(
        verdict_of(&sized, &r, Property::Staleness, "inventory change visible"),
        Verdict::Proved
    );
    sized.store_mut("inventory-db").unwrap().replica_lag_ms = bound + 1;
    let report = verify(&sized, &r);
    let c = check(&report, Property::Staleness, "inventory change visible");
    assert_eq!(c.verdict, Verdict::Failed);
    assert!(
        c.detail.contains("from its 2 read replicas"),
        "{}",
        c.detail
    );
}

#[test]
fn a_sequential_handler_behind_the_provider_cannot_carry_a_thousand_orders() {
    let r = extreme_critical();
    let Optimum::Found(sizing) = optimise(&platform(), &r) else {
        panic!("extreme is satisfiable");
    };
    let sized = platform()
        .with_replicas(&sizing.replicas)
        .with_read_replicas(&sizing.read_replicas);
    let mut sequential = sized.clone();
    for t in &mut sequential.topics {
        for s in &mut t.subscriptions {
            s.concurrency = 1;
        }
    }
    let report = verify(&sequential, &r);
    let c = check(&report, Property::Throughput, "bottleneck");
    assert_eq!(c.verdict, Verdict::Failed);
    // 1,000 charges a second plus retries, one at a time for 10 + 10 + 800 ms each.
    assert!(
        c.evidence
            .iter()
            .any(|e| e.starts_with("inventory.reserved -> payment-service: ")
                && e.contains("x 1 in flight / 820 ms")),
        "{:?}",
        c.evidence
    );
    // The optimiser sizes payment-service for its handlers instead.
    let Optimum::Infeasible {
        closest: Some(s), ..
    } = optimise(&sequential, &r)
    else {
        panic!("so many replicas cannot fit the budget");
    };
    assert!(s.replicas["payment-service"] > 1_000, "{:?}", s.replicas);
}

#[test]
fn a_relay_that_publishes_one_row_a_pass_holds_back_the_orders() {
    let r = extreme_critical();
    let Optimum::Found(sizing) = optimise(&platform(), &r) else {
        panic!("extreme is satisfiable");
    };
    let mut slow = platform()
        .with_replicas(&sizing.replicas)
        .with_read_replicas(&sizing.read_replicas);
    for t in &mut slow.topics {
        t.outbox_batch = 1;
    }
    let report = verify(&slow, &r);
    let c = check(&report, Property::Throughput, "bottleneck");
    assert_eq!(c.verdict, Verdict::Failed);
    // order-service publishes three topics at 1,000 orders/s; a pass takes 100 + 10 + 50 ms.
    assert!(
        c.evidence
            .iter()
            .any(|e| e.starts_with("order-service outbox relay: ")
                && e.contains("rows a pass / 160 ms")),
        "{:?}",
        c.evidence
    );
}
