//! The slow one: generate the reference project, then check it the way its team will on their
//! first day: `cargo fmt --check`, `cargo clippy -D warnings` and `cargo test`, all against the
//! committed `Cargo.lock`, and a short load run of its `loadgen` against its devstack.
//! Compiled dependencies are kept in a target directory outside the
//! clone (`ARCH_INIT_E2E_TARGET_DIR`, default `~/.cache/arch-init/generated-target`, and the
//! same with `-modular-monolith` appended for the monolith) so reruns on the same machine only
//! rebuild what changed.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use arch_init::model::{ArchitectureModel, UnitKind};
use assert_cmd::cargo::cargo_bin_cmd;
use serde_json::Value;

#[allow(dead_code, reason = "its validators are for the deployment-file tests")]
mod project;

/// How many tests against real servers the generated platform has, at least (70 today).
const SERVER_TESTS: u32 = 65;
/// Server tests that must be among them: the guarantees issue-level requirements name.
const SERVER_TESTS_CITED: &[&str] = &[
    "concurrent_reservations_never_oversell_on_postgres",
    "same_idempotency_key_never_charges_twice_on_postgres",
    "the_same_idempotency_key_sent_concurrently_creates_one_order_on_postgres",
    "after_a_crash_two_relays_publish_each_event_exactly_once_and_each_aggregate_in_order",
    "first_time_is_true_once_per_consumer_and_event",
    "a_customer_buys_on_postgres_and_redis",
    "failed_payment_is_compensated_on_postgres_and_redis",
    "the_cart_key_gets_the_configured_ttl_and_then_expires",
    "an_event_arrives_keyed_with_its_headers_and_its_trace_continues",
    "each_group_gets_every_event_and_members_of_a_group_share_them",
    "a_failing_event_is_dead_lettered_after_its_attempts_and_not_redelivered",
    "an_event_whose_consumer_dies_before_committing_is_delivered_again",
    "a_purchase_is_confirmed_over_kafka",
    "a_declined_payment_is_compensated_over_kafka",
];

/// The target directory of the generated `project`: one per shape. Cargo names the build of a
/// path package by its path relative to the workspace, so two workspaces that both have a
/// `shared/platform` crate would share its artifacts, and one would compile against the
/// other's (a monolith's topology is not the microservices').
fn target_dir(project: &Path) -> PathBuf {
    let base = std::env::var_os("ARCH_INIT_E2E_TARGET_DIR").map_or_else(
        || {
            let home = std::env::var_os("HOME")
                .expect("HOME is set, or ARCH_INIT_E2E_TARGET_DIR names a target directory");
            PathBuf::from(home).join(".cache/arch-init/generated-target")
        },
        PathBuf::from,
    );
    if project.join("modules").is_dir() {
        let mut dir = base.into_os_string();
        dir.push("-modular-monolith");
        PathBuf::from(dir)
    } else {
        base
    }
}

/// Runs `cargo <args>` in `dir` against the shared target directory; panics with its output
/// when it fails.
fn cargo(dir: &Path, args: &[&str]) -> Output {
    cargo_with(dir, args, &[])
}

/// [`cargo`] with extra environment variables.
fn cargo_with(dir: &Path, args: &[&str], envs: &[(&str, String)]) -> Output {
    eprintln!("generated workspace: cargo {}", args.join(" "));
    let output = Command::new(env!("CARGO"))
        .args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", target_dir(dir))
        .env("CARGO_TERM_COLOR", "never")
        .env_remove("RUSTFLAGS")
        .envs(envs.iter().map(|(key, value)| (key, value)))
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "`cargo {}` failed in the generated workspace\n--- stdout\n{}\n--- stderr\n{}",
        args.join(" "),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Server tests of the modular monolith that must run: its own journeys on one database with a
/// schema per module, its commands, and the modules' guarantees on `PostgreSQL`.
const MONOLITH_SERVER_TESTS_CITED: &[&str] = &[
    "a_customer_buys_on_one_database_with_a_schema_per_module",
    "failed_payment_is_compensated_on_one_database",
    "migrate_puts_each_modules_tables_in_its_schema_and_create_admin_uses_the_users",
    "concurrent_reservations_never_oversell_on_postgres",
    "same_idempotency_key_never_charges_twice_on_postgres",
    "the_same_idempotency_key_sent_concurrently_creates_one_order_on_postgres",
];

/// `cargo fmt --check`, `cargo clippy -D warnings` and `cargo test`, against the committed
/// `Cargo.lock`, with no test failing and at least `passed` passing; the stdout of the tests.
fn gates(project: &Path, passed: u32) -> String {
    cargo(project, &["fmt", "--all", "--check"]);
    cargo(
        project,
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--locked",
            "--",
            "-D",
            "warnings",
        ],
    );
    let output = cargo(project, &["test", "--workspace", "--locked"]);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let counts = Counts::of(&stdout);
    eprintln!("generated workspace {}: {counts:?}", project.display());
    assert_eq!(counts.failed, 0);
    assert!(
        counts.passed >= passed,
        "expected the whole suite to run, counted {counts:?}:\n{stdout}"
    );
    stdout
}

