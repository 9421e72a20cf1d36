//! Every way to get the input wrong: exit 2, one `error:` line naming the problem, nothing
//! written.

use std::fs;

use predicates::prelude::*;
use predicates::str::{contains, starts_with};

use crate::support::{arch_init, assert_empty, files};

#[track_caller]
fn refused(args: &[&str], says: &[&str]) {
    let tmp = tempfile::tempdir().unwrap();
    let assert = arch_init(tmp.path()).args(args).assert().code(2);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(stderr.starts_with("error:"), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    for text in says {
        assert!(stderr.contains(text), "expected {text:?} in: {stderr}");
    }
    assert_empty(tmp.path());
}

#[test]
fn an_unknown_answer_value_lists_the_valid_ones() {
    refused(
        &["--name", "shop", "--yes", "--team-size", "huge"],
        &[
            "--team-size",
            "`huge` is not one of: `<5`, `5-15`, `15-50`, `50+`",
        ],
    );
    refused(
        &["--name", "shop", "--yes", "--scalability", "infinite"],
        &["`low`, `moderate`, `high`, `extreme`"],
    );
    refused(
        &["--name", "shop", "--yes", "--workload", "lumpy"],
        &["`steady`, `bursty`, `spiky-idle`"],
    );
}

#[test]
fn a_team_size_of_zero_is_refused() {
    refused(
        &["--name", "shop", "--yes", "--team-size", "0"],
        &["--team-size", "`0`"],
    );
}

#[test]
fn an_unknown_paradigm_for_arch_lists_the_catalog() {
    refused(
        &["--name", "shop", "--yes", "--arch", "blockchain"],
        &["--arch", "`blockchain` is not one of", "`microservices`"],
    );
}

#[test]
fn bad_project_names_say_what_is_allowed() {
    for (name, says) in [
        ("", "a name is required"),
        ("a/b", "path separator"),
        ("..", "cannot start with `.`"),
        (".x", "cannot start with `.`"),
        ("my shop", "spaces"),
        ("9lives", "must start with a letter"),
    ] {
        refused(
            &["--name", name, "--yes"],
            &[says, "letters, digits, `-` and `_`"],
        );
    }
}

#[test]
fn a_name_starting_with_a_dash_is_refused() {
    refused(&["--name=-rf", "--yes"], &["cannot start with `-`"]);
}

#[test]
fn without_a_terminal_and_without_yes_it_fails_fast_and_names_yes() {
    let tmp = tempfile::tempdir().unwrap();
    arch_init(tmp.path())
        .args(["--name", "shop"])
        .write_stdin("")
        .timeout(std::time::Duration::from_secs(20))
        .assert()
        .code(2)
        .stderr(starts_with("error:").and(contains("--yes")));
    assert_empty(tmp.path());
}

#[test]
fn refuses_a_non_empty_target_and_leaves_it_alone() {
    let tmp = tempfile::tempdir().unwrap();
    fs::create_dir(tmp.path().join("shop")).unwrap();
    fs::write(tmp.path().join("shop/notes.txt"), "mine").unwrap();
    arch_init(tmp.path())
        .args(["--name", "shop", "--yes"])
        .assert()
        .code(2)
        .stderr(starts_with("error: target directory `shop`").and(contains("--force")));
    assert_eq!(files(&tmp.path().join("shop")), ["notes.txt"]);
}

#[test]
fn a_target_that_is_a_file_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("shop"), "a file").unwrap();
    arch_init(tmp.path())
        .args(["--name", "shop", "--yes", "--force"])
        .assert()
        .code(2)
        .stderr(contains("is not a directory"));
    assert_eq!(
        fs::read_to_string(tmp.path().join("shop")).unwrap(),
        "a file"
    );
}

/// Runs with `--answers answers.<ext>` holding `text`; expects exit 2 mentioning `says`.
#[track_caller]
fn bad_answers(ext: &str, text: &str, says: &[&str]) {
    let tmp = tempfile::tempdir().unwrap();
    let file = format!("answers.{ext}");
    fs::write(tmp.path().join(&file), text).unwrap();
    let assert = arch_init(tmp.path())
        .args(["--name", "shop", "--yes", "--answers", &file])
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(stderr.starts_with(&format!("error: {file}: ")), "{stderr}");
    for text in says {
        assert!(stderr.contains(text), "expected {text:?} in: {stderr}");
    }
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    assert_eq!(files(tmp.path()), [file], "nothing but the answers file");
}

#[test]
fn an_answers_file_with_a_bad_value_names_the_key_and_the_valid_values() {
    bad_answers(
        "toml",
        "team_size = \"huge\"\n",
        &["`team_size = \"huge\"` is not one of: `<5`, `5-15`, `15-50`, `50+`"],
    );
    bad_answers(
        "json",
        r#"{"security": "extreme"}"#,
        &["security", "`standard`, `high`, `critical`"],
    );
}

