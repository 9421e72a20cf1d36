//! Liveness (`/health`: the process answers) and readiness (`/ready`: it can do its work now).
//! A unit is ready while it is serving (start-up finished, shutdown not begun) and every
//! dependency it registered as required answers: its `PostgreSQL` pool ([`crate::db`]), the
//! cart service's Redis. Each check is bounded by [`CHECK_TIMEOUT`] and a round of checks is
//! reused for [`FRESH_FOR`], shared by every probe that arrives meanwhile, so no number of
//! probers can hammer a dependency. `/ready` names each check's outcome in its JSON body and
//! never how it failed (no address, no driver error): that goes to the log, at `warn`, when a
//! check starts failing.

use std::collections::BTreeMap;
use std::fmt::{self, Display};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use serde_json::{Value, json};

use crate::topology::PROBE_TIMEOUT;

/// How long one dependency check may take before it counts as failed (`timeout`): half the
/// time the orchestrator's probe waits for `/ready` (the model's health-check timeout), so the
/// unit answers with the failing check named, even to a probe that first waited for a round
/// already in flight, instead of letting the probe time out with nothing named. A healthy
/// dependency answers a `SELECT 1` or a metadata request in milliseconds: one that needs a
/// second is not one to send traffic through.
pub const CHECK_TIMEOUT: Duration = match PROBE_TIMEOUT.checked_div(2) {
    Some(half) => half,
    None => Duration::ZERO,
};

/// How long a round of checks answers every probe. The orchestrator probes each replica every
/// few seconds; anything probing more often (several load balancers, monitoring, someone's
/// loop) reads this round instead, so a replica asks each dependency at most once a second,
/// and the answer is at most a second older than the probe, well inside the interval the
/// model's failover time assumes.
pub const FRESH_FOR: Duration = Duration::from_secs(1);

/// What a check runs: a future that answers whether the dependency works.
type Probe =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

/// What a failing check does to readiness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OnFailure {
    /// The unit cannot serve without it: `/ready` answers 503.
    NotReady,
    /// Named in the body and logged, while `/ready` still answers 200.
    Report,
}

/// One dependency `/ready` asks about, under a name its body shows (`database`, `redis`,
/// `broker`). Cloning shares it.
#[derive(Clone)]
pub struct Check {
    name: &'static str,
    on_failure: OnFailure,
    probe: Probe,
}

impl Check {
    /// A dependency the unit cannot serve without: while `probe` fails or takes longer than
    /// [`CHECK_TIMEOUT`], `/ready` answers 503 naming `name`. The error is logged, never shown.
    pub fn required<F, Fut, E>(name: &'static str, probe: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Display,
    {
        Self::new(name, OnFailure::NotReady, probe)
    }

    /// A dependency the unit keeps serving without (the broker, which the outbox waits for):
    /// its outcome is in `/ready`'s body and a failure is logged, but `/ready` stays 200.
    pub fn reported<F, Fut, E>(name: &'static str, probe: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Display,
    {
        Self::new(name, OnFailure::Report, probe)
    }

    fn new<F, Fut, E>(name: &'static str, on_failure: OnFailure, probe: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Display,
    {
        let probe = Arc::new(probe);
        Self {
            name,
            on_failure,
            probe: Arc::new(move || {
                let checked = probe();
                Box::pin(async move { checked.await.map_err(|err| err.to_string()) })
            }),
        }
    }
}

impl fmt::Debug for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Check")
            .field("name", &self.name)
            .field("on_failure", &self.on_failure)
            .finish_non_exhaustive()
    }
}

/// How one check went, as `/ready` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It answered.
    Ok,
    /// It answered with an error, or could not be reached.
    Unreachable,
    /// No answer within [`CHECK_TIMEOUT`].
    Timeout,
}

impl Outcome {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Unreachable => "unreachable",
            Self::Timeout => "timeout",
        }
    }
}

