//! The modular monolith's deployment files, checked offline as the reference's are: one unit
//! (`app`) beside its one database and Redis, no broker, no service of its own per module, and
//! every file passing the validators its team runs (`scripts/install-validators.sh` installs
//! them; a missing one fails its test, never skips it).

use std::path::Path;
use std::process::Command;

use serde_json::Value;

#[allow(dead_code, reason = "this binary checks the monolith only")]
mod project;

use project::validators::{assert_success, run, tool};

fn root() -> &'static Path {
    &project::monolith().root
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|err| panic!("{path}: {err}"))
}

/// Every document of a multi-document YAML text.
fn documents(text: &str) -> Vec<Value> {
    serde_saphyr::from_multiple::<Value>(text).unwrap()
}

#[test]
fn compose_runs_the_app_beside_one_postgres_and_redis_and_no_broker() {
    let compose: Value = serde_saphyr::from_str(&read("docker-compose.yml")).unwrap();
    let services: Vec<&str> = compose["services"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert!(services.contains(&"app"), "{services:?}");
    assert!(
        services.iter().any(|s| s.contains("postgres")),
        "{services:?}"
    );
    assert!(services.iter().any(|s| s.contains("redis")), "{services:?}");
    assert!(
        !services
            .iter()
            .any(|s| s.contains("kafka") || s.ends_with("-service") || *s == "api-gateway"),
        "a monolith runs no broker and no service per module: {services:?}"
    );
    let app = &compose["services"]["app"];
    let env = serde_json::to_string(&app["environment"]).unwrap();
    assert!(env.contains("DATABASE_URL"), "{env}");
    assert!(!env.contains("KAFKA_BROKERS"), "{env}");
}

#[test]
fn kubernetes_runs_one_deployment_whose_network_policies_follow_its_real_edges() {
    let kubectl = tool("kubectl");
    for overlay in ["dev", "prod"] {
        let output = run(Command::new(&kubectl).arg("kustomize").arg(
            root()
                .join("infrastructure/kubernetes/overlays")
                .join(overlay),
        ));
        assert_success(&format!("kubectl kustomize {overlay}"), &output);
        let docs = documents(&String::from_utf8_lossy(&output.stdout));
        let deployments: Vec<&str> = docs
            .iter()
            .filter(|d| d["kind"] == "Deployment")
            .map(|d| d["metadata"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(deployments, ["app"], "{overlay}");
        let policies = docs.iter().filter(|d| d["kind"] == "NetworkPolicy").count();
        assert!(policies > 0, "{overlay}: no NetworkPolicy");
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(!text.contains("kafka"), "{overlay} names a broker");
    }
}

#[test]
fn every_yaml_file_passes_yamllint_and_the_dockerfile_hadolint() {
    let output = run(Command::new(tool("yamllint")).current_dir(root()).args([
        "--strict",
        "-c",
        ".yamllint.yaml",
        ".",
    ]));
    assert_success("yamllint", &output);
    let output = run(Command::new(tool("hadolint")).arg(root().join("app/Dockerfile")));
    assert_success("hadolint app/Dockerfile", &output);
    assert!(!root().join("devstack").exists());
    assert!(!root().join("modules/order-service/Dockerfile").exists());
}

#[test]
fn the_workflows_pass_actionlint_and_the_scripts_shellcheck() {
    let output = run(Command::new(tool("actionlint")).current_dir(root()));
    assert_success("actionlint", &output);
    for script in ["scripts/load.sh", "scripts/walkthrough.sh"] {
        let output = run(Command::new(tool("shellcheck")).arg(root().join(script)));
        assert_success(&format!("shellcheck {script}"), &output);
    }
    let load = read("scripts/load.sh");
    assert!(load.contains("-p app -p loadgen"), "{load}");
    assert!(load.contains("APP_ADMIN_EMAIL"), "{load}");
}
