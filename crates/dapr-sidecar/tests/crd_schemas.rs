//! Every Dapr resource under the repo's `dapr/` is valid against Dapr 1.18's own CRD schemas
//! (`schemas/crds/`, see SOURCES.md there), unknown fields refused; and the sidecar's
//! loader refuses what those schemas refuse.

use std::path::{Path, PathBuf};

use dapr_sidecar::Resources;
use dapr_sidecar::testing::crd::{CrdSchemas, yaml_files};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn schemas() -> CrdSchemas {
    let dir = repo().join("schemas/crds");
    CrdSchemas::load_dir(&dir).expect("the CRD schemas load")
}

#[test]
fn the_crds_describe_every_dapr_kind_we_use() {
    let types = schemas().types();
    for (api_version, kind) in [
        ("dapr.io/v1alpha1", "Component"),
        ("dapr.io/v1alpha1", "Configuration"),
        ("dapr.io/v1alpha1", "Resiliency"),
        ("dapr.io/v1alpha1", "Subscription"),
        ("dapr.io/v2alpha1", "Subscription"),
    ] {
        assert!(
            types.contains(&(api_version.to_owned(), kind.to_owned())),
            "{api_version} {kind}: {types:?}"
        );
    }
}

#[test]
fn every_file_under_dapr_is_valid_against_the_crd_schemas() {
    let schemas = schemas();
    let mut checked = Vec::new();
    let mut errors = Vec::new();
    for file in yaml_files(&repo().join("dapr")).expect("dapr/ lists") {
        let report = schemas.validate_file(&file).expect("parses");
        for (api_version, kind) in &report.unchecked {
            // Only the `dapr run -f` file has no kind; any other document must be a Dapr one.
            assert!(
                api_version.is_empty() && kind.is_empty() && file.ends_with("dapr.yaml"),
                "{}: {api_version} {kind} is not a Dapr resource",
                file.display()
            );
        }
        checked.extend(report.checked.into_iter().map(|(_, kind, _)| kind));
        errors.extend(report.errors);
    }
    assert!(errors.is_empty(), "{errors:#?}");
    for kind in ["Component", "Configuration", "Resiliency", "Subscription"] {
        assert!(checked.iter().any(|k| k == kind), "no {kind} checked");
    }
}

/// Fields our old `dapr/` files had, that daprd's types do not: both the schema and the loader
/// refuse them, naming the file and the field.
#[test]
fn the_schemas_and_the_loader_refuse_the_same_unknown_fields() {
    let schemas = schemas();
    let cases = [
        (
            "initialInterval",
            "apiVersion: dapr.io/v1alpha1\nkind: Resiliency\nmetadata: {name: r}\nspec:\n  policies:\n    retries:\n      r: {policy: exponential, initialInterval: 200ms}\n  targets: {}\n",
        ),
        (
            "scopes",
            "apiVersion: dapr.io/v1alpha1\nkind: Configuration\nmetadata: {name: c}\nspec: {}\nscopes: [a]\n",
        ),
        (
            "circuitBreakerCacheSize",
            "apiVersion: dapr.io/v1alpha1\nkind: Resiliency\nmetadata: {name: r}\nspec:\n  policies: {}\n  targets:\n    components:\n      p:\n        inbound: {circuitBreakerCacheSize: 3}\n",
        ),
        (
            "defualt",
            "apiVersion: dapr.io/v2alpha1\nkind: Subscription\nmetadata: {name: s}\nspec:\n  pubsubname: p\n  topic: t\n  routes: {defualt: /x}\n",
        ),
        (
            "secretkeyRef",
            "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: c}\nspec:\n  type: state.redis\n  version: v1\n  metadata:\n    - name: redisPassword\n      secretkeyRef: {name: s}\n",
        ),
    ];
    for (field, text) in cases {
        let file = Path::new("case.yaml");
        let report = schemas.validate_str(file, text).expect("parses");
        assert!(
            report.errors.iter().any(|e| e.contains(field)),
            "{field}: schema errors {:#?}",
            report.errors
        );
        let mut resources = Resources::default();
        let err = resources
            .add_str(file, text)
            .expect_err("the loader refuses it");
        let message = err.to_string();
        assert!(
            message.starts_with("case.yaml: ") && message.contains(field),
            "{field}: {message}"
        );
    }
}
