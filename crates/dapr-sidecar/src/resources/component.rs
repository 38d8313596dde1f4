//! `kind: Component` (`dapr.io/v1alpha1`), as daprd's `pkg/apis/components/v1alpha1/types.go`
//! declares it: a state store, pub/sub, secret store, … with its `spec.metadata`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::ObjectMeta;

/// `kind: Component`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Component {
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    pub kind: String,
    pub metadata: ObjectMeta,
    pub spec: ComponentSpec,
    #[serde(default)]
    pub auth: Option<ComponentAuth>,
    /// App ids allowed to use the component; empty = every app.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// The file it was read from.
    #[serde(skip)]
    pub file: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentSpec {
    /// e.g. `state.redis`, `pubsub.kafka`, `secretstores.local.file`.
    #[serde(rename = "type")]
    pub component_type: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub metadata: Vec<MetadataItem>,
    #[serde(rename = "initTimeout", default)]
    pub init_timeout: Option<String>,
    #[serde(rename = "ignoreErrors", default)]
    pub ignore_errors: bool,
}

/// One `spec.metadata` entry: a plain value, a secret reference or an environment variable.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetadataItem {
    pub name: String,
    /// Scalars are kept as text (`true`, `3`), as daprd's `DynamicValue.String()` gives them.
    #[serde(default, deserialize_with = "scalar_string")]
    pub value: Option<String>,
    #[serde(rename = "secretKeyRef", default)]
    pub secret_key_ref: Option<SecretKeyRef>,
    #[serde(rename = "envRef", default)]
    pub env_ref: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretKeyRef {
    pub name: String,
    #[serde(default)]
    pub key: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentAuth {
    #[serde(rename = "secretStore")]
    pub secret_store: String,
}

impl Component {
    pub fn name(&self) -> &str {
        &self.metadata.name
    }

    /// The plain value of metadata entry `name` (case-insensitive, as components-contrib reads
    /// metadata).
    pub fn metadata_value(&self, name: &str) -> Option<&str> {
        self.spec
            .metadata
            .iter()
            .find(|item| item.name.eq_ignore_ascii_case(name))
            .and_then(|item| item.value.as_deref())
    }

    /// `spec.metadata` as name → plain value (daprd's component `Properties`): names as
    /// written, a later entry of the same name replaces an earlier one, an entry without a plain
    /// value (`secretKeyRef`, `envRef`) is empty.
    pub fn metadata_properties(&self) -> BTreeMap<&str, &str> {
        self.spec
            .metadata
            .iter()
            .map(|item| {
                (
                    item.name.as_str(),
                    item.value.as_deref().unwrap_or_default(),
                )
            })
            .collect()
    }

    /// Whether app `app_id` may use this component (`scopes` empty = every app).
    pub fn allows(&self, app_id: &str) -> bool {
        self.scopes.is_empty() || self.scopes.iter().any(|s| s == app_id)
    }
}

/// A scalar (string, number, bool) as text.
fn scalar_string<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    use serde::de::Error;
    let value = Option::<serde_yaml_ng::Value>::deserialize(deserializer)?;
    match value {
        None | Some(serde_yaml_ng::Value::Null) => Ok(None),
        Some(serde_yaml_ng::Value::String(s)) => Ok(Some(s)),
        Some(serde_yaml_ng::Value::Bool(b)) => Ok(Some(b.to_string())),
        Some(serde_yaml_ng::Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(D::Error::custom("expected a string, number or boolean")),
    }
}

/// One YAML document of `kind: Component` read from `file`.
pub(super) fn parse(
    document: serde_yaml_ng::Deserializer<'_>,
    file: &Path,
) -> Result<Component, String> {
    let mut component = Component::deserialize(document).map_err(|err| err.to_string())?;
    if component.metadata.name.is_empty() {
        return Err("metadata.name: missing".into());
    }
    if component.spec.component_type.is_empty() {
        return Err("spec.type: missing".into());
    }
    component.file = file.to_owned();
    Ok(component)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use crate::resources::tests::load;

    #[test]
    fn component_properties_are_plain_values_by_name_the_last_one_winning() {
        let resources = load(
            "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: s}\nspec:\n  type: secretstores.local.file\n  version: v1\n  metadata:\n    - {name: multiValued, value: true}\n    - {name: secretsFile, value: a.json}\n    - {name: secretsFile, value: b.json}\n    - {name: token, secretKeyRef: {name: t}}\n",
        )
        .expect("loads");
        let properties = resources.components[0].metadata_properties();
        assert_eq!(
            properties,
            BTreeMap::from([
                ("multiValued", "true"),
                ("secretsFile", "b.json"),
                ("token", "")
            ])
        );
    }
}
