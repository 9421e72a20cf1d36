use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use assert_cmd::cargo::cargo_bin_cmd;

/// The reference case of the product, `tests/fixtures/reference.toml`: a critical,
/// extreme-scale service platform. Flags given after it override its answers.
pub const REFERENCE: &[&str] = &[
    "--answers",
    concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/reference.toml"),
];

/// `arch-init` in `dir`. Its stdin is a pipe, so it never prompts; `NO_COLOR` is cleared so
/// output is checked as a terminal user without it would get.
pub fn arch_init(dir: &Path) -> Command {
    let mut cmd = cargo_bin_cmd!("arch-init");
    cmd.current_dir(dir).env_remove("NO_COLOR");
    cmd
}

/// Every file under `dir`, relative, sorted.
pub fn files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path: PathBuf = entry.unwrap().path();
        if path.file_name().is_some_and(|n| n == ".git") {
            continue;
        }
        if path.is_dir() {
            walk(root, &path, out);
        } else {
            out.push(
                path.strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/"),
            );
        }
    }
}

/// Asserts `dir` holds nothing at all.
#[track_caller]
pub fn assert_empty(dir: &Path) {
    assert_eq!(
        fs::read_dir(dir).unwrap().count(),
        0,
        "expected nothing written in {}: {:?}",
        dir.display(),
        files(dir)
    );
}
