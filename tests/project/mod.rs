//! The generated projects the tests of deployment files and the generated workspace check,
//! each generated once per test binary: the reference project (`tests/fixtures/reference.toml`,
//! the product's reference case) and the default project (no answers at all), with the
//! architecture model the library derives for each.

pub mod validators;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use arch_init::catalog::Paradigm;
use arch_init::context::Choice;
use arch_init::decision::{Decision, shape_for};
use arch_init::model::ArchitectureModel;
use arch_init::project::model_and_report;
use arch_init::requirements::Requirements;
use assert_cmd::cargo::cargo_bin_cmd;
use serde_json::Value;

pub const PROJECT: &str = "ecommerce-platform";

/// The reference answers, the one copy every test reads.
pub const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/reference.toml");

/// A generated project (its directory lives as long as the test binary) and its model.
pub struct Generated {
    pub root: PathBuf,
    pub model: ArchitectureModel,
    _dir: tempfile::TempDir,
}

/// The reference project: `arch-init --name ecommerce-platform --yes --answers FIXTURE`.
#[allow(dead_code, reason = "not every test binary checks both projects")]
pub fn reference() -> &'static Generated {
    static REFERENCE: OnceLock<Generated> = OnceLock::new();
    REFERENCE.get_or_init(|| generate(&["--answers", FIXTURE]))
}

/// The default project: `arch-init --name ecommerce-platform --yes`, every answer defaulted.
#[allow(dead_code, reason = "not every test binary checks both projects")]
pub fn defaults() -> &'static Generated {
    static DEFAULTS: OnceLock<Generated> = OnceLock::new();
    DEFAULTS.get_or_init(|| generate(&[]))
}

/// The modular monolith: `arch-init --name ecommerce-platform --yes --team-size 5-15`.
#[allow(dead_code, reason = "not every test binary checks every project")]
pub fn monolith() -> &'static Generated {
    static MONOLITH: OnceLock<Generated> = OnceLock::new();
    MONOLITH.get_or_init(|| generate(&["--team-size", "5-15"]))
}

fn generate(answers: &[&str]) -> Generated {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join(PROJECT);
    cargo_bin_cmd!("arch-init")
        .current_dir(dir.path())
        .args([
            "--name", PROJECT, "--yes", "--no-git", "--quiet", "--output",
        ])
        .arg(&root)
        .args(answers)
        .assert()
        .success();
    let model = model_of(&root);
    Generated {
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
    assert!(!model.units.is_empty(), "the project's model has no units");
    model
}
