//! `recommend`, `verify`, `paradigms` and `templates`: data on stdout, nothing written.

use predicates::prelude::*;
use predicates::str::contains;
use serde_json::Value;

use crate::support::{REFERENCE, arch_init, assert_empty, files};

fn json(args: &[&str]) -> Value {
    let tmp = tempfile::tempdir().unwrap();
    let assert = arch_init(tmp.path()).args(args).assert();
    let out = assert.get_output().stdout.clone();
    assert_empty(tmp.path());
    serde_json::from_slice(&out).unwrap()
}

#[test]
fn recommend_explains_the_reference_case_in_text() {
    let tmp = tempfile::tempdir().unwrap();
    arch_init(tmp.path())
        .arg("recommend")
        .args(REFERENCE)
        .assert()
        .success()
        .stdout(contains("Primary:    Microservices"))
        .stdout(contains("Secondary:  Event-Driven"))
        .stdout(contains("Confidence: HIGH"))
        .stdout(contains("Modular Monolith"));
    assert_empty(tmp.path());
}

#[test]
fn recommend_json_has_the_ranking_with_contributions() {
    let out = json(&[&["recommend", "--format", "json"], REFERENCE].concat());
    let rec = &out["recommendation"];
    assert_eq!(rec["primary"], "microservices");
    assert_eq!(rec["secondary"], "event-driven");
    assert_eq!(rec["confidence"], "high");
    assert_eq!(rec["ranking"].as_array().unwrap().len(), 14);
    assert_eq!(out["answers"]["security"], "critical");
}

#[test]
fn paradigms_lists_the_whole_catalog() {
    let out = json(&["paradigms", "--format", "json"]);
    let all = out["paradigms"].as_array().unwrap();
    assert_eq!(all.len(), 14);
    for entry in all {
        for field in [
            "id",
            "name",
            "category",
            "description",
            "trade_off",
            "mitigation",
            "best_for",
            "avoid_when",
            "references",
        ] {
            assert!(!entry[field].is_null(), "{} lacks {field}", entry["id"]);
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    arch_init(tmp.path())
        .arg("paradigms")
        .assert()
        .success()
        .stdout(contains("cqrs-es"))
        .stdout(contains("space-based"));
}

#[test]
fn verify_fails_with_exit_1_when_a_property_fails() {
    let tmp = tempfile::tempdir().unwrap();
    // No path through the gateway, a service and its database has a p99 of 100 ms.
    arch_init(tmp.path())
        .arg("verify")
        .args(REFERENCE)
        .args(["--p99-ms", "100"])
        .assert()
        .code(1)
        .stdout(contains("FAILED     122 ms > 100 ms"))
        .stderr(contains("FAILED verification"));
}

#[test]
fn verify_measured_compares_a_load_report_with_the_requirements_and_the_model() {
    let report = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/load-report.json"
    );
    let tmp = tempfile::tempdir().unwrap();
    arch_init(tmp.path())
        .arg("verify")
        .args(REFERENCE)
        .args(["--measured", report])
        .assert()
        .success()
        .stdout(contains("Measured (60 s at 75 req/s against http://127.0.0.1:8080)"))
        .stdout(contains(
            "checkout (measured)               MEASURED  36 ms <= 200 ms; the model predicts 122 ms",
        ))
        .stdout(contains("capacity: the run carried 75 req/s, all settled"));
    assert_empty(tmp.path());
    let out = json(&["verify", "--measured", report, "--format", "json"]);
    assert_eq!(out["measured"]["checks"][0]["verdict"], "MEASURED");
    assert!(out["measured"]["predicted_rps"].as_u64().is_some());
    // Held to a 30 ms bound, the same run fails.
    arch_init(tmp.path())
        .arg("verify")
        .args(REFERENCE)
        .args(["--entry-p99", "checkout=30", "--measured", report])
        .assert()
        .code(1)
        .stdout(contains("36 ms > 30 ms"));
}

#[test]
fn measured_figures_replace_planning_ones_and_settle_what_a_run_contradicted() {
    let report = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/load-report.json"
    );
    let tmp = tempfile::tempdir().unwrap();
    // The run was made with the simulated provider answering at once.
    let figures = tmp.path().join("figures.toml");
    std::fs::write(&figures, "\"payment-provider.p99_ms\" = 0\n").unwrap();
    arch_init(tmp.path())
        .arg("verify")
        .args(REFERENCE)
        .args(["--measured", report, "--figures"])
        .arg(&figures)
        .assert()
        .success()
        .stdout(contains(
            "No assumption of the model is contradicted by this run.",
        ))
        .stdout(contains("p99_ms = 800: payment-provider").not());
    for (content, says) in [
        (
            "\"payment-provider.p99\" = 0",
            "`payment-provider.p99`: a store has no figure `p99` (it has: p99_ms,",
        ),
        (
            "\"warehouse-db.p99_ms\" = 3",
            "the model has no unit, store or topic `warehouse-db`",
        ),
        ("p99 =", "write lines of \"subject.figure\" = number"),
    ] {
        std::fs::write(&figures, content).unwrap();
        arch_init(tmp.path())
            .args(["verify", "--figures"])
            .arg(&figures)
            .assert()
            .code(2)
            .stdout("")
            .stderr(contains("error: figures `").and(contains(says)));
    }
}

