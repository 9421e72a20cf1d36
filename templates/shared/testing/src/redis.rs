//! Redis for tests: the server of `TEST_REDIS_URL` (default `redis://127.0.0.1:6379`) and a
//! unique key prefix per test, so tests share one server without seeing each other's keys.
//! Tests that use it are `#[ignore = "needs Redis: ..."]` and run with `cargo test -- --ignored`.

/// The Redis server tests use: `TEST_REDIS_URL`, or the local default.
#[must_use]
pub fn url() -> String {
    std::env::var("TEST_REDIS_URL")
        .ok()
        .filter(|url| !url.trim().is_empty())
        .unwrap_or_else(|| "redis://127.0.0.1:6379".to_owned())
}

/// A key prefix no other test uses: `test:<name>:<random>:` (end every key with it).
#[must_use]
pub fn unique_prefix(name: &str) -> String {
    format!("test:{name}:{}:", uuid::Uuid::new_v4().simple())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_unique_and_name_the_test() {
        let a = unique_prefix("cart");
        assert!(a.starts_with("test:cart:") && a.ends_with(':'));
        assert_ne!(a, unique_prefix("cart"));
    }

    #[test]
    fn the_url_is_a_redis_url() {
        assert!(url().starts_with("redis"));
    }
}
