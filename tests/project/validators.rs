//! The validators the deployment-file tests run (hadolint, yamllint, actionlint, zizmor,
//! checkov, ...), found on PATH or in ~/.local/bin, where `scripts/install-validators.sh`
//! puts them. A test that needs a missing one fails and says how to install it: never a skip.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The executable `name`; panics with the installer's name when it is missing.
pub fn tool(name: &str) -> PathBuf {
    find_tool(name).unwrap_or_else(|| {
        panic!("`{name}` is not installed: run scripts/install-validators.sh (it installs every validator these tests run)")
    })
}

/// The executable `name` on PATH or in ~/.local/bin, if there is one.
pub fn find_tool(name: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(Path::new(&home).join(".local/bin"));
    }
    dirs.into_iter()
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
}

/// Runs `cmd` to completion; panics when it cannot be started.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|err| panic!("cannot run {cmd:?}: {err}"))
}

/// Panics with `cmd`'s output unless it exited with 0.
#[track_caller]
pub fn assert_success(what: &str, output: &Output) {
    assert!(
        output.status.success(),
        "{what} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