#[test]
fn verify_measured_refuses_a_file_that_is_not_a_load_report() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("report.json");
    for (content, says) in [
        ("{\"rate\": 1}", "not a load report (missing field `target`"),
        (
            r#"{"target": "x", "rate": 1, "duration_s": 1.0, "entries": [{"name": "sign up", "scheduled": 1, "ok": 1, "ok_per_second": 1.0, "latency": {"count": 1, "p99_ms": 1.0}}], "orders": {"placed": 0, "confirmed": 0, "unsettled": 0, "confirmed_time": {"count": 0, "p99_ms": 0.0}}}"#,
            "it names no request path of this model (it has: checkout, browse, add to cart, login)",
        ),
    ] {
        std::fs::write(&path, content).unwrap();
        arch_init(tmp.path())
            .args(["verify", "--measured"])
            .arg(&path)
            .assert()
            .code(2)
            .stdout("")
            .stderr(contains("error: measurement `").and(contains(says)));
    }
    arch_init(tmp.path())
        .args(["verify", "--measured", "missing.json"])
        .assert()
        .code(2)
        .stderr(contains(
            "error: measurement `missing.json`: cannot read it",
        ));
}

#[test]
fn verify_passes_for_a_modest_platform() {
    let out = json(&[
        "verify",
        "--format",
        "json",
        "--scalability",
        "moderate",
        "--arch",
        "microservices",
    ]);
    let checks = out["verification"]["checks"].as_array().unwrap();
    assert!(
        checks.iter().all(|c| c["verdict"] != "FAILED"),
        "{checks:#?}"
    );
    let tmp = tempfile::tempdir().unwrap();
    arch_init(tmp.path())
        .args([
            "verify",
            "--scalability",
            "moderate",
            "--arch",
            "microservices",
        ])
        .assert()
        .success()
        .stdout(contains("PROVED"));
}

#[test]
fn templates_can_be_listed_exported_and_used_as_an_identical_overlay() {
    let tmp = tempfile::tempdir().unwrap();
    arch_init(tmp.path())
        .args(["templates", "list"])
        .assert()
        .success()
        .stdout(contains(
            "rendered  docs/adr/001-architecture-paradigm.md.tera",
        ));
    arch_init(tmp.path())
        .args(["templates", "export", "tpl"])
        .assert()
        .success();
    assert!(
        files(&tmp.path().join("tpl"))
            .contains(&"docs/adr/001-architecture-paradigm.md.tera".to_owned())
    );
    let plan = |extra: &[&str]| {
        let assert = arch_init(tmp.path())
            .args([
                "--name",
                "shop",
                "--yes",
                "--dry-run",
                "--format",
                "json",
                "--date",
                "2026-01-01",
            ])
            .args(extra)
            .assert()
            .success();
        serde_json::from_slice::<Value>(&assert.get_output().stdout).unwrap()
    };
    assert_eq!(plan(&[]), plan(&["--templates", "tpl"]));
}

/// Writes `files` (path, contents) under `mine/`, generates `shop` with `--templates mine`
/// (team 50+, so the ADR is about Event-Driven) and returns the project directory.
fn generate_with_overlay(tmp: &tempfile::TempDir, files: &[(&str, &str)]) -> std::path::PathBuf {
    for (path, contents) in files {
        let path = tmp.path().join("mine").join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
    }
    arch_init(tmp.path())
        .args([
            "--name",
            "shop",
            "--yes",
            "--no-git",
            "--templates",
            "mine",
            "--team-size",
            "50+",
        ])
        .assert()
        .success();
    tmp.path().join("shop")
}

fn read(path: std::path::PathBuf) -> String {
    std::fs::read_to_string(path).unwrap()
}

#[test]
fn an_overlay_replaces_one_file_and_adds_another() {
    let tmp = tempfile::tempdir().unwrap();
    let project = generate_with_overlay(
        &tmp,
        &[
            (
                "docs/adr/001-architecture-paradigm.md.tera",
                "ours: {{ adr.chosen.name }}\n",
            ),
            ("CODEOWNERS", "* @platform-team\n"),
        ],
    );
    assert_eq!(
        read(project.join("docs/adr/001-architecture-paradigm.md")),
        "ours: Event-Driven\n"
    );
    assert_eq!(read(project.join("CODEOWNERS")), "* @platform-team\n");
}

#[test]
fn verify_says_there_is_nothing_to_verify_for_a_paradigm_without_a_model() {
    let tmp = tempfile::tempdir().unwrap();
    arch_init(tmp.path())
        .args(["verify", "--arch", "layered"])
        .assert()
        .success()
        .stdout(contains("nothing to verify"));
}

