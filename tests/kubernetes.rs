//! The generated Kubernetes manifests of the default and the reference project, as `kubectl
//! kustomize` builds their `dev` and `prod` overlays, checked against the architecture model
//! the library derives for each project: every unit deployed, probed, limited and locked
//! down; the model's replicas, autoscaling and disruption figures; network policies that
//! allow exactly the model's calls and each unit's own datastores; and the prod overlay as the
//! deploy workflow applies it, every image by digest, through checkov. Needs `kubectl` (with
//! kustomize v5) and `checkov` (`scripts/install-validators.sh`): without them these tests
//! fail, they never skip.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use arch_init::model::{ArchitectureModel, StoreKind, Unit, UnitKind};
use serde_json::{Value, json};

mod project;

use project::PROJECT;
use project::validators::{assert_success, run, tool};

/// The repository owner and image digest the tests deploy with, as the deploy workflow
/// would after `docker/build-push-action` pushed `ghcr.io/<owner>/<unit>`.
const OWNER: &str = "acme";
const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// A project's model and its overlays as built by kustomize: `dev` and `prod` as
/// committed, `release` the prod overlay as the deploy workflow applies it.
struct Built {
    model: ArchitectureModel,
    dev: Vec<Value>,
    prod: Vec<Value>,
    release: Vec<Value>,
    /// `prod` and `release` as kustomize printed them, for checkov.
    prod_yaml: String,
    release_yaml: String,
}

/// The default project's overlays, built once, and its model.
fn built() -> &'static Built {
    static BUILT: OnceLock<Built> = OnceLock::new();
    BUILT.get_or_init(|| build(project::defaults()))
}

/// The same for the reference project, whose peak needs hundreds of replicas (and poolers).
fn built_at_peak() -> &'static Built {
    static BUILT: OnceLock<Built> = OnceLock::new();
    BUILT.get_or_init(|| build(project::reference()))
}

/// Builds `project`'s overlays.
fn build(project: &project::Generated) -> Built {
    let kubernetes = project.root.join("infrastructure/kubernetes");
    let prod = kubernetes.join("overlays/prod");
    let dev_yaml = kustomize(&kubernetes.join("overlays/dev"));
    let prod_yaml = kustomize(&prod);
    pin_images_by_digest(&prod);
    let release_yaml = kustomize(&prod);
    Built {
        dev: parse(&dev_yaml),
        prod: parse(&prod_yaml),
        release: parse(&release_yaml),
        prod_yaml,
        release_yaml,
        model: project.model.clone(),
    }
}

/// What the deploy workflow's `kustomize edit set image <unit>=ghcr.io/<owner>/<unit>@<digest>`
/// does to `overlay`'s kustomization, for every image it names: the entry becomes the pushed
/// image's name and digest, its tag gone. (The file is written back as JSON, which is YAML.)
fn pin_images_by_digest(overlay: &Path) {
    let path = overlay.join("kustomization.yaml");
    let mut kustomization: Value =
        serde_saphyr::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    for image in kustomization["images"].as_array_mut().unwrap() {
        let unit = image["name"].as_str().unwrap().to_owned();
        *image = json!({
            "name": unit,
            "newName": format!("ghcr.io/{OWNER}/{unit}"),
            "digest": DIGEST,
        });
    }
    std::fs::write(&path, serde_json::to_string_pretty(&kustomization).unwrap()).unwrap();
}

fn parse(yaml: &str) -> Vec<Value> {
    serde_saphyr::from_multiple::<Value>(yaml).unwrap()
}

/// `kubectl kustomize overlay`.
fn kustomize(overlay: &Path) -> String {
    let output = run(Command::new(tool("kubectl")).arg("kustomize").arg(overlay));
    assert_success(&format!("kubectl kustomize {}", overlay.display()), &output);
    String::from_utf8(output.stdout).unwrap()
}

fn of_kind<'a>(docs: &'a [Value], kind: &str) -> impl Iterator<Item = &'a Value> {
    let kind = kind.to_owned();
    docs.iter().filter(move |d| d["kind"] == kind.as_str())
}

#[track_caller]
fn named<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    of_kind(docs, kind)
        .find(|d| d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} named {name}"))
}

fn names(docs: &[Value], kind: &str) -> BTreeSet<String> {
    of_kind(docs, kind)
        .map(|d| d["metadata"]["name"].as_str().unwrap().to_owned())
        .collect()
}

fn unit_names(model: &ArchitectureModel) -> BTreeSet<String> {
    model.units.iter().map(|u| u.name.clone()).collect()
}

fn container<'a>(deployment: &'a Value, name: &str) -> &'a Value {
    deployment["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("{} has no container {name}", deployment["metadata"]["name"]))
}

fn init_containers(deployment: &Value) -> &[Value] {
    deployment["spec"]["template"]["spec"]["initContainers"]
        .as_array()
        .map_or(&[], Vec::as_slice)
}

