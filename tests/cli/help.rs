use predicates::str::contains;

use crate::support::arch_init;

#[test]
fn help_lists_every_question_flag_and_the_generation_switches() {
    let tmp = tempfile::tempdir().unwrap();
    let assert = arch_init(tmp.path()).arg("--help").assert().success();
    let out = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    for flag in [
        "--name",
        "--output",
        "--yes",
        "--accept-recommendation",
        "--arch",
        "--skip-research",
        "--force",
        "--dry-run",
        "--no-git",
        "--templates",
        "--strict",
        "--format",
        "--quiet",
        "--answers",
        "--project-type",
        "--complexity",
        "--team-size",
        "--language",
        "--framework",
        "--scalability",
        "--security",
        "--time-to-market",
        "--team-experience",
        "--ops-maturity",
        "--workload",
        "--availability",
        "--rto",
    ] {
        assert!(out.contains(flag), "--help does not mention {flag}");
    }
    let commands: Vec<&str> = out
        .lines()
        .skip_while(|line| !line.starts_with("Commands:"))
        .filter_map(|line| line.strip_prefix("  ")?.split_whitespace().next())
        .collect();
    for command in [
        "recommend",
        "verify",
        "paradigms",
        "templates",
        "completions",
    ] {
        assert!(
            commands.contains(&command),
            "--help lists no `{command}` command: {commands:?}"
        );
    }
}

#[test]
fn version_prints_the_package_version() {
    let tmp = tempfile::tempdir().unwrap();
    arch_init(tmp.path())
        .arg("--version")
        .assert()
        .success()
        .stdout(contains(env!("CARGO_PKG_VERSION")));
}

#[test]
fn completions_are_printed_for_each_shell() {
    let tmp = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let assert = arch_init(tmp.path())
            .args(["completions", shell])
            .assert()
            .success();
        let out = String::from_utf8_lossy(&assert.get_output().stdout).into_owned();
        assert!(
            out.contains("arch-init") && out.contains("project-type"),
            "{shell}: {out:.200}"
        );
    }
}

#[test]
fn the_manual_page_is_printed_from_the_same_definitions_as_help() {
    let tmp = tempfile::tempdir().unwrap();
    let assert = arch_init(tmp.path()).arg("man").assert().success();
    let page = String::from_utf8_lossy(&assert.get_output().stdout).into_owned();
    assert!(page.starts_with(".ie \\n(.g .ds Aq"), "{page:.200}");
    assert!(page.contains(".TH arch-init 1"), "{page:.400}");
    for flag in ["\\-\\-name", "\\-\\-team\\-size", "\\-\\-availability"] {
        assert!(page.contains(flag), "the page lacks {flag}");
    }
    assert!(page.contains("How many people will build and run it?"));
}
