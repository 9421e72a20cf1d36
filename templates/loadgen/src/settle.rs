//! After the run: wait (bounded) until every order it placed is final, read each one, and
//! check what must hold whatever the load: every order final, no order charged twice (one
//! succeeded payment per confirmed order, none for a cancelled one), and no product oversold
//! (units sold never exceed the stock, and available + reserved + sold is the stock it had).
//! Order-confirmed time is the order's own `pending` → `confirmed` timestamps.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::{StreamExt as _, stream};
use hdrhistogram::Histogram;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio::time::Instant;

use crate::api::{Call, Failure};
use crate::journey::{PlacedOrder, Product, Shop};
use crate::record::{histogram, record};

/// Reads in flight at once while settling.
const CONCURRENT_READS: usize = 16;
/// Pause between rounds of reads.
const POLL: Duration = Duration::from_millis(100);

/// One check and whether it held.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Invariant {
    pub name: &'static str,
    pub held: bool,
    /// What was checked, or the first counterexamples.
    pub detail: String,
}

/// What became of the orders.
#[derive(Debug, Clone)]
pub struct Settlement {
    pub placed: usize,
    pub confirmed: usize,
    pub cancelled: usize,
    /// Orders not final when the settle timeout ran out.
    pub unsettled: Vec<String>,
    /// Why orders were cancelled, and how many.
    pub cancel_reasons: BTreeMap<String, u64>,
    /// `pending` → `confirmed`, in microseconds.
    pub confirmed_time: Histogram<u64>,
    pub invariants: Vec<Invariant>,
}

/// Waits at most `timeout` for `orders` to be final, then reads them, their payments and the
/// stock, and checks the invariants.
pub async fn settle(shop: &Shop, orders: &[PlacedOrder], timeout: Duration) -> Settlement {
    let deadline = Instant::now() + timeout;
    let finals = final_orders(shop, orders, deadline).await;
    // Stock is released or committed by events after the order is final: wait for those too.
    let stock = settled_stock(shop, deadline).await;
    let charges = charges(shop, orders, &finals).await;
    judge(shop, orders, &finals, &stock, &charges)
}

fn is_final(order: &Value) -> bool {
    matches!(order["status"].as_str(), Some("confirmed" | "cancelled"))
}

