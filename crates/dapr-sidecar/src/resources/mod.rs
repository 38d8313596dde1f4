//! Loader of a Dapr resources folder (the repo's `dapr/`): every YAML document of every `.yaml` /
//! `.yml` file under it (recursively, multi-document files included) becomes a typed
//! [`Component`], [`Subscription`] (`dapr.io/v2alpha1` and `v1alpha1`), [`Resiliency`] or
//! [`Configuration`]. Documents of other kinds (or without a `kind`, such as a `dapr run -f` file)
//! are ignored, as daprd ignores them.
//!
//! daprd logs and skips a resource it cannot read; here unknown fields and invalid values of a
//! known kind are an error naming the file and the field, so that a typo in a subscription does
//! not silently lose events. Routing rules are compiled when loading, so an expression outside
//! the supported CEL subset is a load-time error too.
//!
//! One module per kind, as daprd keeps one API package per kind; this module is the loader
//! (daprd `pkg/internal/loader/disk`):
//!
//! - `component`: `kind: Component` (daprd `pkg/apis/components/v1alpha1`).
//! - `subscription`: `kind: Subscription` (`pkg/apis/subscriptions/{v2alpha1,v1alpha1}`,
//!   normalised as `pkg/runtime/pubsub/subscriptions.go` does).
//! - `resiliency`: `kind: Resiliency` (`pkg/apis/resiliency/v1alpha1`) and the policy daprd
//!   applies to deliveries (`pkg/resiliency`).
//! - `configuration`: `kind: Configuration` (`pkg/apis/configuration/v1alpha1`,
//!   `pkg/config/configuration.go`).

mod component;
mod configuration;
mod resiliency;
mod subscription;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use component::{Component, ComponentAuth, ComponentSpec, MetadataItem, SecretKeyRef};
pub use configuration::{AccessControl, AccessOperation, AccessPolicy, Configuration, Feature};
pub use resiliency::{
    ActorPolicyNames, BackoffKind, CircuitBreakerPolicy, ComponentPolicyNames, Policies,
    PolicyNames, Resiliency, ResiliencySpec, RetryPolicy, Targets,
};
pub use subscription::{BulkSubscribe, RoutingRule, Subscription};

/// A resource that could not be loaded: which file, and what is wrong in it (with the field path
/// and line when the YAML parser knows them).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", file.display())]
pub struct ResourceError {
    pub file: PathBuf,
    pub message: String,
}

/// Everything loaded from a resources folder, in file order (files sorted by path).
#[derive(Debug, Clone, Default)]
pub struct Resources {
    pub components: Vec<Component>,
    pub subscriptions: Vec<Subscription>,
    pub resiliencies: Vec<Resiliency>,
    pub configurations: Vec<Configuration>,
}

/// A resource file's document: the Kubernetes envelope around a kind's `spec` (daprd decodes
/// each kind into its own `TypeMeta` + `ObjectMeta` + `Spec` + `Scopes` struct the same way).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ResourceDoc<S> {
    #[serde(rename = "apiVersion")]
    #[allow(dead_code)]
    pub api_version: String,
    #[allow(dead_code)]
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Missing = the kind's zero value, as Go's decoder leaves it.
    #[serde(default)]
    pub spec: S,
    #[serde(default)]
    pub scopes: Vec<String>,
}

/// `metadata` of a resource (Kubernetes `ObjectMeta`; other fields are accepted and ignored).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct ObjectMeta {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

impl Resources {
    /// Loads every YAML file under `dir` (recursively, in path order).
    pub fn load(dir: &Path) -> Result<Self, ResourceError> {
        let mut files = Vec::new();
        collect_yaml_files(dir, &mut files).map_err(|err| ResourceError {
            file: dir.to_owned(),
            message: err.to_string(),
        })?;
        files.sort();
        let mut resources = Resources::default();
        for file in files {
            let text = std::fs::read_to_string(&file).map_err(|err| ResourceError {
                file: file.clone(),
                message: err.to_string(),
            })?;
            resources.add_str(&file, &text)?;
        }
        Ok(resources)
    }

