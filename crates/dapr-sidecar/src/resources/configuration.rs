//! `kind: Configuration` (`dapr.io/v1alpha1`, daprd `pkg/apis/configuration/v1alpha1/types.go`
//! and `pkg/config/configuration.go`): access control (used by service invocation) and feature
//! flags are typed, the other sections daprd knows are kept as raw YAML.
//!
//! A Configuration has no `scopes`: an app uses the one its sidecar is started with (`--config`,
//! the `dapr.io/config` annotation on Kubernetes, `configFilePath` in a `dapr run -f` file). Here
//! that is the run file in the resources folder (see [`super::Resources::configuration_for`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::ObjectMeta;

/// `kind: Configuration`. `accessControl` and `features` are typed; the other sections daprd
/// knows are kept as raw YAML in `other`; a section daprd does not know is an error.
#[derive(Debug, Clone, PartialEq)]
pub struct Configuration {
    pub metadata: ObjectMeta,
    pub access_control: Option<AccessControl>,
    pub features: Vec<Feature>,
    pub other: BTreeMap<String, serde_yaml_ng::Value>,
    pub file: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessControl {
    #[serde(rename = "defaultAction", default)]
    pub default_action: Option<String>,
    #[serde(rename = "trustDomain", default)]
    pub trust_domain: Option<String>,
    #[serde(default)]
    pub policies: Vec<AccessPolicy>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessPolicy {
    #[serde(rename = "appId")]
    pub app_id: String,
    #[serde(rename = "defaultAction", default)]
    pub default_action: Option<String>,
    #[serde(rename = "trustDomain", default)]
    pub trust_domain: Option<String>,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub operations: Vec<AccessOperation>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessOperation {
    pub name: String,
    #[serde(rename = "httpVerb", default)]
    pub http_verb: Vec<String>,
    pub action: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Feature {
    pub name: String,
    #[serde(default)]
    pub enabled: bool,
}

/// Top-level `spec` sections of daprd's `ConfigurationSpec` (`pkg/config/configuration.go`).
const CONFIGURATION_SECTIONS: &[&str] = &[
    "httpPipeline",
    "appHttpPipeline",
    "tracing",
    "metric",
    "metrics",
    "mtls",
    "secrets",
    "accessControl",
    "nameResolution",
    "features",
    "api",
    "components",
    "logging",
    "wasm",
    "workflow",
];

/// A Configuration document: the Kubernetes envelope without `scopes` (daprd's `Configuration`
/// type has none); its `spec` is read key by key (see [`Configuration::from_doc`]), and a
/// document without one has an empty spec.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigurationDoc {
    #[serde(rename = "apiVersion")]
    #[allow(dead_code)]
    api_version: String,
    #[allow(dead_code)]
    kind: String,
    #[serde(default)]
    metadata: ObjectMeta,
    #[serde(default)]
    spec: ConfigurationSpec,
}

#[derive(Default, Deserialize)]
#[serde(transparent)]
struct ConfigurationSpec(BTreeMap<String, serde_yaml_ng::Value>);

impl Configuration {
    pub fn name(&self) -> &str {
        &self.metadata.name
    }

    /// Whether feature `name` is enabled (`spec.features`).
    pub fn feature_enabled(&self, name: &str) -> bool {
        self.features.iter().any(|f| f.name == name && f.enabled)
    }

    fn from_doc(doc: ConfigurationDoc, file: &Path) -> Result<Self, String> {
        let mut access_control = None;
        let mut features = Vec::new();
        let mut other = BTreeMap::new();
        for (key, value) in doc.spec.0 {
            match key.as_str() {
                "accessControl" => {
                    access_control = Some(
                        serde_yaml_ng::from_value(value)
                            .map_err(|err| format!("spec.accessControl: {err}"))?,
                    );
                }
                "features" => {
                    features = serde_yaml_ng::from_value(value)
                        .map_err(|err| format!("spec.features: {err}"))?;
                }
                known if CONFIGURATION_SECTIONS.contains(&known) => {
                    other.insert(key, value);
                }
                unknown => {
                    return Err(format!(
                        "spec: unknown field `{unknown}`, expected one of {}",
                        CONFIGURATION_SECTIONS.join(", ")
                    ));
                }
            }
        }
        Ok(Configuration {
            metadata: doc.metadata,
            access_control,
            features,
            other,
            file: file.to_owned(),
        })
    }
}

/// One YAML document of `kind: Configuration` read from `file`.
pub(super) fn parse(
    document: serde_yaml_ng::Deserializer<'_>,
    file: &Path,
) -> Result<Configuration, String> {
    let doc = ConfigurationDoc::deserialize(document).map_err(|err| err.to_string())?;
    Configuration::from_doc(doc, file)
}

#[cfg(test)]
mod tests {
    use crate::resources::tests::load;

    #[test]
    fn configurations_reject_unknown_sections() {
        let err = load(
            "apiVersion: dapr.io/v1alpha1\nkind: Configuration\nmetadata: {name: c}\nspec:\n  acessControl: {}\n",
        )
        .expect_err("typo");
        assert!(err.message.contains("acessControl"), "{err}");
    }

    #[test]
    fn configurations_have_no_scopes() {
        let err = load(
            "apiVersion: dapr.io/v1alpha1\nkind: Configuration\nmetadata: {name: c}\nspec: {}\nscopes: [a]\n",
        )
        .expect_err("scopes");
        assert!(err.to_string().starts_with("test.yaml: "), "{err}");
        assert!(err.message.contains("unknown field `scopes`"), "{err}");
    }
}