/// Kubernetes quantity in millicores.
fn millicores(cpu: &Value) -> u64 {
    let text = match cpu {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    text.strip_suffix('m').map_or_else(
        || text.parse::<u64>().unwrap() * 1000,
        |m| m.parse().unwrap(),
    )
}

fn config<'a>(docs: &'a [Value], unit: &Unit) -> &'a Value {
    &named(docs, "ConfigMap", &format!("{}-config", unit.name))["data"]
}

/// The model's synchronous call edges, one per caller and callee.
fn call_edges(model: &ArchitectureModel) -> BTreeSet<(String, String)> {
    model
        .calls
        .iter()
        .map(|c| (c.from.clone(), c.to.clone()))
        .collect()
}

fn stores_of_kind(model: &ArchitectureModel, unit: &Unit, kind: StoreKind) -> BTreeSet<String> {
    model
        .stores
        .iter()
        .filter(|s| s.kind == kind && unit.stores.contains(&s.name))
        .map(|s| s.name.clone())
        .collect()
}

/// The in-cluster datastores (the broker included) `unit` may reach.
fn owned_datastores(model: &ArchitectureModel, unit: &Unit) -> BTreeSet<String> {
    let uses_broker = !unit.publishes.is_empty() || !unit.consumes.is_empty();
    model
        .stores
        .iter()
        .filter(|s| match s.kind {
            StoreKind::Postgres | StoreKind::Redis => unit.stores.contains(&s.name),
            StoreKind::Kafka => uses_broker,
            StoreKind::External => false,
        })
        .map(|s| s.name.clone())
        .collect()
}

/// The `matchLabels` value of `key` in a policy peer's pod selector, if the peer is a pod
/// selector of this namespace only (no namespace selector, no address block).
fn local_pod(peer: &Value, key: &str) -> Option<String> {
    if peer.get("namespaceSelector").is_some() || peer.get("ipBlock").is_some() {
        return None;
    }
    peer["podSelector"]["matchLabels"][key]
        .as_str()
        .map(str::to_owned)
}

fn rules<'a>(policy: &'a Value, direction: &str) -> &'a [Value] {
    policy["spec"][direction]
        .as_array()
        .map_or(&[], Vec::as_slice)
}

fn peers<'a>(rule: &'a Value, direction: &str) -> &'a [Value] {
    let key = if direction == "ingress" { "from" } else { "to" };
    rule[key].as_array().map_or(&[], Vec::as_slice)
}

fn tcp_ports(rule: &Value) -> BTreeSet<u64> {
    rule["ports"]
        .as_array()
        .map_or(&[][..], Vec::as_slice)
        .iter()
        .filter(|p| p["protocol"] == "TCP")
        .map(|p| p["port"].as_u64().unwrap())
        .collect()
}

const NAME: &str = "app.kubernetes.io/name";
const INSTANCE: &str = "app.kubernetes.io/instance";

#[test]
fn every_unit_has_a_deployment_a_service_and_its_configuration() {
    let Built {
        model, dev, prod, ..
    } = built();
    let units = unit_names(model);
    for (overlay, docs) in [("dev", dev), ("prod", prod)] {
        assert_eq!(names(docs, "Deployment"), units, "{overlay} Deployments");
        assert_eq!(names(docs, "Service"), units, "{overlay} Services");
        for d in docs.iter().filter(|d| d["kind"] != "Namespace") {
            let expected = if overlay == "dev" {
                format!("{PROJECT}-dev")
            } else {
                PROJECT.to_owned()
            };
            assert_eq!(d["metadata"]["namespace"], expected.as_str(), "{d}");
        }
        assert!(
            of_kind(docs, "Secret").next().is_none(),
            "{overlay}: Secrets are the operator's, never committed"
        );
    }
    for unit in &model.units {
        let service = named(prod, "Service", &unit.name);
        assert_eq!(service["spec"]["type"], "ClusterIP");
        assert_eq!(service["spec"]["selector"][NAME], unit.name.as_str());
        let ports = service["spec"]["ports"].as_array().unwrap();
        assert_eq!(ports.len(), 1, "{}", unit.name);
        assert_eq!(ports[0]["name"], "http");
        assert_eq!(ports[0]["port"], u64::from(unit.port));
        let deployment = named(prod, "Deployment", &unit.name);
        assert_eq!(deployment["metadata"]["labels"][NAME], unit.name.as_str());
        assert_eq!(
            deployment["metadata"]["labels"]["app.kubernetes.io/part-of"],
            PROJECT
        );
        let app = container(deployment, &unit.name);
        assert_eq!(app["ports"][0]["name"], "http");
        assert_eq!(app["ports"][0]["containerPort"], u64::from(unit.port));

        // Non-secret environment: where to listen, the callees, the broker, JSON logs.
        let data = config(prod, unit);
        assert_eq!(data["HOST"], "0.0.0.0");
        assert_eq!(
            data[format!("{}_PORT", unit.env_prefix)],
            unit.port.to_string().as_str()
        );
        assert_eq!(data["LOG_FORMAT"], "json");
        let urls: BTreeSet<(String, String)> = data
            .as_object()
            .unwrap()
            .iter()
            .filter(|(key, _)| key.ends_with("_URL"))
            .map(|(key, value)| (key.clone(), value.as_str().unwrap().to_owned()))
            .collect();
        let expected: BTreeSet<(String, String)> = model
            .callees(&unit.name)
            .into_iter()
            .map(|callee| {
                let callee = model.unit(callee).unwrap();
                (
                    format!("{}_URL", callee.env_prefix),
                    format!("http://{}:{}", callee.name, callee.port),
                )
            })
            .collect();
        assert_eq!(urls, expected, "{}: callee URLs", unit.name);
        // Production never runs the gateway with CORS open to any origin.
        let cors = data.get(format!("{}_CORS_ORIGINS", unit.env_prefix));
        if unit.kind == UnitKind::Gateway {
            assert!(cors.and_then(Value::as_str).is_some_and(|o| !o.is_empty()));
        }
        let uses_broker = !unit.publishes.is_empty() || !unit.consumes.is_empty();
        assert_eq!(
            data.get("KAFKA_BROKERS").is_some(),
            uses_broker,
            "{}",
            unit.name
        );
    }
}

