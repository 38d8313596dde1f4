//! The Secrets API (`GET /v1.0/secrets/{store}/{name}`, `GET /v1.0/secrets/{store}/bulk`)
//! over the secret-store components of the resources folder:
//!
//! - `secretstores.local.file` (components-contrib `secretstores/local/file/filestore.go`):
//!   `secretsFile` (required), `nestedSeparator` (default `:`), `multiValued` (default false).
//!   Nested objects and arrays are flattened into `a:b:0` keys; a non-string leaf is formatted
//!   with Go's `%s` (`%!s(float64=1)`), as the component does. With `multiValued`, each top-level
//!   key is one secret whose (flattened) object is its key/value map.
//!   A relative `secretsFile` is resolved like daprd resolves it, against the current working
//!   directory (daprd runs from the repo root: `./dapr/secrets.json`); when no file is there, it
//!   is looked up against the resources folder's parent and then the resources folder itself, so
//!   a host started from another directory still finds the repo's secrets.
//! - `secretstores.local.env` (`secretstores/local/env/envstore.go`): environment variables,
//!   optional `prefix`; `APP_API_TOKEN` and `DAPR_*` are never returned; a missing variable is an
//!   empty value, not an error (as in the component).
//!
//! Answers follow daprd `pkg/api/universal/secrets.go` and `pkg/api/errors/secrets.go`: unknown
//! store → 401 `ERR_SECRET_STORE_NOT_FOUND`; no secret store at all → 500
//! `ERR_SECRET_STORES_NOT_CONFIGURED`; a secret the store does not have → 500 `ERR_SECRET_GET`.
//! A component with `scopes` is only visible to the app ids listed there.
//!
//! The stores are built from the components of the sidecar's [`Resources`], loaded once.

pub(crate) mod api;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::resources::Resources;

/// One secret: its key/value map.
type Secret = BTreeMap<String, String>;

/// Where a store's secrets come from.
#[derive(Debug, Clone)]
enum Source {
    /// Read once at start (as the file component does in `Init`).
    File(BTreeMap<String, Secret>),
    Env {
        prefix: String,
    },
}

/// One secret-store component.
#[derive(Debug, Clone)]
pub(crate) struct SecretStore {
    source: Source,
    scopes: Vec<String>,
}

/// Why a secret could not be read.
pub(crate) enum SecretError {
    NotFound(String),
}

impl SecretStore {
    pub(crate) fn visible_to(&self, app_id: &str) -> bool {
        self.scopes.is_empty() || self.scopes.iter().any(|s| s == app_id)
    }

    pub(crate) fn get(&self, name: &str) -> Result<Secret, SecretError> {
        match &self.source {
            Source::File(secrets) => secrets
                .get(name)
                .cloned()
                .ok_or_else(|| SecretError::NotFound(format!("secret {name} not found"))),
            Source::Env { prefix } => {
                let var = format!("{prefix}{name}");
                let value = if env_allowed(&var) {
                    std::env::var(&var).unwrap_or_default()
                } else {
                    String::new()
                };
                Ok(BTreeMap::from([(name.to_owned(), value)]))
            }
        }
    }

    pub(crate) fn bulk(&self) -> BTreeMap<String, Secret> {
        match &self.source {
            Source::File(secrets) => secrets.clone(),
            Source::Env { prefix } => std::env::vars()
                .filter(|(key, _)| key.len() > prefix.len() && key.starts_with(prefix.as_str()))
                .filter(|(key, _)| env_allowed(key))
                .map(|(key, value)| {
                    let name = key[prefix.len()..].to_owned();
                    (name.clone(), BTreeMap::from([(name, value)]))
                })
                .collect(),
        }
    }
}

fn env_allowed(key: &str) -> bool {
    let key = key.to_ascii_uppercase();
    key != "APP_API_TOKEN" && !key.starts_with("DAPR_")
}

/// Go's `fmt.Sprintf("%s", v)` for a JSON leaf decoded into `interface{}`.
fn go_percent_s(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Bool(b) => format!("%!s(bool={b})"),
        serde_json::Value::Null => "%!s(<nil>)".to_owned(),
        serde_json::Value::Number(n) => {
            let f = n.as_f64().unwrap_or(0.0);
            format!("%!s(float64={})", go_g(f))
        }
        _ => String::new(),
    }
}

/// Go's `%v` of a float64 (`strconv.FormatFloat(f, 'g', -1, 64)`).
fn go_g(f: f64) -> String {
    if f == 0.0 {
        return "0".to_owned();
    }
    let exp = f.abs().log10().floor();
    if !(-4.0..21.0).contains(&exp) {
        let s = format!("{f:e}");
        let (mantissa, exponent) = s.split_once('e').unwrap_or((&s, "0"));
        let exponent: i32 = exponent.parse().unwrap_or(0);
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exponent.abs())
    } else {
        format!("{f}")
    }
}

