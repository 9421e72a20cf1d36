//! The reference project, generated once per test binary, and the architecture model the
//! library derives for it: what the tests of the generated deployment files check against.

pub mod validators;

use std::path::{Path, PathBuf};

use arch_init::catalog::Paradigm;
use arch_init::context::Choice;
use arch_init::decision::{Decision, shape_for};
use arch_init::model::ArchitectureModel;
use arch_init::project::model_and_report;
use arch_init::requirements::Requirements;
use assert_cmd::cargo::cargo_bin_cmd;
use serde_json::Value;

pub const PROJECT: &str = "ecommerce-platform";

/// The generated reference project (its directory lives as long as this value) and its model.
pub struct Reference {
    pub root: PathBuf,
    pub model: ArchitectureModel,
    _dir: tempfile::TempDir,
}

/// Runs `arch-init --name ecommerce-platform --yes` into a temporary directory.
pub fn generate() -> Reference {
    generate_with(&[])
}

/// The same with `answers` (flags such as `--scalability extreme`) added.
pub fn generate_with(answers: &[&str]) -> Reference {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join(PROJECT);
    cargo_bin_cmd!("arch-init")
        .current_dir(dir.path())
        .args(["--name", PROJECT, "--yes", "--no-git", "--output"])
        .arg(&root)
        .args(answers)
        .assert()
        .success();
    let model = model_of(&root);
    Reference {
        root,
        model,
        _dir: dir,
    }
}

/// The model the project was rendered from: the library's, for the requirements and decision
/// its session records.
fn model_of(root: &Path) -> ArchitectureModel {
    let session: Value = serde_json::from_slice(
        &std::fs::read(root.join(".arch-init/arch-init-session.json")).unwrap(),
    )
    .unwrap();
    let requirements: Requirements =
        serde_json::from_value(session["requirements"].clone()).unwrap();
    let paradigm = |key: &str| {
        session["decision"][key]
            .as_str()
            .map(|id| Paradigm::parse_choice(id).unwrap())
    };
    let chosen = paradigm("chosen").unwrap();
    let decision = Decision {
        recommended: paradigm("recommended").unwrap(),
        chosen,
        secondary: paradigm("secondary"),
        overridden: session["decision"]["overridden"].as_bool().unwrap(),
        score_gap: i32::try_from(session["decision"]["score_gap"].as_i64().unwrap()).unwrap(),
        shape: shape_for(chosen),
    };
    let (model, _) = model_and_report(PROJECT, &decision, &requirements);
    assert!(!model.units.is_empty(), "the reference model has no units");
    model
}