/// The tests that need real servers (ignored in a plain `cargo test`), against the servers
/// `.ci/run` starts, with no test failing and at least `passed` passing; their stdout.
fn server_tests(project: &Path, passed: u32) -> String {
    let output = cargo_with(
        project,
        &["test", "--workspace", "--locked", "--", "--ignored"],
        &servers(),
    );
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let counts = Counts::of(&stdout);
    eprintln!(
        "generated workspace {}, against real servers: {counts:?}",
        project.display()
    );
    assert_eq!(counts.failed, 0);
    assert!(
        counts.passed >= passed,
        "expected every server test to run, counted {counts:?}:\n{stdout}"
    );
    stdout
}

/// The servers `.ci/run` starts, as the generated tests read them; fails loudly without them.
fn servers() -> [(&'static str, String); 3] {
    [
        require_server(
            "PostgreSQL",
            "TEST_DATABASE_URL",
            "postgres://postgres@127.0.0.1:5432/postgres",
        ),
        require_server("Redis", "TEST_REDIS_URL", "redis://127.0.0.1:6379"),
        require_server("Kafka", "TEST_KAFKA_BROKERS", "127.0.0.1:9092"),
    ]
}

#[test]
fn the_generated_modular_monolith_is_formatted_lint_clean_and_passes_its_own_tests() {
    let project = &project::monolith().root;
    assert!(project.join("app/src/main.rs").is_file());
    assert!(!project.join("devstack").exists() && !project.join("services").exists());

    let stdout = gates(project, 400);
    // The invariants the verification cites, and the modules' boundaries.
    assert_ran(
        &stdout,
        &[
            "same_idempotency_key_never_charges_twice",
            "concurrent_reservations_never_oversell",
            "failed_payment_cancels_order_and_restores_stock",
            "a_customer_signs_up_buys_and_is_notified",
            "no_module_depends_on_another_module",
            "no_module_names_another_modules_schema",
        ],
    );

    let stdout = server_tests(project, 80);
    assert_ran(&stdout, MONOLITH_SERVER_TESTS_CITED);

    let tmp = tempfile::tempdir().unwrap();
    load_run(project, &project::monolith().model, tmp.path());
}

#[test]
fn the_generated_platform_is_formatted_lint_clean_and_passes_its_own_tests() {
    let reference = project::reference();
    let project = &reference.root;

    let stdout = gates(project, 220);
    // The invariants the architecture verification cites as TESTED must really have run.
    assert_ran(
        &stdout,
        &[
            "same_idempotency_key_never_charges_twice",
            "concurrent_reservations_never_oversell",
            "failed_payment_cancels_order_and_restores_stock",
            "a_customer_registers_browses_buys_and_is_notified",
        ],
    );
    // The API document is held to what the running platform answers (docs/api/README.md).
    assert_ran(
        &stdout,
        &["generated_requests_get_only_the_answers_the_document_lists"],
    );

    // The tests that need real servers, against the PostgreSQL, Redis and Kafka broker that
    // `.ci/run` starts; they fail loudly if those are not there.
    let stdout = server_tests(project, SERVER_TESTS);
    assert_ran(&stdout, SERVER_TESTS_CITED);

    let tmp = tempfile::tempdir().unwrap();
    load_run(project, &reference.model, tmp.path());
}

/// The password of the admin the devstack makes for loadgen in [`load_run`].
const ADMIN_PASSWORD: &str = "loadgen-admin-passphrase";

/// The devstack's settings for [`load_run`], as `make load` sets them.
const LOAD_RUN_ENV: &[(&str, &str)] = &[
    // One client (127.0.0.1) is every customer: lift the general, per-address and per-account
    // limits.
    ("API_GATEWAY_RATE_LIMIT_PER_SECOND", "1000000"),
    ("API_GATEWAY_RATE_LIMIT_BURST", "1000000"),
    ("API_GATEWAY_AUTH_RATE_LIMIT_PER_MINUTE", "60000000"),
    ("API_GATEWAY_AUTH_RATE_LIMIT_BURST", "1000000"),
    ("API_GATEWAY_ACCOUNT_RATE_LIMIT_PER_MINUTE", "60000000"),
    ("API_GATEWAY_ACCOUNT_RATE_LIMIT_BURST", "1000000"),
    // The devstack makes loadgen's admin at start; loadgen logs in with the password.
    ("DEVSTACK_ADMIN_EMAIL", "loadgen-admin@example.com"),
    // A debug build hashes slowly: the cheapest argon2 keeps setup short.
    ("USER_SERVICE_ARGON2_MEMORY_KIB", "8"),
    ("USER_SERVICE_ARGON2_ITERATIONS", "1"),
    ("RUST_LOG", "warn"),
];

/// Starts `binary` (the devstack, or a monolith's `app`) in memory, every unit on a free port
/// of 127.0.0.1; the process and the port clients use.
fn start_platform(binary: &Path, model: &ArchitectureModel, tmp: &Path) -> (Running, u16) {
    let monolith = model.units.iter().any(|u| u.kind == UnitKind::Monolith);
    // Every unit (and a monolith's /metrics) on a port of 127.0.0.1 that is free now; all are
    // held until each is picked, so no two get the same one.
    let listeners: Vec<TcpListener> = (0..=model.units.len())
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("a free port"))
        .collect();
    let ports: Vec<u16> = listeners
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect();
    drop(listeners);
    let mut gateway = 0;
    let mut platform = Command::new(binary);
    for (unit, port) in model.units.iter().zip(&ports) {
        if matches!(unit.kind, UnitKind::Gateway | UnitKind::Monolith) {
            gateway = *port;
        }
        platform.env(format!("{}_PORT", unit.env_prefix), port.to_string());
    }
    for var in ["DATABASE_URL", "REDIS_URL", "KAFKA_BROKERS", "HOST"] {
        platform.env_remove(var);
    }
    if monolith {
        platform
            .env("APP_ENV", "development")
            .env(
                "API_GATEWAY_METRICS_PORT",
                ports[model.units.len()].to_string(),
            )
            .env("APP_ADMIN_EMAIL", "loadgen-admin@example.com")
            .env("APP_ADMIN_PASSWORD", ADMIN_PASSWORD);
    }
    let platform = Running(
        platform
            .envs(LOAD_RUN_ENV.iter().copied())
            .env("DEVSTACK_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("USER_SERVICE_MAIL_DIR", tmp.join("mail"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the platform starts"),
    );
    (platform, gateway)
}

