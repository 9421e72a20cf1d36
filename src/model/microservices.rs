//! The e-commerce platform as data: the product table's units, ports, stores, calls and
//! topics, the entry paths and flows the checks evaluate, all with planning defaults.

use std::collections::BTreeSet;

use super::{
    ArchitectureModel, Dedupe, Deployment, EntryPath, Flow, FlowStep, Freshness, Hop, Method, Ops,
    Replication, Retention, RetryBudget, Shape, Store, StoreKind, Subscription, SyncCall, Topic,
    Traffic, Unit, UnitKind, View, defaults as d,
};

/// The platform, dependencies first and the gateway last.
#[allow(
    clippy::too_many_lines,
    reason = "one table of data, read top to bottom"
)]
pub(super) fn platform(project: &str) -> ArchitectureModel {
    let units = vec![
        service(
            "inventory-service",
            8007,
            "Stock levels and reservations",
            &["/api/v1/inventory"],
            &["inventory-db"],
            &[
                "inventory.reserved",
                "inventory.reservation-failed",
                "inventory.released",
            ],
            &["order.created", "order.confirmed", "order.cancelled"],
        ),
        service(
            "user-service",
            8001,
            "Accounts, login and JWT issuing",
            &["/api/v1/users", "/api/v1/auth"],
            &["user-db"],
            &["user.registered"],
            &[],
        ),
        service(
            "payment-service",
            8006,
            "Charges and refunds through the payment provider",
            &["/api/v1/payments"],
            &["payment-db", "payment-provider"],
            &["payment.succeeded", "payment.failed", "payment.refunded"],
            &["inventory.reserved", "order.cancelled"],
        ),
        service(
            "notification-service",
            8008,
            "Emails about accounts, orders and payments",
            &["/api/v1/notifications"],
            &["notification-db"],
            &[],
            &[
                "user.registered",
                "order.confirmed",
                "order.cancelled",
                "payment.succeeded",
                "payment.failed",
                "payment.refunded",
            ],
        ),
        service(
            "product-service",
            8003,
            "Catalog and search",
            &["/api/v1/products"],
            &["product-db"],
            &["product.updated"],
            &[],
        ),
        service(
            "cart-service",
            8004,
            "Shopping carts",
            &["/api/v1/cart"],
            &["cart-cache"],
            &[],
            &["product.updated", "order.confirmed"],
        ),
        service(
            "order-service",
            8005,
            "Orders and the checkout saga",
            &["/api/v1/orders"],
            &["order-db"],
            &["order.created", "order.confirmed", "order.cancelled"],
            &[
                "inventory.reserved",
                "inventory.reservation-failed",
                "payment.succeeded",
                "payment.failed",
            ],
        ),
        gateway(),
    ];
    let mut calls = vec![
        read(
            "product-service",
            "inventory-service",
            "read stock for a product view",
        ),
        read(
            "cart-service",
            "product-service",
            "read the current price of an item",
        ),
        read("order-service", "cart-service", "read the cart at checkout"),
    ];
    for unit in units.iter().filter(|u| u.kind == UnitKind::Service) {
        let mut get = read(
            "api-gateway",
            &unit.name,
            "forward reads (retried: idempotent)",
        );
        get.timeout_ms = 1_000;
        get.backoff_ms = 100;
        calls.push(get);
        calls.push(SyncCall {
            from: "api-gateway".into(),
            to: unit.name.clone(),
            purpose: "forward writes (never retried)".into(),
            method: Method::Post,
            timeout_ms: 2_000,
            attempts: 1,
            backoff_ms: 0,
            // Checkout and charges carry an idempotency key; other writes do not.
            idempotent: matches!(unit.name.as_str(), "order-service" | "payment-service"),
        });
    }
    let mut inventory_db = postgres(
        "inventory-db",
        "Stock levels (CHECK available >= 0), reservations by order id, outbox",
    );
    inventory_db.stock = true;
    inventory_db.non_negative_stock_constraint = true;
    inventory_db.idempotency_key = true;
    let mut payment_db = postgres(
        "payment-db",
        "Payments with a UNIQUE idempotency key, outbox",
    );
    payment_db.idempotency_key = true;
    let mut notification_db = postgres(
        "notification-db",
        "Sent notifications and the inbox of processed events",
    );
    notification_db.outbox = false;
    notification_db.inbox = true;
    let mut order_db = postgres("order-db", "Orders, the idempotency table and the outbox");
    order_db.idempotency_key = true;
    let mut cart_cache = store(
        "cart-cache",
        StoreKind::Redis,
        "Carts and processed order ids (expiring), the newest price of each product (kept)",
        Some(7 * 24 * 3_600),
    );
    cart_cache.inbox = true;
    let stores = vec![
        inventory_db,
        postgres("user-db", "Accounts and credentials, outbox"),
        payment_db,
        notification_db,
        postgres("product-db", "Catalog, outbox"),
        cart_cache,
        order_db,
        store(
            "kafka",
            StoreKind::Kafka,
            "Event broker for every topic",
            None,
        ),
        store(
            "payment-provider",
            StoreKind::External,
            "External card payment provider",
            None,
        ),
    ];
    ArchitectureModel {
        project: project.to_owned(),
        shape: Shape::Microservices,
        units,
        modules: Vec::new(),
        calls,
        module_calls: Vec::new(),
        topics: topics(),
        stores,
        entries: entries(),
        flows: vec![Flow {
            name: "order confirmed".into(),
            entry: "checkout".into(),
            steps: vec![
                step("order.created", "inventory-service"),
                step("inventory.reserved", "payment-service"),
                step("payment.succeeded", "order-service"),
            ],
            timeout_ms: d::FLOW_TIMEOUT_MS,
        }],
        views: vec![View {
            name: "inventory change visible".into(),
            entry: "browse".into(),
            source: "inventory-db".into(),
            freshness: Freshness::Synchronous,
        }],
        deployment: Deployment::default(),
        retention: Retention::default(),
        retry_budget: RetryBudget::default(),
        overridden: BTreeSet::new(),
    }
}