#[test]
fn every_deployment_is_probed_limited_and_locked_down() {
    let Built {
        model, dev, prod, ..
    } = built();
    for docs in [dev, prod] {
        for unit in &model.units {
            let deployment = named(docs, "Deployment", &unit.name);
            let pod = &deployment["spec"]["template"]["spec"];
            assert_eq!(pod["automountServiceAccountToken"], false, "{}", unit.name);
            assert_eq!(pod["enableServiceLinks"], false, "{}", unit.name);
            let pod_security = &pod["securityContext"];
            assert_eq!(pod_security["runAsNonRoot"], true, "{}", unit.name);
            assert_eq!(pod_security["runAsUser"], 65532, "{}", unit.name);
            assert_eq!(pod_security["seccompProfile"]["type"], "RuntimeDefault");

            let app = container(deployment, &unit.name);
            for (probe, path) in [
                ("livenessProbe", "/health"),
                ("readinessProbe", "/ready"),
                ("startupProbe", "/health"),
            ] {
                assert_eq!(
                    app[probe]["httpGet"]["path"], path,
                    "{}: {probe}",
                    unit.name
                );
                assert_eq!(
                    app[probe]["httpGet"]["port"], "http",
                    "{}: {probe}",
                    unit.name
                );
            }
            let checks = &model.deployment;
            let readiness = &app["readinessProbe"];
            assert_eq!(
                readiness["periodSeconds"],
                checks.health_check_interval_ms.div_ceil(1000)
            );
            assert_eq!(
                readiness["timeoutSeconds"],
                checks.check_timeout_ms.div_ceil(1000)
            );
            assert_eq!(readiness["failureThreshold"], checks.failure_threshold);

            let mut all = vec![app];
            all.extend(init_containers(deployment));
            for c in all {
                let who = format!("{}/{}", unit.name, c["name"]);
                for bound in ["requests", "limits"] {
                    for resource in ["cpu", "memory"] {
                        assert!(
                            !c["resources"][bound][resource].is_null(),
                            "{who}: no {bound}.{resource}"
                        );
                    }
                }
                assert!(
                    millicores(&c["resources"]["requests"]["cpu"])
                        <= millicores(&c["resources"]["limits"]["cpu"]),
                    "{who}"
                );
                let s = &c["securityContext"];
                assert_eq!(s["runAsNonRoot"], true, "{who}");
                assert_eq!(s["runAsUser"], 65532, "{who}");
                assert_eq!(s["readOnlyRootFilesystem"], true, "{who}");
                assert_eq!(s["allowPrivilegeEscalation"], false, "{who}");
                assert_eq!(
                    s["capabilities"]["drop"],
                    serde_json::json!(["ALL"]),
                    "{who}"
                );
                assert!(s["capabilities"]["add"].is_null(), "{who}");
                assert_eq!(s["seccompProfile"]["type"], "RuntimeDefault", "{who}");
                assert!(s["privileged"] != true, "{who}");
            }
        }
    }
}

/// The longest a unit may still be busy once it stops accepting work, in ms: its slowest
/// outgoing call with every retry and backoff, or its slowest event handler, whichever is
/// longer (a request waits on the first; leaving the consumer groups on the second).
fn longest_work_ms(model: &ArchitectureModel) -> u64 {
    let calls = model.calls.iter().map(|call| {
        let backoffs: u64 = (0..call.attempts.saturating_sub(1))
            .map(|retry| call.backoff_ms << retry)
            .sum();
        u64::from(call.attempts) * call.timeout_ms + backoffs
    });
    let handlers = model
        .topics
        .iter()
        .flat_map(|topic| &topic.subscriptions)
        .map(|subscription| subscription.handler_timeout_ms);
    calls.chain(handlers).max().unwrap_or(0)
}