/// What `/ready` answers: whether the unit is serving and how each check went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Start-up finished and shutdown not begun (no check runs otherwise).
    pub serving: bool,
    /// Each registered check's latest outcome, by name; empty while not serving.
    pub checks: BTreeMap<&'static str, Outcome>,
    /// Serving, and every required check answered.
    pub ready: bool,
}

/// One round of checks and when it started.
struct Round {
    at: Instant,
    outcomes: BTreeMap<&'static str, Outcome>,
    ready: bool,
}

struct Inner {
    serving: AtomicBool,
    checks: Mutex<Vec<Check>>,
    /// The latest round; held while a round runs, so concurrent probes share it.
    latest: tokio::sync::Mutex<Option<Round>>,
    timeout: Duration,
    fresh_for: Duration,
}

/// Whether the unit should receive traffic: its serving flag and its dependency checks.
/// Cloning shares it.
#[derive(Clone)]
pub struct Readiness(Arc<Inner>);

impl Default for Readiness {
    /// Not serving yet, no checks, [`CHECK_TIMEOUT`] and [`FRESH_FOR`].
    fn default() -> Self {
        Self::with_limits(CHECK_TIMEOUT, FRESH_FOR)
    }
}

impl fmt::Debug for Readiness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Readiness")
            .field("serving", &self.is_serving())
            .field("checks", &*self.checks())
            .finish_non_exhaustive()
    }
}

impl Readiness {
    /// Checks bounded by `timeout`, each round reused for `fresh_for` (tests shorten both).
    #[must_use]
    pub fn with_limits(timeout: Duration, fresh_for: Duration) -> Self {
        Self(Arc::new(Inner {
            serving: AtomicBool::new(false),
            checks: Mutex::default(),
            latest: tokio::sync::Mutex::const_new(None),
            timeout,
            fresh_for,
        }))
    }

    /// Marks the unit serving (after start-up) or not (from the shutdown signal on).
    pub fn set_serving(&self, serving: bool) {
        self.0.serving.store(serving, Ordering::SeqCst);
    }

    /// Start-up finished and shutdown not begun; `/ready` also asks the checks.
    #[must_use]
    pub fn is_serving(&self) -> bool {
        self.0.serving.load(Ordering::SeqCst)
    }

    /// Asks `/ready` to check `check` too, from the next round on.
    pub fn add_check(&self, check: Check) {
        self.checks().push(check);
    }

    /// The names of the registered checks, in registration order.
    #[must_use]
    pub fn check_names(&self) -> Vec<&'static str> {
        self.checks().iter().map(|check| check.name).collect()
    }

    fn checks(&self) -> std::sync::MutexGuard<'_, Vec<Check>> {
        self.0.checks.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// What `/ready` answers now: the latest round of checks if it is fresh, otherwise a new
    /// one (a probe arriving while it runs waits for it rather than starting another).
    pub async fn report(&self) -> Report {
        if !self.is_serving() {
            return Report {
                serving: false,
                checks: BTreeMap::new(),
                ready: false,
            };
        }
        let mut latest = self.0.latest.lock().await;
        if let Some(round) = latest
            .as_ref()
            .filter(|r| r.at.elapsed() < self.0.fresh_for)
        {
            return Report {
                serving: true,
                checks: round.outcomes.clone(),
                ready: round.ready,
            };
        }
        let round = self.run(latest.as_ref()).await;
        let report = Report {
            serving: true,
            checks: round.outcomes.clone(),
            ready: round.ready,
        };
        *latest = Some(round);
        report
    }

    /// Runs every check at once, each bounded by the timeout, and logs each change.
    async fn run(&self, previous: Option<&Round>) -> Round {
        let at = Instant::now();
        let checks: Vec<Check> = self.checks().clone();
        let timeout = self.0.timeout;
        // Spawned, so all run at once and a check that panics fails alone.
        let running: Vec<_> = checks
            .iter()
            .map(|check| {
                let probe = check.probe.clone();
                tokio::spawn(async move { tokio::time::timeout(timeout, probe()).await })
            })
            .collect();
        let mut outcomes = BTreeMap::new();
        let mut ready = true;
        for (check, running) in checks.iter().zip(running) {
            let (outcome, detail) = match running.await {
                Ok(Ok(Ok(()))) => (Outcome::Ok, None),
                Ok(Ok(Err(err))) => (Outcome::Unreachable, Some(err)),
                Ok(Err(_elapsed)) => (
                    Outcome::Timeout,
                    Some(format!("no answer within {timeout:?}")),
                ),
                Err(err) => (
                    Outcome::Unreachable,
                    Some(format!("the check failed: {err}")),
                ),
            };
            let before = previous.and_then(|round| round.outcomes.get(check.name).copied());
            log_change(check, before, outcome, detail.as_deref());
            if outcome != Outcome::Ok && check.on_failure == OnFailure::NotReady {
                ready = false;
            }
            outcomes.insert(check.name, outcome);
        }
        Round {
            at,
            outcomes,
            ready,
        }
    }
}