#[allow(
    clippy::too_many_lines,
    reason = "one table of data, read top to bottom"
)]
fn topics() -> Vec<Topic> {
    let idem = |unit: &str, purpose: &str, touches: &[&str]| {
        sub(unit, purpose, touches, Dedupe::IdempotencyKey)
    };
    let notify = |purpose: &str| {
        sub(
            "notification-service",
            purpose,
            &["notification-db"],
            Dedupe::Inbox,
        )
    };
    let mut charge = idem(
        "payment-service",
        "charge the customer (idempotency key = order id)",
        &["payment-db", "payment-provider"],
    );
    charge.handler_timeout_ms = 3_000;
    let mut refund = idem(
        "payment-service",
        "refund the charge",
        &["payment-db", "payment-provider"],
    );
    refund.handler_timeout_ms = 3_000;
    vec![
        topic(
            "user.registered",
            "user-service",
            vec![notify("send the welcome email")],
        ),
        topic(
            "product.updated",
            "product-service",
            // Keeping the highest product version seen is idempotent by nature.
            vec![sub(
                "cart-service",
                "reprice carts from the newest product terms",
                &["cart-cache"],
                Dedupe::Natural,
            )],
        ),
        topic(
            "order.created",
            "order-service",
            vec![idem(
                "inventory-service",
                "reserve stock for the order",
                &["inventory-db"],
            )],
        ),
        topic(
            "order.confirmed",
            "order-service",
            vec![
                idem(
                    "inventory-service",
                    "commit the reservation",
                    &["inventory-db"],
                ),
                sub(
                    "cart-service",
                    "take the bought units out of the cart",
                    &["cart-cache"],
                    Dedupe::Inbox,
                ),
                notify("send the order confirmation"),
            ],
        ),
        topic(
            "order.cancelled",
            "order-service",
            vec![
                idem(
                    "inventory-service",
                    "release the reservation",
                    &["inventory-db"],
                ),
                refund,
                notify("send the cancellation notice"),
            ],
        ),
        topic(
            "inventory.reserved",
            "inventory-service",
            vec![
                charge,
                idem("order-service", "record the reservation", &["order-db"]),
            ],
        ),
        topic(
            "inventory.reservation-failed",
            "inventory-service",
            vec![idem("order-service", "cancel the order", &["order-db"])],
        ),
        topic("inventory.released", "inventory-service", vec![]),
        topic(
            "payment.succeeded",
            "payment-service",
            vec![
                idem("order-service", "confirm the order", &["order-db"]),
                notify("send the receipt"),
            ],
        ),
        topic(
            "payment.failed",
            "payment-service",
            vec![
                idem("order-service", "cancel the order", &["order-db"]),
                notify("send the payment failure notice"),
            ],
        ),
        topic(
            "payment.refunded",
            "payment-service",
            vec![notify("send the refund notice")],
        ),
    ]
}

