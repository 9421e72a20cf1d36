//! What the devstack's test suites read off an order the same way.

use serde_json::Value;

/// The statuses an order went through, oldest first.
pub fn statuses(order: &Value) -> Vec<&str> {
    order["status_history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|change| change["status"].as_str().unwrap())
        .collect()
}

/// Asserts that the saga took `order` from `pending` to `outcome`, through `reserved` unless
/// the payment's outcome reached the order first: the reservation and the payment travel on
/// different topics, and a charge is only made for a reserved order, so both are correct.
#[track_caller]
pub fn assert_saga(order: &Value, outcome: &str) {
    let seen = statuses(order);
    assert!(
        seen == ["pending", "reserved", outcome] || seen == ["pending", outcome],
        "expected pending, (reserved,) {outcome}: {order}"
    );
}
