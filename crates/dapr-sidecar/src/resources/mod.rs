//! Loader of a Dapr resources folder (the repo's `dapr/`): every YAML document of every `.yaml` /
//! `.yml` file under it (recursively, multi-document files included) becomes a typed
//! [`Component`], [`Subscription`] (`dapr.io/v2alpha1` and `v1alpha1`), [`Resiliency`] or
//! [`Configuration`]. Documents of other kinds (or without a `kind`, such as a `dapr run -f` file)
//! are ignored, as daprd ignores them; a `dapr run -f` file is read only for which
//! Configuration each app uses (`configFilePath`, see [`Resources::configuration_for`]).
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
    ActorPolicyNames, BackoffKind, CircuitBreakerPolicy, ComponentPolicyNames,
    DirectionPolicyNames, Policies, PolicyNames, Resiliency, ResiliencySpec, RetryPolicy, Targets,
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
    /// App id → the Configuration file it is started with, from `dapr run -f` files
    /// (`apps[].configFilePath`, else `common.configFilePath`, relative to the run file).
    pub app_config_files: BTreeMap<String, PathBuf>,
}

/// The parts of a `dapr run -f` file (Multi-App Run template) that pick an app's Configuration.
#[derive(Deserialize)]
struct RunFile {
    #[serde(default)]
    common: RunFileApp,
    #[serde(default)]
    apps: Vec<RunFileApp>,
}

#[derive(Default, Deserialize)]
struct RunFileApp {
    #[serde(rename = "appID", default)]
    app_id: Option<String>,
    #[serde(rename = "appDirPath", default)]
    app_dir_path: Option<String>,
    #[serde(rename = "configFilePath", default)]
    config_file_path: Option<String>,
}

/// `path` without `.` components and with `..` applied, so that two spellings of one file
/// compare equal without touching the file system.
fn normalized(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir if out.file_name().is_some() => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
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

/// `metadata` of a resource: Kubernetes `ObjectMeta`. The fields the sidecar has no use for
/// (those the API server fills in) are accepted and ignored; a field `ObjectMeta` does not have
/// (`nmae`) is an error.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ObjectMeta {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(default)]
    generate_name: IgnoredField,
    #[serde(default)]
    self_link: IgnoredField,
    #[serde(default)]
    uid: IgnoredField,
    #[serde(default)]
    resource_version: IgnoredField,
    #[serde(default)]
    generation: IgnoredField,
    #[serde(default)]
    creation_timestamp: IgnoredField,
    #[serde(default)]
    deletion_timestamp: IgnoredField,
    #[serde(default)]
    deletion_grace_period_seconds: IgnoredField,
    #[serde(default)]
    owner_references: IgnoredField,
    #[serde(default)]
    finalizers: IgnoredField,
    #[serde(default)]
    managed_fields: IgnoredField,
}

/// A field read and thrown away (compares equal to any other).
#[derive(Debug, Clone, Copy, Default)]
struct IgnoredField;

impl PartialEq for IgnoredField {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for IgnoredField {}

impl<'de> Deserialize<'de> for IgnoredField {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(deserializer).map(|_| IgnoredField)
    }
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
        // First pass: kind and apiVersion of each document; run files.
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
            if field("kind").is_none() && value.get("version").is_some() {
                self.add_run_file(file, value.clone())
                    .map_err(|err| error(format!("run file: {err}")))?;
            }
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

    /// The Configuration app `app_id` runs with: the one in the file its run file names, as
    /// daprd reads the file given with `--config`. `None` = daprd's default configuration (no
    /// access control, no features).
    pub fn configuration_for(&self, app_id: &str) -> Option<&Configuration> {
        let wanted = normalized(self.app_config_files.get(app_id)?);
        self.configurations
            .iter()
            .find(|c| normalized(&c.file) == wanted)
    }

    fn add_run_file(&mut self, file: &Path, value: serde_yaml_ng::Value) -> Result<(), String> {
        let run: RunFile = serde_yaml_ng::from_value(value).map_err(|err| err.to_string())?;
        // As the dapr CLI resolves them: `common` paths from the run file's directory, an app's
        // own from its `appDirPath` (itself relative to the run file).
        let base = file.parent().unwrap_or(Path::new(""));
        for app in run.apps {
            let Some(app_id) = app.app_id else { continue };
            let config = match (app.config_file_path, &run.common.config_file_path) {
                (Some(own), _) => base.join(app.app_dir_path.unwrap_or_default()).join(own),
                (None, Some(common)) => base.join(common),
                (None, None) => continue,
            };
            self.app_config_files.insert(app_id, config);
        }
        Ok(())
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
        assert_eq!(
            retry.initial_interval,
            Duration::from_millis(500),
            "daprd's default"
        );
        assert_eq!(retry.max_interval, Duration::from_secs(10));
        assert_eq!(retry.max_retries, 8);
        assert_eq!(timeout, None);
        let config = resources
            .configuration_for("chat-api")
            .expect("dapr.yaml: configFilePath");
        assert_eq!(config.name(), "chat-api-config");
        assert!(resources.configuration_for("audit-service").is_none());
        let acl = config.access_control.as_ref().expect("access control");
        assert_eq!(acl.policies[0].operations[0].http_verb, ["POST"]);
    }

    #[test]
    fn metadata_has_the_fields_of_object_meta() {
        let component = |metadata: &str| {
            load(&format!(
                "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {metadata}\nspec: {{type: state.in-memory, version: v1, metadata: []}}\n"
            ))
        };
        let resources = component("{name: s, uid: x, resourceVersion: '1', labels: {a: b}}")
            .expect("ObjectMeta fields");
        assert_eq!(resources.components[0].name(), "s");
        let err = component("{nmae: s}").expect_err("typo");
        assert!(err.message.contains("nmae"), "{err}");
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