#[test]
fn every_deployment_drains_before_it_stops_and_its_grace_period_outlasts_the_drain() {
    let Built {
        model, dev, prod, ..
    } = built();
    let work_secs = longest_work_ms(model).div_ceil(1000);
    assert!(work_secs > 0, "the model has calls and handlers");
    for docs in [dev, prod] {
        for unit in &model.units {
            let deployment = named(docs, "Deployment", &unit.name);
            let app = container(deployment, &unit.name);
            let drain = app["env"]
                .as_array()
                .unwrap()
                .iter()
                .find(|var| var["name"] == "SHUTDOWN_DRAIN_SECS")
                .unwrap_or_else(|| panic!("{}: no SHUTDOWN_DRAIN_SECS", unit.name));
            let drain: u64 = drain["value"].as_str().unwrap().parse().unwrap();
            assert!(
                drain >= 1,
                "{}: endpoints need time to go before the pod stops accepting",
                unit.name
            );
            let grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
                .as_u64()
                .unwrap_or_else(|| panic!("{}: no terminationGracePeriodSeconds", unit.name));
            assert!(
                grace >= drain + work_secs,
                "{}: a {grace} s grace period leaves no room after the {drain} s drain for \
                 {work_secs} s of in-flight work",
                unit.name
            );
        }
    }
}

#[test]
fn images_come_from_the_registry_with_a_moving_dev_tag_and_a_pinned_prod_tag() {
    let Built {
        model, dev, prod, ..
    } = built();
    for unit in &model.units {
        let dev_image = container(named(dev, "Deployment", &unit.name), &unit.name)["image"]
            .as_str()
            .unwrap();
        assert_eq!(dev_image, format!("ghcr.io/example/{}:dev", unit.name));
        let deployment = named(prod, "Deployment", &unit.name);
        let prod_image = container(deployment, &unit.name)["image"].as_str().unwrap();
        let (repository, tag) = prod_image.rsplit_once(':').unwrap();
        assert_eq!(repository, format!("ghcr.io/example/{}", unit.name));
        assert!(
            tag.split('.').count() == 3 && tag.split('.').all(|n| n.parse::<u32>().is_ok()),
            "prod runs a pinned version, not {prod_image}"
        );
        for init in init_containers(deployment) {
            assert_eq!(init["image"], prod_image, "{}: init container", unit.name);
        }
    }
}

#[test]
fn the_release_runs_every_unit_from_the_image_it_pushed_by_digest() {
    let Built { model, release, .. } = built();
    for unit in &model.units {
        let deployment = named(release, "Deployment", &unit.name);
        let expected = format!("ghcr.io/{OWNER}/{}@{DIGEST}", unit.name);
        assert_eq!(
            container(deployment, &unit.name)["image"],
            expected.as_str()
        );
        for init in init_containers(deployment) {
            assert_eq!(
                init["image"],
                expected.as_str(),
                "{}: init container",
                unit.name
            );
        }
    }
}

