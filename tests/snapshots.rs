//! Snapshots of the rendered plan for the reference case: the file list and the files a
//! reviewer reads first that are rendered from the model (a file copied byte for byte from
//! `templates/` is its own snapshot). Review changes with `cargo insta review` (or
//! `INSTA_UPDATE=always`).

use std::sync::OnceLock;

use assert_cmd::cargo::cargo_bin_cmd;
use serde_json::Value;

fn plan(extra: &[&str]) -> Value {
    let tmp = tempfile::tempdir().unwrap();
    let assert = cargo_bin_cmd!("arch-init")
        .current_dir(tmp.path())
        .args([
            "--name",
            "ecommerce-platform",
            "--yes",
            "--dry-run",
            "--format",
            "json",
            "--date",
            "2026-11-22",
        ])
        .args(extra)
        .assert()
        .success();
    serde_json::from_slice(&assert.get_output().stdout).unwrap()
}

/// The reference answers, the one copy every test reads.
const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/reference.toml");

/// The reference plan, rendered once for every test here.
fn reference() -> &'static Value {
    static PLAN: OnceLock<Value> = OnceLock::new();
    PLAN.get_or_init(|| plan(&["--answers", FIXTURE]))
}

fn file<'a>(plan: &'a Value, path: &str) -> &'a str {
    plan["plan"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == path)
        .unwrap_or_else(|| panic!("{path} is not planned"))["contents"]
        .as_str()
        .unwrap()
}

/// Every planned file, one `mode path` line each.
fn listing(plan: &Value) -> String {
    plan["plan"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            format!(
                "{} {}",
                f["mode"].as_str().unwrap(),
                f["path"].as_str().unwrap()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_reference_plan_lists_every_file_with_its_mode() {
    insta::assert_snapshot!("file_list", listing(reference()));
}

#[test]
fn the_files_a_reviewer_reads_first_match_their_snapshots() {
    let plan = reference();
    for (name, path) in [
        ("workspace_cargo_toml", "Cargo.toml"),
        ("topology_rs", "shared/platform/src/topology.rs"),
        ("topics_rs", "shared/events/src/topics.rs"),
        (
            "order_service_main_rs",
            "services/order-service/src/main.rs",
        ),
        ("readme", "README.md"),
        ("architecture", "ARCHITECTURE.md"),
        ("adr", "docs/adr/001-architecture-paradigm.md"),
    ] {
        insta::assert_snapshot!(name, file(plan, path));
    }
}

#[test]
fn a_modular_monolith_plan_has_one_app_its_modules_and_no_devstack_or_services() {
    let plan = plan(&["--team-size", "5-15"]);
    insta::assert_snapshot!("monolith_file_list", listing(&plan));
    for (name, path) in [
        ("monolith_cargo_toml", "Cargo.toml"),
        ("monolith_topology_rs", "shared/platform/src/topology.rs"),
    ] {
        insta::assert_snapshot!(name, file(&plan, path));
    }
}

#[test]
fn a_decision_only_plan_holds_the_record_and_a_readme_that_says_so() {
    let plan = plan(&["--team-size", "<5", "--complexity", "simple"]);
    let paths: Vec<&str> = plan["plan"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        [
            ".arch-init/arch-init-session.json",
            "README.md",
            "docs/adr/001-architecture-paradigm.md"
        ]
    );
    insta::assert_snapshot!("decision_only_readme", file(&plan, "README.md"));
}