    /// Parses the YAML documents of one file (named `file` in errors) and adds its resources.
    pub fn add_str(&mut self, file: &Path, text: &str) -> Result<(), ResourceError> {
        let error = |message: String| ResourceError {
            file: file.to_owned(),
            message,
        };
        // First pass: kind and apiVersion of each document.
        let mut heads = Vec::new();
        for document in serde_yaml_ng::Deserializer::from_str(text) {
            let value = serde_yaml_ng::Value::deserialize(document)
                .map_err(|err| error(err.to_string()))?;
            let field = |name: &str| {
                value
                    .get(name)
                    .and_then(serde_yaml_ng::Value::as_str)
                    .map(str::to_owned)
            };
            heads.push((field("kind"), field("apiVersion")));
        }
        // Second pass: each document of a known kind into its type, so that errors carry the
        // field path and line.
        for (index, document) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
            let (kind, api_version) = &heads[index];
            let doc_error = |message: String| {
                if heads.len() > 1 {
                    error(format!("document {}: {message}", index + 1))
                } else {
                    error(message)
                }
            };
            match kind.as_deref() {
                Some("Component") => {
                    let component = component::parse(document, file).map_err(doc_error)?;
                    self.components.push(component);
                }
                Some("Subscription") => {
                    let subscription = subscription::parse(document, api_version.as_deref(), file)
                        .map_err(doc_error)?;
                    self.subscriptions.push(subscription);
                }
                Some("Resiliency") => {
                    let resiliency = resiliency::parse(document, file).map_err(doc_error)?;
                    self.resiliencies.push(resiliency);
                }
                Some("Configuration") => {
                    let configuration = configuration::parse(document, file).map_err(doc_error)?;
                    self.configurations.push(configuration);
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The component named `name`.
    pub fn component(&self, name: &str) -> Option<&Component> {
        self.components.iter().find(|c| c.metadata.name == name)
    }

    /// The configuration named `name`.
    pub fn configuration(&self, name: &str) -> Option<&Configuration> {
        self.configurations.iter().find(|c| c.metadata.name == name)
    }
}

fn collect_yaml_files(dir: &Path, files: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            collect_yaml_files(&path, files)?;
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"))
        {
            files.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// Resources from one YAML text, named `test.yaml` in errors.
    pub(super) fn load(text: &str) -> Result<Resources, ResourceError> {
        let mut resources = Resources::default();
        resources.add_str(Path::new("test.yaml"), text)?;
        Ok(resources)
    }

    #[test]
    fn the_repo_resources_folder_loads() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dapr");
        let resources = Resources::load(&dir).expect("dapr/ loads");
        let names: Vec<_> = resources.components.iter().map(Component::name).collect();
        assert_eq!(names, ["pubsub", "secretstore", "statestore"]);
        assert_eq!(resources.subscriptions.len(), 3);
        assert_eq!(resources.resiliencies.len(), 1);
        assert_eq!(resources.configurations.len(), 1);
        let recurring = resources
            .subscriptions
            .iter()
            .find(|s| s.name == "recurring-task-completed")
            .expect("recurring subscription");
        assert_eq!(
            recurring.rules[0].match_expr,
            "event.type == \"task.completed\""
        );
        assert_eq!(recurring.scopes, ["recurring-task-service"]);
        let (retry, timeout) = resources.component_inbound_policy("audit-service", "pubsub");
        let retry = retry.expect("inbound retry");
        assert_eq!(retry.policy, BackoffKind::Exponential);
        assert_eq!(retry.initial_interval, Duration::from_millis(200));
        assert_eq!(retry.max_retries, 8);
        assert_eq!(timeout, None);
        let config = resources.configuration("chat-api-config").expect("config");
        let acl = config.access_control.as_ref().expect("access control");
        assert_eq!(acl.policies[0].operations[0].http_verb, ["POST"]);
    }

    #[test]
    fn documents_of_other_kinds_and_without_kind_are_ignored() {
        let resources = load(
            "version: 1\napps: []\n---\napiVersion: dapr.io/v1alpha1\nkind: HTTPEndpoint\nmetadata: {name: x}\nspec: {baseUrl: http://x}\n---\n",
        )
        .expect("loads");
        assert!(resources.components.is_empty());
    }

    #[test]
    fn an_unknown_field_is_an_error_naming_the_field() {
        let err = load(
            "apiVersion: dapr.io/v2alpha1\nkind: Subscription\nmetadata: {name: s}\nspec:\n  pubsubname: p\n  topic: t\n  routes:\n    defualt: /x\n",
        )
        .expect_err("typo");
        assert!(err.to_string().starts_with("test.yaml: "), "{err}");
        assert!(err.message.contains("defualt"), "{err}");
    }
}
