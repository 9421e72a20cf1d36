//! Helpers for the tests of every unit, so each test file says what it checks rather than how
//! to build a request. Only ever a `[dev-dependencies]` entry: nothing here is production code.
//!
//! - [`TestClient`]: requests through a unit's `Router` with `tower::ServiceExt::oneshot` (no
//!   sockets): `client.post(path).bearer(&token).json(&body).send().await` answers a
//!   [`TestResponse`] with the status, headers and body (`json()`, `problem()`).
//! - [`bus`]: publishing on an in-memory event bus and counting or decoding what it carried.
//! - [`tokens`]: access tokens signed with the dev secret, as the user service would issue them.
//! - [`pg`]: a fresh `PostgreSQL` database per test (`pg::fresh_database(prefix)`), on
//!   `TEST_DATABASE_URL` or the local server.
//! - [`redis`]: the Redis server of `TEST_REDIS_URL` (or the local one) and a unique key prefix
//!   per test.
//! - [`stub`]: a stand-in upstream served on `127.0.0.1:0`, a URL where nothing listens, and a
//!   `reqwest` client for tests that go over real sockets.

#![allow(
    clippy::missing_panics_doc,
    reason = "test helpers panic on purpose: a step that fails fails the test"
)]

pub mod bus;
pub mod client;
pub mod pg;
pub mod redis;
pub mod stub;
pub mod tokens;

pub use client::{TestClient, TestRequest, TestResponse};