pub(super) fn entries() -> Vec<EntryPath> {
    let checkout = hop(
        "api-gateway",
        Method::Post,
        &[],
        vec![vec![hop(
            "order-service",
            Method::Post,
            &["order-db"],
            vec![vec![hop(
                "cart-service",
                Method::Get,
                &["cart-cache"],
                vec![],
            )]],
        )]],
    );
    let browse = hop(
        "api-gateway",
        Method::Get,
        &[],
        vec![vec![replica_read(
            "product-service",
            &["product-db"],
            vec![vec![replica_read(
                "inventory-service",
                &["inventory-db"],
                vec![],
            )]],
        )]],
    );
    let add = hop(
        "api-gateway",
        Method::Post,
        &[],
        vec![vec![hop(
            "cart-service",
            Method::Post,
            &["cart-cache"],
            vec![vec![replica_read(
                "product-service",
                &["product-db"],
                vec![],
            )]],
        )]],
    );
    let login = hop(
        "api-gateway",
        Method::Post,
        &[],
        vec![vec![hop(
            "user-service",
            Method::Post,
            &["user-db"],
            vec![],
        )]],
    );
    vec![
        entry(
            "checkout",
            Method::Post,
            "/api/v1/orders",
            Traffic::PerOrder { per_order: 1 },
            checkout,
        ),
        entry(
            "browse",
            Method::Get,
            "/api/v1/products/{id}",
            Traffic::Busiest,
            browse,
        ),
        entry(
            "add to cart",
            Method::Post,
            "/api/v1/cart/items",
            Traffic::PerOrder { per_order: 3 },
            add,
        ),
        entry(
            "login",
            Method::Post,
            "/api/v1/auth/login",
            Traffic::PerOrder { per_order: 1 },
            login,
        ),
    ]
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

pub(super) fn service(
    name: &str,
    port: u16,
    summary: &str,
    routes: &[&str],
    stores: &[&str],
    publishes: &[&str],
    consumes: &[&str],
) -> Unit {
    Unit {
        name: name.into(),
        kind: UnitKind::Service,
        port,
        summary: summary.into(),
        crate_name: name.replace('-', "_"),
        env_prefix: name.replace('-', "_").to_uppercase(),
        routes: strings(routes),
        stores: strings(stores),
        publishes: strings(publishes),
        consumes: strings(consumes),
        reads_replicas_of: Vec::new(),
        ops: Ops {
            replicas: d::REPLICAS,
            steady_replicas: Ops::steady_for(d::REPLICAS, d::MIN_UP),
            pool_size: d::POOL_SIZE,
            min_up: d::MIN_UP,
            p50_ms: d::SERVICE_P50_MS,
            p99_ms: d::SERVICE_P99_MS,
            capacity_rps: d::SERVICE_CAPACITY_RPS,
            availability: d::REPLICA_AVAILABILITY,
            error_rate: d::ERROR_RATE,
            cost_cents: d::REPLICA_COST_CENTS,
        },
    }
}

fn gateway() -> Unit {
    let mut unit = service(
        "api-gateway",
        8080,
        "Public entry point: routing, authentication, rate limits",
        &[],
        &[],
        &[],
        &[],
    );
    unit.kind = UnitKind::Gateway;
    unit.ops.p50_ms = d::GATEWAY_P50_MS;
    unit.ops.p99_ms = d::GATEWAY_P99_MS;
    unit.ops.capacity_rps = d::GATEWAY_CAPACITY_RPS;
    unit
}

fn read(from: &str, to: &str, purpose: &str) -> SyncCall {
    SyncCall {
        from: from.into(),
        to: to.into(),
        purpose: purpose.into(),
        method: Method::Get,
        timeout_ms: 300,
        attempts: 2,
        backoff_ms: 50,
        idempotent: true,
    }
}

fn postgres(name: &str, summary: &str) -> Store {
    let mut s = store(name, StoreKind::Postgres, summary, None);
    s.outbox = true;
    s
}

fn store(name: &str, kind: StoreKind, summary: &str, ttl_seconds: Option<u64>) -> Store {
    let (availability, p99_ms, capacity_rps, cost_cents, replication) = match kind {
        StoreKind::Postgres => (
            d::POSTGRES_AVAILABILITY,
            d::POSTGRES_P99_MS,
            d::POSTGRES_CAPACITY_RPS,
            d::POSTGRES_COST_CENTS,
            Replication::Synchronous,
        ),
        StoreKind::Redis => (
            d::REDIS_AVAILABILITY,
            d::REDIS_P99_MS,
            d::REDIS_CAPACITY_RPS,
            d::REDIS_COST_CENTS,
            Replication::Asynchronous {
                lag_ms: d::REDIS_LAG_MS,
            },
        ),
        StoreKind::Kafka => (
            d::BROKER_AVAILABILITY,
            d::BROKER_DELIVERY_P99_MS,
            d::BROKER_CAPACITY_RPS,
            d::BROKER_COST_CENTS,
            Replication::Synchronous,
        ),
        StoreKind::External => (
            d::PROVIDER_AVAILABILITY,
            d::PROVIDER_P99_MS,
            d::PROVIDER_CAPACITY_RPS,
            0,
            Replication::Managed,
        ),
    };
    Store {
        name: name.into(),
        kind,
        summary: summary.into(),
        availability,
        p99_ms,
        capacity_rps,
        cost_cents,
        replication,
        system_of_record: matches!(kind, StoreKind::Postgres | StoreKind::Kafka),
        stock: false,
        non_negative_stock_constraint: false,
        idempotency_key: false,
        outbox: false,
        inbox: false,
        ttl_seconds,
        max_connections: if kind == StoreKind::Postgres {
            d::POSTGRES_MAX_CONNECTIONS
        } else {
            0
        },
        pooler: None,
        read_replicas: 0,
        replica_lag_ms: d::REPLICA_LAG_MS,
    }
}

fn topic(name: &str, publisher: &str, subscriptions: Vec<Subscription>) -> Topic {
    Topic {
        name: name.into(),
        publisher: publisher.into(),
        per_order: 1,
        outbox_poll_ms: d::OUTBOX_POLL_MS,
        delivery_p99_ms: d::BROKER_DELIVERY_P99_MS,
        outbox_batch: d::OUTBOX_BATCH,
        subscriptions,
    }
}

fn sub(unit: &str, purpose: &str, touches: &[&str], dedupe: Dedupe) -> Subscription {
    Subscription {
        unit: unit.into(),
        purpose: purpose.into(),
        touches: strings(touches),
        handler_timeout_ms: d::HANDLER_TIMEOUT_MS,
        attempts: d::DELIVERY_ATTEMPTS,
        backoff_ms: d::REDELIVERY_BACKOFF_MS,
        concurrency: d::CONSUMER_CONCURRENCY,
        dedupe,
    }
}

fn hop(unit: &str, method: Method, stores: &[&str], stages: Vec<Vec<Hop>>) -> Hop {
    Hop {
        unit: unit.into(),
        method,
        stores: strings(stores),
        stages,
        replica_reads: false,
    }
}

/// A GET hop whose reads the stores' read replicas may serve: the catalogue and stock a
/// product page shows, and the price a cart line takes (re-priced by `product.updated`).
fn replica_read(unit: &str, stores: &[&str], stages: Vec<Vec<Hop>>) -> Hop {
    Hop {
        replica_reads: true,
        ..hop(unit, Method::Get, stores, stages)
    }
}

fn entry(name: &str, method: Method, path: &str, traffic: Traffic, root: Hop) -> EntryPath {
    EntryPath {
        name: name.into(),
        method,
        path: path.into(),
        traffic,
        root,
    }
}

fn step(topic: &str, consumer: &str) -> FlowStep {
    FlowStep {
        topic: topic.into(),
        consumer: consumer.into(),
    }
}