/// The generated `loadgen`, CI-sized (a few seconds at a low rate), against the generated
/// platform started here in memory on free ports (the devstack, or a monolith's `app`): the
/// run must finish with exit 0, write its three report files, see every order it placed
/// settle, and find every invariant held.
fn load_run(project: &Path, model: &ArchitectureModel, tmp: &Path) {
    let monolith = model.units.iter().any(|u| u.kind == UnitKind::Monolith);
    let runner = if monolith { "app" } else { "devstack" };
    cargo(
        project,
        &["build", "--locked", "-p", runner, "-p", "loadgen"],
    );
    let bin = target_dir(project).join("debug");
    let (platform, gateway) = start_platform(&bin.join(runner), model, tmp);

    let out = tmp.join("load");
    eprintln!("generated workspace: loadgen against the {runner} on port {gateway}");
    let output = Command::new(bin.join("loadgen"))
        .env("DEVSTACK_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .args(["--target", &format!("http://127.0.0.1:{gateway}")])
        .args(["--rate", "40", "--duration", "5s", "--wait", "60s"])
        .args(["--settle-timeout", "30s"])
        .args(["--watch-pid", &format!("{runner}={}", platform.0.id())])
        .arg("--out")
        .arg(&out)
        .output()
        .expect("loadgen runs");
    drop(platform);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "loadgen failed ({})\n--- stdout\n{stdout}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    for file in ["report.md", "report.json", "report.svg"] {
        assert!(out.join(file).is_file(), "loadgen wrote no {file}");
    }
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["passed"], true, "{stdout}");
    let orders = &report["orders"];
    assert!(orders["placed"].as_u64().unwrap() >= 5, "{orders}");
    assert_eq!(orders["unsettled"], 0, "{orders}");
    assert_eq!(orders["confirmed"], orders["placed"], "{orders}");
    let invariants = report["invariants"].as_array().unwrap();
    let names: Vec<&str> = invariants
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["every order final", "no double charge", "no oversell"]
    );
    assert!(
        invariants.iter().all(|i| i["held"] == true),
        "{invariants:?}"
    );
    for entry in report["entries"].as_array().unwrap() {
        assert!(entry["ok"].as_u64().unwrap() > 0, "{entry}");
        assert_eq!(entry["errors"], serde_json::json!({}), "{entry}");
    }
    let watched = report["processes"].as_array().unwrap();
    assert!(
        watched
            .iter()
            .any(|p| p["name"] == runner && p["rss_mib_max"].as_f64().unwrap() > 0.0),
        "{watched:?}"
    );
    assert!(
        stdout.starts_with("# Load run: 40 req/s for 5 s"),
        "{stdout}"
    );
    measured_against_the_model(project, &out.join("report.json"), gateway);
}