/// Each order that became final, by id.
async fn final_orders(
    shop: &Shop,
    orders: &[PlacedOrder],
    deadline: Instant,
) -> BTreeMap<String, Value> {
    let mut finals = BTreeMap::new();
    loop {
        let pending = orders.iter().filter(|o| !finals.contains_key(&o.id));
        let read: Vec<(String, Result<Value, Failure>)> = stream::iter(pending)
            .map(|order| async move {
                let path = format!("/api/v1/orders/{}", order.id);
                let call =
                    Call::new(&Method::GET, &path).token(&shop.customers[order.customer].token);
                (
                    order.id.clone(),
                    shop.api.expect(StatusCode::OK, call).await,
                )
            })
            .buffer_unordered(CONCURRENT_READS)
            .collect()
            .await;
        for (id, order) in read {
            if let Ok(order) = order
                && is_final(&order)
            {
                finals.insert(id, order);
            }
        }
        if finals.len() == orders.len() || Instant::now() >= deadline {
            return finals;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// (available, reserved) of each product, once none is reserved or at the deadline.
async fn settled_stock(shop: &Shop, deadline: Instant) -> Vec<Result<(u64, u64), Failure>> {
    loop {
        let mut levels = Vec::with_capacity(shop.products.len());
        for product in &shop.products {
            let path = format!("/api/v1/inventory/{}", product.id);
            let call = Call::new(&Method::GET, &path).token(&shop.admin_token);
            let level = shop.api.expect(StatusCode::OK, call).await;
            levels.push(level.and_then(|level| {
                match (level["available"].as_u64(), level["reserved"].as_u64()) {
                    (Some(available), Some(reserved)) => Ok((available, reserved)),
                    _ => Err(Failure::Other(format!("not a stock level: {level}"))),
                }
            }));
        }
        let held = levels.iter().any(|l| !matches!(l, Ok((_, 0))));
        if !held || Instant::now() >= deadline {
            return levels;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Succeeded payments per final order, or why they could not be read.
async fn charges(
    shop: &Shop,
    orders: &[PlacedOrder],
    finals: &BTreeMap<String, Value>,
) -> BTreeMap<String, Result<Vec<Value>, Failure>> {
    stream::iter(orders.iter().filter(|o| finals.contains_key(&o.id)))
        .map(|order| async move {
            let path = format!("/api/v1/payments?order_id={}", order.id);
            let call = Call::new(&Method::GET, &path).token(&shop.customers[order.customer].token);
            let payments = shop.api.expect(StatusCode::OK, call).await.map(|list| {
                list.as_array()
                    .into_iter()
                    .flatten()
                    .filter(|p| p["status"] == "succeeded")
                    .cloned()
                    .collect()
            });
            (order.id.clone(), payments)
        })
        .buffer_unordered(CONCURRENT_READS)
        .collect()
        .await
}

fn judge(
    shop: &Shop,
    orders: &[PlacedOrder],
    finals: &BTreeMap<String, Value>,
    stock: &[Result<(u64, u64), Failure>],
    charges: &BTreeMap<String, Result<Vec<Value>, Failure>>,
) -> Settlement {
    let mut settlement = Settlement {
        placed: orders.len(),
        confirmed: 0,
        cancelled: 0,
        unsettled: orders
            .iter()
            .filter(|o| !finals.contains_key(&o.id))
            .map(|o| o.id.clone())
            .collect(),
        cancel_reasons: BTreeMap::new(),
        confirmed_time: histogram(3),
        invariants: Vec::new(),
    };
    let mut sold: BTreeMap<&str, u64> = BTreeMap::new();
    let mut double = Vec::new();
    for (id, order) in finals {
        let succeeded = match &charges[id] {
            Ok(payments) => payments,
            Err(failure) => {
                double.push(format!(
                    "payments of {id} unreadable: {}",
                    failure.describe()
                ));
                continue;
            }
        };
        if order["status"] == "confirmed" {
            settlement.confirmed += 1;
            if let Some(time) = confirmed_time(order) {
                record(&mut settlement.confirmed_time, time);
            }
            for line in order["lines"].as_array().into_iter().flatten() {
                if let (Some(product), Some(quantity)) =
                    (line["product_id"].as_str(), line["quantity"].as_u64())
                {
                    *sold.entry(product).or_default() += quantity;
                }
            }
            let paid = succeeded.first().map(|p| &p["amount"]["amount_minor"]);
            if succeeded.len() != 1 || paid != Some(&order["total"]["amount_minor"]) {
                double.push(format!(
                    "confirmed {id} has {} succeeded payments",
                    succeeded.len()
                ));
            }
        } else {
            settlement.cancelled += 1;
            let reason = last_reason(order);
            *settlement.cancel_reasons.entry(reason).or_default() += 1;
            if !succeeded.is_empty() {
                double.push(format!(
                    "cancelled {id} has {} succeeded payments",
                    succeeded.len()
                ));
            }
        }
    }
    let oversold = oversold(
        &shop.products,
        stock,
        &sold,
        settlement.unsettled.is_empty(),
    );
    let unsettled = &settlement.unsettled;
    settlement.invariants = vec![
        verdict(
            "every order final",
            unsettled,
            format!(
                "{} of {} orders confirmed or cancelled",
                finals.len(),
                orders.len()
            ),
        ),
        verdict(
            "no double charge",
            &double,
            format!(
                "one succeeded payment per confirmed order, none per cancelled one ({} orders)",
                finals.len()
            ),
        ),
        verdict(
            "no oversell",
            &oversold,
            format!(
                "sold ≤ stock and, once every order is final, available + reserved + sold = \
                 stock for {} products",
                shop.products.len()
            ),
        ),
    ];
    settlement
}

/// Products whose stock does not add up: more sold than there was, more available and
/// reserved than there was, or — once every order is final — units lost or made up
/// (available + reserved + sold ≠ stock) or still reserved, held for nobody. While orders are
/// still moving, the stock and the orders are read at different moments, so an order that went
/// from reserved to confirmed in between would count twice: the sum is checked only when
/// nothing moves.
fn oversold(
    products: &[Product],
    stock: &[Result<(u64, u64), Failure>],
    sold: &BTreeMap<&str, u64>,
    settled_all: bool,
) -> Vec<String> {
    let mut oversold = Vec::new();
    for (product, level) in products.iter().zip(stock) {
        let sold = sold.get(product.id.as_str()).copied().unwrap_or(0);
        match level {
            Ok((available, reserved)) => {
                let adds_up = !settled_all || available + reserved + sold == product.stock;
                let held_for_nobody = settled_all && *reserved != 0;
                if sold > product.stock
                    || available + reserved > product.stock
                    || !adds_up
                    || held_for_nobody
                {
                    oversold.push(format!(
                        "{}: stock {} but {sold} sold, {available} available, {reserved} reserved",
                        product.id, product.stock
                    ));
                }
            }
            Err(failure) => oversold.push(format!(
                "{}: stock unreadable: {}",
                product.id,
                failure.describe()
            )),
        }
    }
    oversold
}

/// `held` with `checked` as the detail when there is no counterexample, else the first few.
fn verdict(name: &'static str, counterexamples: &[String], checked: String) -> Invariant {
    let shown: Vec<&str> = counterexamples.iter().take(3).map(String::as_str).collect();
    let detail = match counterexamples.len() {
        0 => checked,
        n if n <= 3 => shown.join("; "),
        n => format!("{} (and {} more)", shown.join("; "), n - 3),
    };
    Invariant {
        name,
        held: counterexamples.is_empty(),
        detail,
    }
}

/// From the order's `pending` entry to its `confirmed` entry of the status history.
fn confirmed_time(order: &Value) -> Option<Duration> {
    let at = |status: &str| -> Option<DateTime<Utc>> {
        let change = order["status_history"]
            .as_array()?
            .iter()
            .find(|c| c["status"] == status)?;
        change["at"].as_str()?.parse().ok()
    };
    (at("confirmed")? - at("pending")?).to_std().ok()
}

/// The reason of the order's last status change, up to its first `:` (the details vary).
fn last_reason(order: &Value) -> String {
    let reason = order["status_history"]
        .as_array()
        .and_then(|history| history.last())
        .and_then(|change| change["reason"].as_str())
        .unwrap_or("no reason given");
    reason.split(':').next().unwrap_or(reason).to_owned()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn order(history: &[(&str, &str)]) -> Value {
        json!({
            "status": history.last().unwrap().0,
            "status_history": history
                .iter()
                .map(|(status, at)| json!({ "status": status, "at": at }))
                .collect::<Vec<_>>(),
        })
    }

    #[test]
    fn confirmed_time_runs_from_pending_to_confirmed() {
        let confirmed = order(&[
            ("pending", "2026-11-22T10:00:00.000Z"),
            ("reserved", "2026-11-22T10:00:00.020Z"),
            ("confirmed", "2026-11-22T10:00:00.250Z"),
        ]);
        assert_eq!(confirmed_time(&confirmed), Some(Duration::from_millis(250)));
        let cancelled = order(&[
            ("pending", "2026-11-22T10:00:00Z"),
            ("cancelled", "2026-11-22T10:00:01Z"),
        ]);
        assert_eq!(confirmed_time(&cancelled), None);
        assert!(is_final(&cancelled));
        assert!(!is_final(&order(&[("reserved", "2026-11-22T10:00:00Z")])));
    }

    #[test]
    fn a_cancel_reason_is_counted_without_its_details() {
        let mut cancelled = order(&[
            ("pending", "2026-11-22T10:00:00Z"),
            ("cancelled", "2026-11-22T10:00:01Z"),
        ]);
        cancelled["status_history"][1]["reason"] =
            json!("payment failed: card declined by provider");
        assert_eq!(last_reason(&cancelled), "payment failed");
    }

    #[test]
    fn stock_must_add_up_once_nothing_moves_and_never_exceed_what_there_was() {
        let products = [Product {
            id: "p".into(),
            stock: 100,
        }];
        let sold = BTreeMap::from([("p", 60)]);
        let check = |available, reserved, settled| {
            oversold(&products, &[Ok((available, reserved))], &sold, settled)
        };
        assert!(check(40, 0, true).is_empty());
        assert_eq!(check(39, 0, true).len(), 1, "a unit lost");
        assert_eq!(check(38, 2, true).len(), 1, "held for nobody");
        // Orders still moving: an order read as confirmed whose stock was read while still
        // reserved counts twice, so only the bounds are checked.
        assert!(check(30, 20, false).is_empty());
        assert_eq!(check(90, 20, false).len(), 1, "more than there was");
        let oversold_units = BTreeMap::from([("p", 101)]);
        assert_eq!(
            oversold(&products, &[Ok((0, 0))], &oversold_units, false).len(),
            1
        );
    }

    #[test]
    fn a_verdict_shows_the_first_counterexamples_or_what_was_checked() {
        let held = verdict("no oversell", &[], "10 products".into());
        assert!(held.held);
        assert_eq!(held.detail, "10 products");
        let broken: Vec<String> = (0..5).map(|n| format!("p{n}")).collect();
        let broken = verdict("no oversell", &broken, "10 products".into());
        assert!(!broken.held);
        assert_eq!(broken.detail, "p0; p1; p2 (and 2 more)");
    }
}
