//! Generating: what lands on disk, what the ADR and session say, replay, dry runs, overrides.

use std::fs;
use std::path::Path;

use predicates::str::contains;
use serde_json::Value;

use crate::support::{REFERENCE, arch_init, assert_empty, files};

const ADR: &str = "docs/adr/001-architecture-paradigm.md";
const SESSION: &str = ".arch-init/arch-init-session.json";

fn generate(dir: &Path, extra: &[&str]) -> assert_cmd::assert::Assert {
    arch_init(dir)
        .args([
            "--name",
            "shop",
            "--yes",
            "--no-git",
            "--date",
            "2026-11-22",
        ])
        .args(extra)
        .assert()
}

fn session(project: &Path) -> Value {
    serde_json::from_str(&fs::read_to_string(project.join(SESSION)).unwrap()).unwrap()
}

#[test]
fn the_reference_case_records_microservices_with_event_driven_in_the_adr_and_session() {
    let tmp = tempfile::tempdir().unwrap();
    generate(tmp.path(), REFERENCE)
        .success()
        .stderr(contains("Primary:    Microservices"));
    let project = tmp.path().join("shop");
    let adr = fs::read_to_string(project.join(ADR)).unwrap();
    for text in [
        "# ADR 001: Microservices with Event-Driven for shop",
        "**Status:** Accepted",
        "**Date:** 2026-11-22",
        "**Confidence:** HIGH",
        "| Team size | `15-50` | `--team-size` |",
        "| Security | `critical` | `--security` |",
        "## Alternatives considered",
        "Modular Monolith",
        "Service-Based",
        "## Research",
        "## Consequences",
        "## Verification",
    ] {
        assert!(adr.contains(text), "ADR lacks {text:?}:\n{adr}");
    }
    let session = session(&project);
    assert_eq!(session["arch_init_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(session["answers"]["team_size"], "15-50");
    assert_eq!(session["decision"]["chosen"], "microservices");
    assert_eq!(session["decision"]["secondary"], "event-driven");
    assert_eq!(session["decision"]["overridden"], false);
    let best = &session["recommendation"]["ranking"][0];
    let sum: i64 = best["contributions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["points"].as_i64().unwrap())
        .sum();
    assert_eq!(
        best["total"].as_i64().unwrap(),
        sum,
        "the recorded score is the sum of its contributions"
    );
    assert!(session["research"]["queries"].as_array().unwrap().len() >= 5);
    assert!(session["verification"]["checks"].as_array().unwrap().len() > 10);
}

#[test]
fn an_arch_override_is_recorded_with_its_score_gap() {
    let tmp = tempfile::tempdir().unwrap();
    generate(
        tmp.path(),
        &[REFERENCE, &["--arch", "modular-monolith"]].concat(),
    )
    .success()
    // The monolith's code, verified on its own model: at this scale its one database is the
    // bottleneck the microservices' five are not.
    .stderr(contains("cargo run -p app"))
    .stderr(contains("FAILED throughput (bottleneck): app-db"));
    let project = tmp.path().join("shop");
    assert!(project.join("app/src/main.rs").is_file());
    let session = session(&project);
    assert_eq!(session["decision"]["chosen"], "modular-monolith");
    assert_eq!(session["decision"]["recommended"], "microservices");
    assert_eq!(session["decision"]["overridden"], true);
    let gap = session["decision"]["score_gap"].as_i64().unwrap();
    assert!(gap > 0);
    let adr = fs::read_to_string(project.join(ADR)).unwrap();
    assert!(
        adr.contains("> **Override.** The recommendation was Microservices"),
        "{adr}"
    );
    assert!(adr.contains(&format!("{gap} points behind")), "{adr}");
}

#[test]
fn replaying_a_session_reproduces_every_file_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    generate(
        tmp.path(),
        &[
            REFERENCE,
            &["--arch", "event-driven", "--availability", "99.5"],
        ]
        .concat(),
    )
    .success();
    arch_init(tmp.path())
        .args([
            "--name",
            "shop",
            "--yes",
            "--no-git",
            "--output",
            "replay",
            "--answers",
            "shop/.arch-init/arch-init-session.json",
        ])
        .assert()
        .success();
    let original = files(&tmp.path().join("shop"));
    assert_eq!(original, files(&tmp.path().join("replay")));
    for path in &original {
        assert_eq!(
            fs::read(tmp.path().join("shop").join(path)).unwrap(),
            fs::read(tmp.path().join("replay").join(path)).unwrap(),
            "{path} differs after replay"
        );
    }
}

#[test]
fn flags_override_the_answers_file() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(
        tmp.path().join("answers.toml"),
        "team_size = \"<5\"\ncomplexity = \"simple\"\n",
    )
    .unwrap();
    generate(
        tmp.path(),
        &["--answers", "answers.toml", "--team-size", "50+"],
    )
    .success();
    let session = session(&tmp.path().join("shop"));
    assert_eq!(session["answers"]["team_size"], "50+");
    assert_eq!(session["answers"]["complexity"], "simple");
    assert_eq!(
        session["decision"]["chosen"], "microservices",
        "50+ and simple is microservices in the matrix"
    );
}

#[test]
fn a_json_answers_file_and_a_plain_team_headcount_are_accepted() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(
        tmp.path().join("a.json"),
        r#"{"team_size": 3, "complexity": "highly-complex"}"#,
    )
    .unwrap();
    generate(tmp.path(), &["--answers", "a.json"]).success();
    let session = session(&tmp.path().join("shop"));
    assert_eq!(session["answers"]["team_size"], "<5");
    assert_eq!(session["decision"]["chosen"], "functional-core");
}