/// `arch-init verify --measured` on the run's report, with the project's own answers, as the
/// generated README says: every entry path and the order flow are compared. The reference
/// model itself passes, so a FAILED row can only be a measured one (a slow machine's p99).
fn measured_against_the_model(project: &Path, report: &Path, gateway: u16) {
    let output = cargo_bin_cmd!("arch-init")
        .arg("verify")
        .arg("--answers")
        .arg(project.join(".arch-init/arch-init-session.json"))
        .arg("--measured")
        .arg(report)
        .output()
        .expect("arch-init runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let Some((model, measured)) = stdout.split_once("\nMeasured (") else {
        panic!("no measured section:\n{stdout}");
    };
    assert!(!model.contains(" FAILED "), "{model}");
    assert!(
        measured.starts_with(&format!(
            "5 s at 40 req/s against http://127.0.0.1:{gateway})"
        )),
        "{measured}"
    );
    for row in [
        "checkout (measured)",
        "browse (measured)",
        "add to cart (measured)",
        "login (measured)",
        "order confirmed (p99) (measured)",
        "order confirmed (all) (measured)",
        "no oversell (measured)",
    ] {
        assert!(measured.contains(row), "no {row}:\n{measured}");
    }
    assert!(
        measured.contains("one replica of each unit carries at most"),
        "{measured}"
    );
    assert_eq!(
        output.status.code(),
        Some(i32::from(measured.contains(" FAILED "))),
        "{stdout}"
    );
}

/// A child process, killed when the test is done with it, also when it panics.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Test outcomes summed over every `test result:` line of a cargo test run.
#[derive(Debug, Default)]
struct Counts {
    passed: u32,
    failed: u32,
    ignored: u32,
}

impl Counts {
    fn of(stdout: &str) -> Self {
        let mut counts = Self::default();
        // "test result: ok. 37 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; …"
        for line in stdout
            .lines()
            .filter_map(|l| l.strip_prefix("test result: "))
        {
            let line = line.split_once(". ").map_or("", |(_, rest)| rest);
            for part in line.split(';') {
                if let Some((n, word)) = part.trim().split_once(' ') {
                    let n: u32 = n.parse().unwrap_or(0);
                    match word {
                        "passed" => counts.passed += n,
                        "failed" => counts.failed += n,
                        "ignored" => counts.ignored += n,
                        _ => {}
                    }
                }
            }
        }
        counts
    }
}

#[track_caller]
fn assert_ran(stdout: &str, names: &[&str]) {
    for name in names {
        assert!(
            stdout.contains(&format!("{name} ... ok")),
            "`{name}` did not run and pass:\n{stdout}"
        );
    }
}

/// Panics with what to do when the server of `var` (or `default`) does not accept connections;
/// returns the variable and the address to hand to the generated platform's tests.
fn require_server<'a>(what: &str, var: &'a str, default: &str) -> (&'a str, String) {
    let url = std::env::var(var).unwrap_or_else(|_| default.to_owned());
    let authority = url
        .split("//")
        .nth(1)
        .unwrap_or(&url)
        .split('/')
        .next()
        .unwrap_or_default();
    let authority = authority.split(',').next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or(authority);
    let reachable = std::net::ToSocketAddrs::to_socket_addrs(host_port)
        .ok()
        .and_then(|mut addrs| addrs.next())
        .is_some_and(|addr| {
            std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(3)).is_ok()
        });
    assert!(
        reachable,
        "{what} is not reachable at {url} ({var}); the generated platform's server tests need it: run .ci/run (it starts one) or set {var}"
    );
    (var, url)
}