#[test]
fn overlay_templates_may_extend_each_other_and_a_plain_file_replaces_a_template() {
    let tmp = tempfile::tempdir().unwrap();
    let project = generate_with_overlay(
        &tmp,
        &[
            (
                "docs/adr/base.md.tera",
                "# {% block title %}{% endblock %}\n",
            ),
            (
                "docs/adr/001-architecture-paradigm.md.tera",
                "{% extends \"docs/adr/base.md.tera\" %}{% block title %}{{ adr.chosen.name }}{% endblock %}",
            ),
            ("README.md", "our own readme\n"),
        ],
    );
    assert_eq!(
        read(project.join("docs/adr/001-architecture-paradigm.md")),
        "# Event-Driven\n"
    );
    assert_eq!(read(project.join("README.md")), "our own readme\n");
}

#[cfg(unix)]
#[test]
fn an_overlay_with_a_link_loop_is_refused_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join("mine/docs")).unwrap();
    std::os::unix::fs::symlink("..", tmp.path().join("mine/docs/up")).unwrap();
    arch_init(tmp.path())
        .args(["--name", "shop", "--yes", "--templates", "mine"])
        .assert()
        .code(2)
        .stderr(contains("links back to a directory already read"));
    assert!(!tmp.path().join("shop").exists());
}

#[test]
fn every_answer_flag_reaches_the_recorded_answers() {
    let flags = [
        ("--project-type", "project_type", "cli-tool"),
        ("--complexity", "complexity", "simple"),
        ("--team-size", "team_size", "50+"),
        ("--language", "language", "go"),
        ("--framework", "framework", "actix-web"),
        ("--scalability", "scalability", "high"),
        ("--security", "security", "high"),
        ("--time-to-market", "time_to_market", "rapid"),
        ("--team-experience", "team_experience", "senior"),
        ("--ops-maturity", "ops_maturity", "advanced"),
        ("--lifespan", "lifespan", "long"),
        ("--consistency", "consistency", "strong"),
        ("--audit-trail", "audit_trail", "required"),
        ("--workload", "workload", "bursty"),
        ("--data-flow", "data_flow", "streaming"),
        ("--extensibility", "extensibility", "plugins"),
    ];
    let mut args = vec!["recommend", "--format", "json"];
    for (flag, _, value) in flags {
        args.extend([flag, value]);
    }
    let answers = &json(&args)["answers"];
    for (flag, key, value) in flags {
        assert_eq!(
            answers[key], value,
            "{flag} {value} was not recorded as `{key}`"
        );
    }
    assert_eq!(
        answers.as_object().unwrap().len(),
        flags.len(),
        "a question without a flag test"
    );
}

#[test]
fn every_requirement_flag_reaches_the_requirements_verified() {
    let out = json(&[
        "verify",
        "--format",
        "json",
        "--arch",
        "microservices",
        "--orders-per-second",
        "7",
        "--requests-per-second",
        "70",
        "--p99-ms",
        "900",
        "--entry-p99",
        "checkout=800",
        "--availability",
        "99.5",
        "--error-rate",
        "0.5",
        "--monthly-budget",
        "1234",
        "--rto",
        "45",
        "--rpo",
        "5",
        "--order-confirmed-p99",
        "6",
        "--order-confirmed-within",
        "40",
        "--stock-visible-within",
        "12",
    ]);
    let req = &out["requirements"];
    assert_eq!(req["orders_per_second"], 7);
    assert_eq!(req["busiest_rps"], 70);
    assert_eq!(req["p99_ms"], 900);
    assert_eq!(req["entry_p99_ms"]["checkout"], 800);
    assert_eq!(req["availability_ppm"], 995_000);
    assert_eq!(req["error_rate_ppm"], 5_000);
    assert_eq!(req["monthly_budget_cents"], 123_400);
    assert_eq!(req["rto_ms"], 45_000);
    assert_eq!(req["rpo_ms"], 5_000);
    let flows = req["flows"].as_object().unwrap();
    let confirmed = flows
        .values()
        .find(|f| f["all_ms"] == 40_000)
        .expect("order-confirmed-within lands in a flow bound");
    assert_eq!(confirmed["p99_ms"], 6_000);
    assert!(
        req["staleness_ms"]
            .as_object()
            .unwrap()
            .values()
            .any(|v| v == 12_000),
        "{req}"
    );
}

#[test]
fn templates_context_prints_what_a_template_sees_and_the_unit_asked_for() {
    let out = json(
        &[
            &[
                "templates",
                "context",
                "--name",
                "shop",
                "--date",
                "2026-11-22",
                "--unit",
                "order-service",
            ],
            REFERENCE,
        ]
        .concat(),
    );
    assert_eq!(out["project"], "shop");
    assert_eq!(out["date"], "2026-11-22");
    assert_eq!(out["answers"]["security"], "critical");
    assert_eq!(out["decision"]["chosen"], "microservices");
    assert_eq!(out["model"]["shape"], "microservices");
    assert_eq!(out["unit"]["name"], "order-service");
    assert!(out["research"]["queries"].is_array());
    assert!(
        out["verification_markdown"]
            .as_str()
            .unwrap()
            .contains("| ")
    );
}