#[test]
fn an_answers_file_with_an_unknown_key_lists_the_known_ones() {
    bad_answers(
        "toml",
        "teamsize = \"5-15\"\n",
        &["unknown answer `teamsize`", "`team_size`"],
    );
}

#[test]
fn a_malformed_answers_file_says_where() {
    bad_answers(
        "toml",
        "complexity = \"simple\"\nteam_size = \n",
        &["line 2, column 13: string values must be quoted"],
    );
    bad_answers("json", "{\"team_size\": ", &["line 1 column 14"]);
}

#[test]
fn a_bad_requirement_in_the_answers_file_names_it() {
    bad_answers(
        "toml",
        "[requirements]\navailability = 120\n",
        &["availability", "out of range"],
    );
}

#[test]
fn an_unknown_paradigm_in_the_answers_file_names_the_key() {
    bad_answers(
        "toml",
        "arch = \"blockchain\"\n",
        &["`arch = \"blockchain\"` is not one of"],
    );
}

#[test]
fn a_missing_answers_file_is_named() {
    refused(
        &["--name", "shop", "--yes", "--answers", "nope.toml"],
        &["cannot read answers file `nope.toml`"],
    );
}

#[test]
fn a_requirement_flag_out_of_range_is_named() {
    refused(
        &["--name", "shop", "--yes", "--availability", "120"],
        &["--availability", "out of range"],
    );
}

#[test]
fn a_missing_templates_directory_is_named() {
    refused(
        &["--name", "shop", "--yes", "--templates", "no-such-dir"],
        &["templates directory `no-such-dir`"],
    );
}

#[test]
fn a_broken_overlay_template_names_its_file_and_line_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    fs::create_dir(tmp.path().join("mine")).unwrap();
    fs::write(
        tmp.path().join("mine/README.md.tera"),
        "# {{ project }}\n\n{% if %}oops{% endif %}\n",
    )
    .unwrap();
    arch_init(tmp.path())
        .args(["--name", "shop", "--yes", "--templates", "mine"])
        .assert()
        .code(2)
        .stderr(
            "error: template `mine/README.md.tera` line 3: expected a value that can be negated\n",
        );
    assert_eq!(files(tmp.path()), ["mine/README.md.tera"]);
}

#[test]
fn an_overlay_template_using_an_unknown_variable_names_its_line() {
    let tmp = tempfile::tempdir().unwrap();
    fs::create_dir(tmp.path().join("mine")).unwrap();
    fs::write(
        tmp.path().join("mine/NOTES.md.tera"),
        "# notes\n{{ model.no_such_field }}\n",
    )
    .unwrap();
    let assert = arch_init(tmp.path())
        .args(["--name", "shop", "--yes", "--templates", "mine"])
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert_eq!(
        stderr.lines().last().unwrap(),
        "error: template `mine/NOTES.md.tera` line 2: Variable `model.no_such_field` not found in context"
    );
    assert_eq!(files(tmp.path()), ["mine/NOTES.md.tera"]);
}

#[test]
fn exporting_templates_into_a_non_empty_directory_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    fs::create_dir(tmp.path().join("out")).unwrap();
    fs::write(tmp.path().join("out/keep.txt"), "mine").unwrap();
    arch_init(tmp.path())
        .args(["templates", "export", "out"])
        .assert()
        .code(2)
        .stderr(contains("not empty"));
    assert_eq!(files(&tmp.path().join("out")), ["keep.txt"]);
}

#[test]
fn an_empty_or_multi_line_framework_is_refused_like_in_a_file() {
    refused(
        &["--name", "shop", "--yes", "--framework", " "],
        &["--framework", "must not be empty"],
    );
    refused(
        &["--name", "shop", "--yes", "--framework", "a|b\nc"],
        &["--framework", "one line"],
    );
}

#[test]
fn a_latency_bound_for_an_unknown_request_path_lists_the_known_ones() {
    refused(
        &[
            "--name",
            "shop",
            "--yes",
            "--team-size",
            "50+",
            "--complexity",
            "simple",
            "--entry-p99",
            "checkot=300",
        ],
        &["no request path `checkot`", "`checkout`"],
    );
}

#[cfg(target_os = "linux")]
#[test]
fn a_target_in_a_place_that_cannot_be_written_is_refused_before_any_question() {
    // Nothing can create a directory in /proc, not even root.
    refused(
        &[
            "--name",
            "shop",
            "--yes",
            "--output",
            "/proc/arch-init/shop",
        ],
        &["cannot write into `/proc`", "--output"],
    );
}

#[test]
fn a_template_context_for_an_unknown_unit_lists_the_units() {
    refused(
        &["templates", "context", "--unit", "shop-service"],
        &["no unit `shop-service`", "`order-service`", "`api-gateway`"],
    );
}
