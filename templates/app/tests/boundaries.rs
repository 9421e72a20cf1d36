//! The modules' boundaries, checked on every build (in the spirit of Spring Modulith's
//! `ApplicationModules.verify()`): a module depends on the shared crates and never on another
//! module, so only `app` knows them all, and each module reaches another only through its
//! public API, in process. A module's code and migrations name no other module's schema, so
//! none reads another's tables.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// The workspace's packages under `modules/`: name → manifest directory.
fn modules(metadata: &Value) -> BTreeMap<String, PathBuf> {
    metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|package| {
            let name = package["name"].as_str()?;
            let dir = Path::new(package["manifest_path"].as_str()?).parent()?;
            (dir.parent()?.file_name()? == "modules").then(|| (name.to_owned(), dir.to_path_buf()))
        })
        .collect()
}

fn metadata() -> Value {
    let output = std::process::Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("cargo metadata prints JSON")
}

/// `(module, dependency)` for every dependency of a module on another module.
fn crossings(metadata: &Value) -> Vec<(String, String)> {
    let modules = modules(metadata);
    let mut found = Vec::new();
    for package in metadata["packages"].as_array().unwrap() {
        let name = package["name"].as_str().unwrap();
        if !modules.contains_key(name) {
            continue;
        }
        for dependency in package["dependencies"].as_array().unwrap() {
            let on = dependency["name"].as_str().unwrap();
            if on != name && modules.contains_key(on) {
                found.push((name.to_owned(), on.to_owned()));
            }
        }
    }
    found
}

#[test]
fn no_module_depends_on_another_module() {
    let metadata = metadata();
    assert!(
        modules(&metadata).len() >= 2,
        "the workspace has modules under modules/"
    );
    let crossings = crossings(&metadata);
    assert!(
        crossings.is_empty(),
        "modules depend on other modules (only `app` may assemble them; call another module through the client `app` hands you): {crossings:?}"
    );
}

/// Every `.rs` and `.sql` file under `dir`.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() && path.file_name().is_some_and(|n| n != "target") {
            sources(&path, out);
        } else if path
            .extension()
            .is_some_and(|ext| ext == "rs" || ext == "sql")
        {
            out.push(path);
        }
    }
}

#[test]
fn no_module_names_another_modules_schema() {
    let modules = modules(&metadata());
    let mut trespasses = Vec::new();
    for (name, dir) in &modules {
        let mut files = Vec::new();
        sources(dir, &mut files);
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            for other in modules.keys().filter(|other| *other != name) {
                let schema = other.replace('-', "_");
                if text.contains(&format!("{schema}.")) || text.contains(&format!("\"{schema}\"."))
                {
                    trespasses.push(format!("{} names the schema {schema}", file.display()));
                }
            }
        }
    }
    assert!(
        trespasses.is_empty(),
        "a module reads another module's tables; ask that module through its API instead: {trespasses:?}"
    );
}