/// Logs a check that starts failing (at `warn`, with what went wrong) or answers again.
fn log_change(check: &Check, before: Option<Outcome>, now: Outcome, detail: Option<&str>) {
    if before == Some(now) || (before.is_none() && now == Outcome::Ok) {
        return;
    }
    let gates = check.on_failure == OnFailure::NotReady;
    if let Some(detail) = detail {
        tracing::warn!(
            check = check.name,
            outcome = now.as_str(),
            error = detail,
            "readiness check failing{}",
            if gates { ": /ready answers 503" } else { "" }
        );
    } else {
        tracing::info!(check = check.name, "readiness check answers again");
    }
}

/// `/health` and `/ready` for the unit called `name`.
pub fn routes(name: &'static str, readiness: Readiness) -> Router {
    Router::new()
        .route(
            "/health",
            get(move || async move { Json(json!({ "status": "ok", "service": name })) }),
        )
        .route("/ready", get(ready))
        .with_state(readiness)
}

/// 200 or 503, with a body naming each check's outcome and nothing about how it failed:
/// `{"status":"not ready","serving":true,"checks":{"database":"timeout"}}`.
async fn ready(State(readiness): State<Readiness>) -> (StatusCode, Json<Value>) {
    let report = readiness.report().await;
    let checks: serde_json::Map<String, Value> = report
        .checks
        .iter()
        .map(|(name, outcome)| ((*name).to_owned(), Value::from(outcome.as_str())))
        .collect();
    let (status, word) = if report.ready {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready")
    };
    (
        status,
        Json(json!({ "status": word, "serving": report.serving, "checks": checks })),
    )
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt as _;

    use super::*;

    /// A check named `name` that counts its runs and answers `answer` after `delay`.
    fn counted(
        name: &'static str,
        delay: Duration,
        answer: Result<(), &'static str>,
    ) -> (Check, Arc<AtomicUsize>) {
        let runs = Arc::new(AtomicUsize::new(0));
        let counter = runs.clone();
        let check = Check::required(name, move || {
            counter.fetch_add(1, Ordering::SeqCst);
            async move {
                tokio::time::sleep(delay).await;
                answer
            }
        });
        (check, runs)
    }

    fn serving(timeout: Duration, fresh_for: Duration) -> Readiness {
        let readiness = Readiness::with_limits(timeout, fresh_for);
        readiness.set_serving(true);
        readiness
    }

    async fn get_ready(readiness: &Readiness) -> (StatusCode, Value) {
        let response = routes("test", readiness.clone())
            .oneshot(Request::get("/ready").body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, serde_json::from_slice(&body).unwrap())
    }

    #[test]
    fn a_check_gets_half_the_probes_timeout() {
        assert_eq!(CHECK_TIMEOUT * 2, PROBE_TIMEOUT);
        assert!(!CHECK_TIMEOUT.is_zero());
    }

    #[tokio::test]
    async fn not_serving_is_not_ready_and_asks_no_dependency() {
        let readiness = Readiness::default();
        let (check, runs) = counted("database", Duration::ZERO, Ok(()));
        readiness.add_check(check);
        let (status, body) = get_ready(&readiness).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            body,
            json!({ "status": "not ready", "serving": false, "checks": {} })
        );
        readiness.set_serving(true);
        assert_eq!(get_ready(&readiness).await.0, StatusCode::OK);
        readiness.set_serving(false);
        assert_eq!(
            get_ready(&readiness).await.0,
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting down: not ready at once, whatever the cached round says"
        );
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_failing_required_check_is_named_without_its_error() {
        let readiness = serving(Duration::from_secs(1), Duration::ZERO);
        readiness.add_check(Check::required("database", || async {
            Err::<(), _>("connection refused: postgres://shop:s3cret@db.internal:5432")
        }));
        readiness.add_check(Check::required("redis", || async { Ok::<_, String>(()) }));
        let (status, body) = get_ready(&readiness).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            body,
            json!({
                "status": "not ready",
                "serving": true,
                "checks": { "database": "unreachable", "redis": "ok" }
            })
        );
        let text = body.to_string();
        assert!(
            !text.contains("db.internal") && !text.contains("s3cret"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn a_check_that_does_not_answer_times_out_within_its_bound() {
        let readiness = serving(Duration::from_millis(100), Duration::ZERO);
        readiness.add_check(Check::required("database", || {
            std::future::pending::<Result<(), String>>()
        }));
        let started = Instant::now();
        let (status, body) = get_ready(&readiness).await;
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["checks"]["database"], "timeout");
    }

    #[tokio::test]
    async fn a_reported_check_is_named_but_keeps_the_unit_ready() {
        let readiness = serving(Duration::from_secs(1), Duration::ZERO);
        readiness.add_check(Check::reported("broker", || async {
            Err::<(), _>("Kafka at kafka:9092: network error")
        }));
        let (status, body) = get_ready(&readiness).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            body,
            json!({ "status": "ready", "serving": true, "checks": { "broker": "unreachable" } })
        );
    }

    #[tokio::test]
    async fn a_round_answers_every_probe_of_its_window_then_a_new_one_runs() {
        let readiness = serving(Duration::from_secs(1), Duration::from_millis(300));
        let (check, runs) = counted("database", Duration::ZERO, Ok(()));
        readiness.add_check(check);
        for _ in 0..5 {
            assert!(readiness.report().await.ready);
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1, "one round for the window");
        tokio::time::sleep(Duration::from_millis(350)).await;
        assert!(readiness.report().await.ready);
        assert_eq!(runs.load(Ordering::SeqCst), 2, "the window passed");
    }

    #[tokio::test]
    async fn a_failure_is_cached_too() {
        let readiness = serving(Duration::from_secs(1), Duration::from_secs(60));
        let (check, runs) = counted("database", Duration::ZERO, Err("down"));
        readiness.add_check(check);
        for _ in 0..3 {
            assert_eq!(
                get_ready(&readiness).await.0,
                StatusCode::SERVICE_UNAVAILABLE
            );
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1, "an outage is not hammered");
    }

    #[tokio::test]
    async fn concurrent_probes_share_the_round_in_flight() {
        let readiness = serving(Duration::from_secs(1), Duration::from_secs(60));
        let (check, runs) = counted("database", Duration::from_millis(100), Ok(()));
        readiness.add_check(check);
        let probes: Vec<_> = (0..20)
            .map(|_| {
                let readiness = readiness.clone();
                tokio::spawn(async move { readiness.report().await })
            })
            .collect();
        for probe in probes {
            assert!(probe.await.unwrap().ready);
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn checks_run_side_by_side() {
        let readiness = serving(Duration::from_secs(2), Duration::ZERO);
        for name in ["database", "redis", "broker"] {
            readiness.add_check(counted(name, Duration::from_millis(300), Ok(())).0);
        }
        let started = Instant::now();
        let report = readiness.report().await;
        assert!(report.ready);
        assert_eq!(report.checks.len(), 3);
        assert!(
            started.elapsed() < Duration::from_millis(800),
            "three 300 ms checks took {:?}",
            started.elapsed()
        );
    }
}