/// components-contrib `visitJSONObject`: flattens objects and arrays into `a<sep>b<sep>0` keys.
fn flatten(value: &serde_json::Value, path: &mut Vec<String>, sep: &str, out: &mut Secret) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, item) in map {
                path.push(key.clone());
                flatten(item, path, sep, out);
                path.pop();
            }
        }
        serde_json::Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                path.push(i.to_string());
                flatten(item, path, sep, out);
                path.pop();
            }
        }
        leaf => {
            out.entry(path.join(sep))
                .or_insert_with(|| go_percent_s(leaf));
        }
    }
}

/// Resolves a relative `secretsFile` (see the module docs).
fn resolve_secrets_file(file: &str, resources_dir: &Path) -> PathBuf {
    let path = PathBuf::from(file);
    if path.is_absolute() || path.exists() {
        return path;
    }
    let candidates = [
        resources_dir.parent().map(|p| p.join(&path)),
        Some(resources_dir.join(&path)),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|p| p.exists())
        .unwrap_or(path)
}

fn load_file_store(
    metadata: &BTreeMap<&str, &str>,
    resources_dir: &Path,
) -> Result<BTreeMap<String, Secret>, String> {
    let file = metadata
        .get("secretsFile")
        .filter(|f| !f.is_empty())
        .ok_or("missing local secrets file in metadata")?;
    let separator = metadata
        .get("nestedSeparator")
        .copied()
        .filter(|s| !s.is_empty())
        .unwrap_or(":");
    let multi_valued = metadata
        .get("multiValued")
        .is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "true" | "1" | "t"));
    let path = resolve_secrets_file(file, resources_dir);
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let json: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut secrets = BTreeMap::new();
    if multi_valued {
        for (key, value) in &json {
            match value {
                serde_json::Value::String(s) => {
                    secrets.insert(key.clone(), BTreeMap::from([(key.clone(), s.clone())]));
                }
                serde_json::Value::Object(_) => {
                    let mut secret = Secret::new();
                    flatten(value, &mut Vec::new(), separator, &mut secret);
                    secrets.insert(key.clone(), secret);
                }
                _ => {}
            }
        }
    } else {
        let mut flat = Secret::new();
        flatten(
            &serde_json::Value::Object(json),
            &mut Vec::new(),
            separator,
            &mut flat,
        );
        for (key, value) in flat {
            secrets.insert(key.clone(), BTreeMap::from([(key, value)]));
        }
    }
    Ok(secrets)
}

/// The secret stores of a resources folder, by component name.
#[derive(Debug, Clone, Default)]
pub(crate) struct SecretStores {
    stores: BTreeMap<String, SecretStore>,
}

impl SecretStores {
    /// The `secretstores.local.file` / `secretstores.local.env` components of `resources`,
    /// loaded from `resources_dir` (relative secret files resolve against it, see the module
    /// docs). A component that cannot be initialised is an error, unless it says
    /// `spec.ignoreErrors: true` (then it is skipped, as daprd does).
    pub(crate) fn from_resources(
        resources: &Resources,
        resources_dir: &Path,
    ) -> Result<SecretStores, String> {
        let mut stores = BTreeMap::new();
        for component in &resources.components {
            let kind = component.spec.component_type.as_str();
            let metadata = component.metadata_properties();
            let source = match kind {
                "secretstores.local.file" => {
                    load_file_store(&metadata, resources_dir).map(Source::File)
                }
                "secretstores.local.env" => Ok(Source::Env {
                    prefix: metadata
                        .get("prefix")
                        .copied()
                        .unwrap_or_default()
                        .to_owned(),
                }),
                _ => continue,
            };
            match source {
                Ok(source) => {
                    let store = SecretStore {
                        source,
                        scopes: component.scopes.clone(),
                    };
                    stores.insert(component.name().to_owned(), store);
                }
                Err(_) if component.spec.ignore_errors => {}
                Err(err) => {
                    return Err(format!(
                        "{}: secret store {} ({kind}): {err}",
                        component.file.display(),
                        component.name()
                    ));
                }
            }
        }
        Ok(SecretStores { stores })
    }

    /// Stores visible to `app_id`.
    pub(crate) fn for_app(&self, app_id: &str) -> BTreeMap<&str, &SecretStore> {
        self.stores
            .iter()
            .filter(|(_, store)| store.visible_to(app_id))
            .map(|(name, store)| (name.as_str(), store))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_values_flatten_with_the_separator_and_go_formatting() {
        let json =
            serde_json::json!({"db": {"user": "u", "port": 5432, "hosts": ["a", "b"]}, "on": true});
        let mut out = Secret::new();
        flatten(&json, &mut Vec::new(), ":", &mut out);
        assert_eq!(out["db:user"], "u");
        assert_eq!(out["db:port"], "%!s(float64=5432)");
        assert_eq!(out["db:hosts:1"], "b");
        assert_eq!(out["on"], "%!s(bool=true)");
        assert_eq!(go_g(1e21), "1e+21");
        assert_eq!(go_g(0.5), "0.5");
    }
}