/// checkov's Kubernetes checks over `manifests` (one multi-document YAML), as JSON.
fn checkov(manifests: &str) -> Value {
    let checkov = tool("checkov");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("manifests.yaml");
    std::fs::write(&file, manifests).unwrap();
    let output = run(Command::new(checkov)
        .args([
            "--quiet",
            "--compact",
            "--skip-download",
            "--framework",
            "kubernetes",
        ])
        // The units read their settings, secrets included, from the environment (the
        // platform's config); the values come from Secrets by reference, nothing is committed.
        .args(["--skip-check", "CKV_K8S_35", "--output", "json", "--file"])
        .arg(&file));
    serde_json::from_slice(&output.stdout).unwrap_or_else(|err| {
        panic!(
            "checkov printed no JSON ({err}):\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// The `(check, resource)` pairs checkov failed.
fn failed_checks(report: &Value) -> BTreeSet<(String, String)> {
    report["results"]["failed_checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let field = |key: &str| c[key].as_str().unwrap().to_owned();
            (field("check_id"), field("resource"))
        })
        .collect()
}

#[test]
fn checkov_passes_the_release_and_fails_an_image_deployed_by_tag() {
    let Built {
        model,
        prod_yaml,
        release_yaml,
        ..
    } = built();
    let release = checkov(release_yaml);
    assert_eq!(failed_checks(&release), BTreeSet::new(), "{release:#}");
    assert!(release["summary"]["passed"].as_u64().unwrap() > 0);
    // The committed overlay runs tags: CKV_K8S_43 ("Image should use digest") fails every
    // Deployment, which is why the deploy workflow pins digests before it applies.
    let by_tag: BTreeSet<String> = failed_checks(&checkov(prod_yaml))
        .into_iter()
        .filter(|(check, _)| check == "CKV_K8S_43")
        .map(|(_, resource)| resource)
        .collect();
    let deployments: BTreeSet<String> = model
        .units
        .iter()
        .map(|u| format!("Deployment.{PROJECT}.{}", u.name))
        .collect();
    assert_eq!(by_tag, deployments);
}

#[test]
fn services_read_their_secrets_by_reference_and_migrate_before_serving() {
    let Built { model, prod, .. } = built();
    for unit in &model.units {
        let deployment = named(prod, "Deployment", &unit.name);
        let app = container(deployment, &unit.name);
        let secret_env = |c: &Value, name: &str| -> Option<(String, String)> {
            let var = c["env"].as_array()?.iter().find(|e| e["name"] == name)?;
            assert!(
                var.get("value").is_none(),
                "{name} of {} is a literal",
                unit.name
            );
            let key = &var["valueFrom"]["secretKeyRef"];
            Some((
                key["name"].as_str().unwrap().to_owned(),
                key["key"].as_str().unwrap().to_owned(),
            ))
        };
        let own = format!("{}-secrets", unit.name);
        let signing = (unit.name == "user-service")
            .then(|| ("jwt-signing-key".to_owned(), "private-key.pem".to_owned()));
        assert_eq!(
            secret_env(app, "JWT_SIGNING_KEY"),
            signing,
            "only the user service holds the signing key ({})",
            unit.name
        );
        let public_keys = app["env"]
            .as_array()
            .and_then(|env| env.iter().find(|e| e["name"] == "JWT_PUBLIC_KEYS"))
            .unwrap_or_else(|| panic!("{} has no JWT_PUBLIC_KEYS", unit.name));
        assert_eq!(
            public_keys["valueFrom"]["configMapKeyRef"],
            serde_json::json!({"name": "jwt-public-keys", "key": "jwks.json"}),
            "{}",
            unit.name
        );
        let postgres = !stores_of_kind(model, unit, StoreKind::Postgres).is_empty();
        let redis = !stores_of_kind(model, unit, StoreKind::Redis).is_empty();
        let database = postgres.then(|| (own.clone(), "database-url".to_owned()));
        assert_eq!(secret_env(app, "DATABASE_URL"), database, "{}", unit.name);
        let cache = redis.then(|| (own.clone(), "redis-url".to_owned()));
        assert_eq!(secret_env(app, "REDIS_URL"), cache, "{}", unit.name);

        let inits = init_containers(deployment);
        if postgres {
            assert_eq!(inits.len(), 1, "{}: one migrate init container", unit.name);
            assert_eq!(inits[0]["args"], serde_json::json!(["migrate"]));
            // Behind a pooler, migrations connect directly: their lock is session-level.
            let pooled = stores_of_kind(model, unit, StoreKind::Postgres)
                .iter()
                .any(|s| model.store(s).unwrap().pooler.is_some());
            let key = if pooled {
                "direct-database-url"
            } else {
                "database-url"
            };
            assert_eq!(
                secret_env(&inits[0], "DATABASE_URL"),
                Some((own.clone(), key.to_owned())),
                "{}",
                unit.name
            );
        } else {
            assert!(inits.is_empty(), "{} has no database to migrate", unit.name);
        }
    }
}

#[test]
fn prod_starts_at_the_models_steady_count_and_dev_one_each_with_smaller_requests() {
    let Built {
        model, dev, prod, ..
    } = built();
    for unit in &model.units {
        let prod_deployment = named(prod, "Deployment", &unit.name);
        let dev_deployment = named(dev, "Deployment", &unit.name);
        assert_eq!(
            prod_deployment["spec"]["replicas"], unit.ops.steady_replicas,
            "{}",
            unit.name
        );
        assert_eq!(dev_deployment["spec"]["replicas"], 1, "{}", unit.name);
        let cpu = |d: &Value| millicores(&container(d, &unit.name)["resources"]["requests"]["cpu"]);
        assert!(cpu(prod_deployment) > cpu(dev_deployment), "{}", unit.name);
    }
}

#[test]
fn autoscalers_and_disruption_budgets_carry_the_models_figures() {
    let Built { model, prod, .. } = built();
    let units = unit_names(model);
    assert_eq!(names(prod, "HorizontalPodAutoscaler"), units);
    assert_eq!(names(prod, "PodDisruptionBudget"), units);
    for unit in &model.units {
        let hpa = &named(prod, "HorizontalPodAutoscaler", &unit.name)["spec"];
        assert_eq!(hpa["scaleTargetRef"]["kind"], "Deployment");
        assert_eq!(hpa["scaleTargetRef"]["name"], unit.name.as_str());
        // From the steady-state count up to the count verified for the peak.
        assert_eq!(
            hpa["minReplicas"], unit.ops.steady_replicas,
            "{}",
            unit.name
        );
        assert_eq!(hpa["maxReplicas"], unit.ops.replicas, "{}", unit.name);
        assert!(unit.ops.steady_replicas < unit.ops.replicas || unit.ops.replicas <= 2);
        assert_eq!(hpa["metrics"][0]["resource"]["name"], "cpu");

        let pdb = &named(prod, "PodDisruptionBudget", &unit.name)["spec"];
        assert_eq!(pdb["minAvailable"], unit.ops.min_up, "{}", unit.name);
        assert_eq!(pdb["selector"]["matchLabels"][NAME], unit.name.as_str());

        // The pool the model's connection check counts.
        let pool = config(prod, unit).get("DATABASE_MAX_CONNECTIONS").cloned();
        let expected = (!stores_of_kind(model, unit, StoreKind::Postgres).is_empty())
            .then(|| Value::from(unit.ops.pool_size.to_string()));
        assert_eq!(pool, expected, "{}", unit.name);
    }
}

#[test]
fn every_pool_at_the_autoscalers_ceiling_fits_its_database_directly_or_through_its_pooler() {
    for (case, Built { model, prod, .. }) in [("default", built()), ("peak", built_at_peak())] {
        let poolers = pools_fit(model, prod);
        // The default case's pools fit every database; the peak's do not without PgBouncer.
        assert_eq!(poolers > 0, case == "peak", "{case}: {poolers} poolers");
    }
}

/// Checks every store's connections in `prod` and answers how many poolers it has.
fn pools_fit(model: &ArchitectureModel, prod: &[Value]) -> usize {
    let mut poolers = 0;
    for store in model
        .stores
        .iter()
        .filter(|s| s.kind == StoreKind::Postgres)
    {
        // What the rendered manifests open: HPA maximum x DATABASE_MAX_CONNECTIONS per user.
        let demand: u64 = model
            .units
            .iter()
            .filter(|u| u.stores.contains(&store.name))
            .map(|u| {
                let max = named(prod, "HorizontalPodAutoscaler", &u.name)["spec"]["maxReplicas"]
                    .as_u64()
                    .unwrap();
                let pool: u64 = config(prod, u)["DATABASE_MAX_CONNECTIONS"]
                    .as_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                max * pool
            })
            .sum();
        let usable = u64::from(store.max_connections) - 10;
        match store.pooler {
            None => assert!(demand <= usable, "{}: {demand} > {usable}", store.name),
            Some(pooler) => {
                poolers += 1;
                assert!(
                    demand <= u64::from(pooler.client_connections),
                    "{}",
                    store.name
                );
                assert!(
                    u64::from(pooler.server_connections) <= usable,
                    "{}",
                    store.name
                );
                // The units may reach the pooler, and it the database, and nothing else.
                let policy = named(prod, "NetworkPolicy", &format!("pooler-{}", store.name));
                let egress: BTreeSet<Option<String>> = rules(policy, "egress")
                    .iter()
                    .flat_map(|rule| peers(rule, "egress"))
                    .map(|peer| local_pod(peer, INSTANCE))
                    .collect();
                assert!(egress.contains(&Some(store.name.clone())), "{}", store.name);
                let clients: BTreeSet<String> = rules(policy, "ingress")
                    .iter()
                    .flat_map(|rule| peers(rule, "ingress"))
                    .filter_map(|peer| local_pod(peer, NAME))
                    .collect();
                let owners: BTreeSet<String> = model
                    .units
                    .iter()
                    .filter(|u| u.stores.contains(&store.name))
                    .map(|u| u.name.clone())
                    .collect();
                assert_eq!(clients, owners, "{} pooler clients", store.name);
            }
        }
    }
    poolers
}

#[test]
fn network_policies_allow_exactly_the_models_calls() {
    let Built {
        model, dev, prod, ..
    } = built();
    for docs in [dev, prod] {
        let deny = named(docs, "NetworkPolicy", "default-deny-all");
        assert_eq!(deny["spec"]["podSelector"], serde_json::json!({}));
        assert_eq!(
            deny["spec"]["policyTypes"],
            serde_json::json!(["Ingress", "Egress"])
        );
        assert!(deny["spec"].get("ingress").is_none() && deny["spec"].get("egress").is_none());

        let mut ingress_edges = BTreeSet::new();
        let mut egress_edges = BTreeSet::new();
        for policy in of_kind(docs, "NetworkPolicy") {
            let Some(target) = policy["spec"]["podSelector"]["matchLabels"][NAME].as_str() else {
                continue;
            };
            let unit = model
                .unit(target)
                .unwrap_or_else(|| panic!("policy for unknown unit {target}"));
            assert_eq!(
                policy["spec"]["policyTypes"],
                serde_json::json!(["Ingress", "Egress"])
            );
            for rule in rules(policy, "ingress") {
                // Prometheus reaches the gateway on its internal metrics port only.
                let scrape = peers(rule, "ingress").iter().any(|peer| {
                    peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
                        == "monitoring"
                });
                let port = if scrape && model.gateway() == Some(unit) {
                    gateway_metrics_port(unit)
                } else {
                    u64::from(unit.port)
                };
                assert_eq!(tcp_ports(rule), BTreeSet::from([port]), "{target}");
                for peer in peers(rule, "ingress") {
                    if let Some(caller) = local_pod(peer, NAME) {
                        ingress_edges.insert((caller, target.to_owned()));
                    } else {
                        // Only namespaces: the ingress controller's (gateway only) and
                        // monitoring's; never an open peer.
                        let namespace =
                            peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
                                .as_str()
                                .unwrap_or_else(|| panic!("{target}: open ingress peer {peer}"));
                        assert!(
                            namespace == "monitoring"
                                || (namespace == "ingress-nginx" && model.gateway() == Some(unit)),
                            "{target} accepts connections from namespace {namespace}"
                        );
                    }
                }
                assert!(!peers(rule, "ingress").is_empty(), "{target}: open ingress");
            }
            for rule in rules(policy, "egress") {
                assert!(!peers(rule, "egress").is_empty(), "{target}: open egress");
                for peer in peers(rule, "egress") {
                    if let Some(callee) = local_pod(peer, NAME) {
                        let port = model.unit(&callee).unwrap().port;
                        assert_eq!(tcp_ports(rule), BTreeSet::from([u64::from(port)]));
                        egress_edges.insert((target.to_owned(), callee));
                    }
                }
            }
        }
        let expected = call_edges(model);
        assert_eq!(ingress_edges, expected, "callers allowed in");
        assert_eq!(egress_edges, expected, "callees allowed out");
    }
}

/// The port a datastore of `kind` listens on (HTTPS for an external provider).
fn port_of(kind: StoreKind) -> u64 {
    match kind {
        StoreKind::Postgres => 5432,
        StoreKind::Redis => 6379,
        StoreKind::Kafka => 9092,
        StoreKind::External => 443,
    }
}

/// The unit that mails (verification and reset tokens) through an SMTP server outside the
/// cluster, on ports 465 and 587.
const MAILER: &str = "user-service";

#[test]
fn no_unit_can_reach_a_datastore_it_does_not_own() {
    let Built { model, prod, .. } = built();
    for unit in &model.units {
        let policy = named(prod, "NetworkPolicy", &unit.name);
        let mut reached = BTreeSet::new();
        let mut outside = false;
        for rule in rules(policy, "egress") {
            for peer in peers(rule, "egress") {
                if let Some(store) = local_pod(peer, INSTANCE) {
                    if model.gateway() == Some(unit) && store == gateway_limits(unit) {
                        assert_eq!(tcp_ports(rule), BTreeSet::from([6379]), "{store}");
                        continue;
                    }
                    // A database's pooler, only for a database the unit owns that has one.
                    if let Some(database) = store.strip_suffix("-pooler") {
                        assert!(model.store(database).unwrap().pooler.is_some(), "{store}");
                        assert!(owned_datastores(model, unit).contains(database), "{store}");
                        assert_eq!(tcp_ports(rule), BTreeSet::from([6432]), "{store}");
                        continue;
                    }
                    let kind = model.store(&store).unwrap().kind;
                    assert_eq!(tcp_ports(rule), BTreeSet::from([port_of(kind)]), "{store}");
                    reached.insert(store);
                } else if let Some(block) = peer.get("ipBlock") {
                    outside = true;
                    // HTTPS to a provider; the user service's SMTP server for its mail.
                    let expected = if unit.name == MAILER {
                        BTreeSet::from([465, 587])
                    } else {
                        BTreeSet::from([443])
                    };
                    assert_eq!(tcp_ports(rule), expected, "{}", unit.name);
                    let except: BTreeSet<&str> = block["except"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|c| c.as_str().unwrap())
                        .collect();
                    for private in ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"] {
                        assert!(except.contains(private), "{}: {private}", unit.name);
                    }
                } else if local_pod(peer, NAME).is_none() {
                    // Anything else is DNS, and only DNS.
                    assert_eq!(
                        peer["podSelector"]["matchLabels"]["k8s-app"], "kube-dns",
                        "{}: {peer}",
                        unit.name
                    );
                    assert_eq!(
                        peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"],
                        "kube-system"
                    );
                    assert!(tcp_ports(rule).iter().all(|p| *p == 53));
                }
            }
        }
        assert_eq!(
            reached,
            owned_datastores(model, unit),
            "{} egress",
            unit.name
        );
        assert_eq!(
            outside,
            !stores_of_kind(model, unit, StoreKind::External).is_empty() || unit.name == MAILER,
            "{} reaches outside the cluster",
            unit.name
        );
    }
}

#[test]
fn only_its_owners_reach_a_datastore() {
    let Built { model, prod, .. } = built();
    // Only their owners (and their own replicas) get in.
    for store in model
        .stores
        .iter()
        .filter(|s| s.kind != StoreKind::External)
    {
        let policy = named(prod, "NetworkPolicy", &format!("store-{}", store.name));
        assert_eq!(
            policy["spec"]["podSelector"]["matchLabels"][INSTANCE],
            store.name.as_str()
        );
        let mut clients = BTreeSet::new();
        for rule in rules(policy, "ingress") {
            assert!(
                !peers(rule, "ingress").is_empty(),
                "{}: open ingress",
                store.name
            );
            for peer in peers(rule, "ingress") {
                if let Some(unit) = local_pod(peer, NAME) {
                    assert_eq!(tcp_ports(rule), BTreeSet::from([port_of(store.kind)]));
                    clients.insert(unit);
                } else if store.pooler.is_some()
                    && local_pod(peer, INSTANCE) == Some(format!("{}-pooler", store.name))
                {
                    assert_eq!(tcp_ports(rule), BTreeSet::from([5432]));
                } else {
                    assert_eq!(local_pod(peer, INSTANCE).as_ref(), Some(&store.name));
                }
            }
        }
        let owners: BTreeSet<String> = model
            .units
            .iter()
            .filter(|u| owned_datastores(model, u).contains(&store.name))
            .map(|u| u.name.clone())
            .collect();
        assert_eq!(clients, owners, "{} clients", store.name);
    }

    // The gateway's rate-limit Redis (not a store of the model): the gateway alone gets in.
    let gateway = model
        .gateway()
        .expect("the reference project has a gateway");
    let policy = named(
        prod,
        "NetworkPolicy",
        &format!("store-{}", gateway_limits(gateway)),
    );
    let clients: BTreeSet<String> = rules(policy, "ingress")
        .iter()
        .flat_map(|rule| peers(rule, "ingress"))
        .filter_map(|peer| local_pod(peer, NAME))
        .collect();
    assert_eq!(clients, BTreeSet::from([gateway.name.clone()]));
}

/// The gateway's internal port for `/metrics`: its public port + 1000.
fn gateway_metrics_port(gateway: &Unit) -> u64 {
    u64::from(gateway.port) + 1000
}

/// The Redis where the gateway's replicas share their rate limits.
fn gateway_limits(gateway: &Unit) -> String {
    format!("{}-limits", gateway.name)
}

#[test]
fn the_gateways_metrics_are_scraped_on_a_port_its_service_does_not_expose() {
    let Built {
        model, dev, prod, ..
    } = built();
    let gateway = model
        .gateway()
        .expect("the reference project has a gateway");
    let metrics = gateway_metrics_port(gateway);
    for docs in [dev, prod] {
        for unit in &model.units {
            let deployment = named(docs, "Deployment", &unit.name);
            let port = if unit == gateway {
                metrics
            } else {
                u64::from(unit.port)
            };
            assert_eq!(
                deployment["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"],
                port.to_string().as_str(),
                "{}",
                unit.name
            );
        }
        let deployment = named(docs, "Deployment", &gateway.name);
        let ports = container(deployment, &gateway.name)["ports"]
            .as_array()
            .unwrap();
        assert!(
            ports
                .iter()
                .any(|p| p["name"] == "metrics" && p["containerPort"] == metrics)
        );
        let service = named(docs, "Service", &gateway.name);
        for port in service["spec"]["ports"].as_array().unwrap() {
            assert_ne!(port["port"], metrics);
            assert_ne!(port["targetPort"], "metrics");
        }
        let data = config(docs, gateway);
        let var = |name: &str| data[format!("{}_{name}", gateway.env_prefix)].clone();
        assert_eq!(var("METRICS_PORT"), metrics.to_string().as_str());
    }
}

#[test]
fn the_gateway_finds_clients_behind_the_ingress_and_shares_its_limits_in_redis() {
    let Built { model, prod, .. } = built();
    let gateway = model
        .gateway()
        .expect("the reference project has a gateway");
    let data = config(prod, gateway);
    assert_eq!(
        data[format!("{}_TRUSTED_PROXY_HOPS", gateway.env_prefix)],
        "1"
    );
    let app = container(named(prod, "Deployment", &gateway.name), &gateway.name);
    let redis = app["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == format!("{}_REDIS_URL", gateway.env_prefix).as_str())
        .expect("the gateway's replicas share their rate limits");
    let key = &redis["valueFrom"]["secretKeyRef"];
    assert_eq!(key["name"], format!("{}-secrets", gateway.name).as_str());
    assert_eq!(key["key"], "redis-url");
}
