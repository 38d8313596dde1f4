//! The dependency arrows of docs/architecture.md, checked against `cargo metadata`: a forbidden
//! arrow fails here. Components are recognised by their folder (`components/<id>`) and a
//! component's own service library (a crate only it uses, depending on component-side crates
//! only) by that use, so a new component needs no edit here; any other new crate under
//! `crates/` must be given its arrows below.
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

/// For each crate under `crates/`: the workspace crates it may depend on (normal and build
/// dependencies; dev-dependencies are the tests' business).
const ALLOWED: &[(&str, &[&str])] = &[
    ("todo-domain", &[]),
    ("assistant", &["todo-domain"]),
    ("dapr-client", &[]),
    ("contract-schemas", &[]),
    ("component-kit", &["todo-domain", "dapr-client"]),
    (
        "task-api",
        &["todo-domain", "assistant", "dapr-client", "component-kit"],
    ),
    (
        "audit-log",
        &["todo-domain", "dapr-client", "component-kit"],
    ),
    ("spin-manifest", &[]),
    ("dapr-sidecar", &[]),
    ("spin-host", &["spin-manifest", "dapr-sidecar"]),
    ("todo-dev", &["spin-host", "spin-manifest", "dapr-sidecar"]),
];

/// What a component may use besides these: its own service library (a crate under `crates/`
/// that no other component uses and that is itself allowed only the component-side crates).
const COMPONENT_SIDE: &[&str] = &["todo-domain", "assistant", "dapr-client", "component-kit"];

/// Pure crates: no I/O crate anywhere below them.
const PURE: &[&str] = &["todo-domain", "assistant"];

/// Crates that do I/O or belong to a host; the pure crates must not reach them, even indirectly.
const IO_CRATES: &[&str] = &[
    "tokio", "hyper", "reqwest", "rusqlite", "spin-sdk", "wasmtime", "mio", "socket2",
];

struct Package {
    name: String,
    dir: String,
    deps: BTreeSet<String>,
}

fn metadata(no_deps: bool) -> Value {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = Command::new(cargo);
    command
        .current_dir(workspace)
        .args(["metadata", "--format-version", "1", "--offline"]);
    if no_deps {
        command.arg("--no-deps");
    }
    let output = command.output().expect("cargo metadata runs");
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

fn workspace_packages() -> Vec<Package> {
    let metadata = metadata(true);
    let root = metadata["workspace_root"].as_str().unwrap().to_owned();
    metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let manifest = p["manifest_path"].as_str().unwrap();
            let dir = Path::new(manifest)
                .parent()
                .unwrap()
                .strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let deps = p["dependencies"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|d| d["kind"].as_str() != Some("dev") && d["path"].is_string())
                .map(|d| d["name"].as_str().unwrap().to_owned())
                .collect();
            Package {
                name: p["name"].as_str().unwrap().to_owned(),
                dir,
                deps,
            }
        })
        .collect()
}

#[test]
fn every_workspace_dependency_follows_the_allowed_arrows() {
    let packages = workspace_packages();
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let components: Vec<&Package> = packages
        .iter()
        .filter(|p| p.dir.starts_with("components/"))
        .collect();
    assert!(
        components.iter().any(|c| c.name == "chat-api"),
        "no component found under components/"
    );
    let mut service_libraries: BTreeMap<&str, &str> = BTreeMap::new();
    let mut violations = Vec::new();
    for component in &components {
        for dep in &component.deps {
            if COMPONENT_SIDE.contains(&dep.as_str()) {
                continue;
            }
            let library = packages.iter().find(|p| &p.name == dep);
            match library {
                Some(lib) if lib.dir.starts_with("components/") => violations.push(format!(
                    "component {} depends on component {dep}",
                    component.name
                )),
                Some(lib)
                    if lib.dir.starts_with("crates/")
                        && lib
                            .deps
                            .iter()
                            .all(|d| COMPONENT_SIDE.contains(&d.as_str())) =>
                {
                    if let Some(other) = service_libraries.insert(&lib.name, &component.name) {
                        violations.push(format!(
                            "{dep} is the service library of both {other} and {}",
                            component.name
                        ));
                    }
                }
                _ => violations.push(format!(
                    "component {} depends on {dep}, which is host-side or not a service library",
                    component.name
                )),
            }
        }
    }
    for package in packages.iter().filter(|p| p.dir.starts_with("crates/")) {
        if service_libraries.contains_key(package.name.as_str()) {
            continue; // checked above: component-side dependencies only, one component
        }
        let Some(allowed) = allowed.get(package.name.as_str()) else {
            violations.push(format!(
                "crate {} is not in docs/architecture.md's table (and ALLOWED here)",
                package.name
            ));
            continue;
        };
        for dep in &package.deps {
            if !allowed.contains(&dep.as_str()) {
                violations.push(format!("{} → {dep} is not an allowed arrow", package.name));
            }
        }
    }
    assert!(violations.is_empty(), "{violations:#?}");
}

#[test]
fn the_pure_crates_reach_no_io_crate() {
    for pure in PURE {
        pure_crate_reaches_no_io_crate(pure);
    }
}

fn pure_crate_reaches_no_io_crate(pure: &str) {
    let metadata = metadata(false);
    let nodes = metadata["resolve"]["nodes"].as_array().unwrap();
    let name_of = |id: &str| {
        metadata["packages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == id)
            .map(|p| p["name"].as_str().unwrap().to_owned())
            .unwrap()
    };
    let crate_id = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == pure)
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .unwrap_or_else(|| panic!("{pure} is a workspace member"));
    // Everything the crate needs to build (normal dependencies, transitively).
    let mut seen = BTreeSet::new();
    let mut stack = vec![crate_id];
    while let Some(id) = stack.pop() {
        if !seen.insert(id.clone()) {
            continue;
        }
        let node = nodes.iter().find(|n| n["id"] == id.as_str()).unwrap();
        for dep in node["deps"].as_array().unwrap() {
            let normal = dep["dep_kinds"]
                .as_array()
                .unwrap()
                .iter()
                .any(|k| k["kind"].is_null());
            if normal {
                stack.push(dep["pkg"].as_str().unwrap().to_owned());
            }
        }
    }
    let reached: BTreeSet<String> = seen.iter().map(|id| name_of(id)).collect();
    assert!(
        reached.contains("chrono"),
        "the walk found {pure}'s dependencies"
    );
    let io: Vec<&str> = IO_CRATES
        .iter()
        .copied()
        .filter(|c| reached.contains(*c))
        .collect();
    assert!(io.is_empty(), "{pure} reaches I/O crates: {io:?}");
}
