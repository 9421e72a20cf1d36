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