#[test]
fn a_dry_run_lists_the_files_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    generate(tmp.path(), &["--dry-run"])
        .success()
        .stdout(contains(format!("shop/{ADR}")))
        .stdout(contains("dry run: nothing written"));
    assert_empty(tmp.path());
}

#[test]
fn a_json_dry_run_prints_the_whole_plan() {
    let tmp = tempfile::tempdir().unwrap();
    let assert = generate(tmp.path(), &["--dry-run", "--format", "json"]).success();
    let plan: Value = serde_json::from_slice(&assert.get_output().stdout).unwrap();
    let listed = plan["plan"]["files"].as_array().unwrap();
    let adr = listed
        .iter()
        .find(|f| f["path"] == ADR)
        .expect("the ADR is planned");
    assert!(adr["contents"].as_str().unwrap().starts_with("# ADR 001"));
    assert_eq!(adr["mode"], "regular");
    assert_empty(tmp.path());
}

#[test]
fn json_output_carries_the_session_on_stdout_and_nothing_on_stderr() {
    let tmp = tempfile::tempdir().unwrap();
    let assert = generate(tmp.path(), &["--format", "json"])
        .success()
        .stderr("");
    let out: Value = serde_json::from_slice(&assert.get_output().stdout).unwrap();
    assert_eq!(
        out["session"]["decision"],
        session(&tmp.path().join("shop"))["decision"]
    );
    assert!(out["files"].as_u64().unwrap() >= 2);
}

#[test]
fn quiet_prints_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    generate(tmp.path(), &["--quiet"])
        .success()
        .stdout("")
        .stderr("");
    assert!(tmp.path().join("shop").join(ADR).exists());
}

#[test]
fn force_writes_over_a_non_empty_target_and_keeps_other_files() {
    let tmp = tempfile::tempdir().unwrap();
    fs::create_dir_all(tmp.path().join("shop/docs/adr")).unwrap();
    fs::write(tmp.path().join("shop/notes.txt"), "mine").unwrap();
    fs::write(tmp.path().join("shop").join(ADR), "stale").unwrap();
    generate(tmp.path(), &["--force"]).success();
    assert_eq!(
        fs::read_to_string(tmp.path().join("shop/notes.txt")).unwrap(),
        "mine"
    );
    assert!(
        fs::read_to_string(tmp.path().join("shop").join(ADR))
            .unwrap()
            .starts_with("# ADR 001")
    );
}

#[test]
fn output_chooses_the_directory_and_creates_its_parents() {
    let tmp = tempfile::tempdir().unwrap();
    generate(tmp.path(), &["--output", "work/projects/the-shop"]).success();
    assert!(tmp.path().join("work/projects/the-shop").join(ADR).exists());
    let names = |dir: &Path| -> Vec<_> {
        fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect()
    };
    assert_eq!(
        names(tmp.path()),
        ["work"],
        "no staging directory left behind"
    );
    assert_eq!(names(&tmp.path().join("work/projects")), ["the-shop"]);
}

#[test]
fn skipping_research_says_so_in_the_adr() {
    let tmp = tempfile::tempdir().unwrap();
    generate(tmp.path(), &["--skip-research"]).success();
    let project = tmp.path().join("shop");
    assert!(
        fs::read_to_string(project.join(ADR))
            .unwrap()
            .contains("The research phase was skipped")
    );
    assert_eq!(session(&project)["research"], Value::Null);
}

#[test]
fn another_language_is_decided_for_but_the_code_is_rust() {
    let tmp = tempfile::tempdir().unwrap();
    generate(tmp.path(), &["--language", "go"])
        .success()
        .stderr(contains("arch-init renders Rust only"));
    let adr = fs::read_to_string(tmp.path().join("shop").join(ADR)).unwrap();
    assert!(adr.contains("The team's language is go"), "{adr}");
}

#[test]
fn strict_refuses_to_write_when_a_property_failed() {
    let tmp = tempfile::tempdir().unwrap();
    generate(
        tmp.path(),
        &[REFERENCE, &["--p99-ms", "100", "--strict"]].concat(),
    )
    .code(1)
    .stderr(contains("FAILED verification"));
    assert_empty(tmp.path());
}

#[test]
fn the_project_becomes_a_git_repository_with_one_commit() {
    let tmp = tempfile::tempdir().unwrap();
    arch_init(tmp.path())
        .args(["--name", "shop", "--yes"])
        .assert()
        .success()
        .stderr(contains("Initialised a git repository"));
    let log = std::process::Command::new("git")
        .args(["log", "--oneline"])
        .current_dir(tmp.path().join("shop"))
        .output()
        .expect("git is installed on every machine this suite runs on");
    assert_eq!(String::from_utf8_lossy(&log.stdout).lines().count(), 1);
}
