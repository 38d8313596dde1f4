//! Validation of Kubernetes manifests (Dapr resources, SpinApps, …) against the
//! `openAPIV3Schema` of their CustomResourceDefinitions, offline, the way an API server with
//! strict field validation (`kubectl apply --validate=strict`) treats them: an unknown field is an
//! error, not silently pruned.
//!
//! A CRD's schema is structural: an object takes only the `properties` it lists, unless it says
//! `x-kubernetes-preserve-unknown-fields: true`, and `additionalProperties` gives the value schema
//! of a map. JSON Schema leaves objects open by default, so [`strict`] closes every object schema
//! (`additionalProperties: false`) that does not preserve unknown fields or describe a map; it also
//! lets `x-kubernetes-int-or-string` take both and `nullable` take null, and checks the root
//! `metadata` as the ObjectMeta a manifest may carry.
//!
//! The CRDs of the project are in `schemas/crds/` (see SOURCES.md there).
//!
//! ```no_run
//! use dapr_sidecar::testing::crd::CrdSchemas;
//! let schemas = CrdSchemas::load_dir("schemas/crds".as_ref()).unwrap();
//! let report = schemas.validate_file("dapr/resiliency.yaml".as_ref()).unwrap();
//! assert!(report.errors.is_empty(), "{:#?}", report.errors);
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Map, Value, json};

/// The strict schemas of a set of CRDs, by `(group/version, kind)`.
pub struct CrdSchemas {
    by_type: BTreeMap<(String, String), jsonschema::Validator>,
}

/// What [`CrdSchemas::validate_str`] found in one file.
#[derive(Debug, Default)]
pub struct Report {
    /// `(apiVersion, kind, metadata.name)` of each document checked against a CRD.
    pub checked: Vec<(String, String, String)>,
    /// `(apiVersion, kind)` of documents no loaded CRD describes (e.g. a `Deployment`), and
    /// documents without a `kind` (e.g. a `dapr run -f` file), as `("", "")`.
    pub unchecked: Vec<(String, String)>,
    /// One line per violation: `file: document N (Kind name): /json/pointer: message`.
    pub errors: Vec<String>,
}

impl CrdSchemas {
    /// Every `kind: CustomResourceDefinition` in the `.yaml` / `.yml` files of `dir`.
    pub fn load_dir(dir: &Path) -> Result<Self, String> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| format!("no CRD schemas at {}: {e}", dir.display()))?
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| is_yaml(path))
            .collect();
        files.sort();
        let mut schemas = CrdSchemas {
            by_type: BTreeMap::new(),
        };
        for file in files {
            let text =
                std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            schemas
                .add_crds(&text)
                .map_err(|e| format!("{}: {e}", file.display()))?;
        }
        Ok(schemas)
    }

    /// Adds the CRDs among the YAML documents of `text`.
    pub fn add_crds(&mut self, text: &str) -> Result<(), String> {
        for doc in yaml_documents(text)? {
            if doc.get("kind").and_then(Value::as_str) != Some("CustomResourceDefinition") {
                continue;
            }
            let spec = &doc["spec"];
            let group = spec["group"].as_str().ok_or("CRD without spec.group")?;
            let kind = spec["names"]["kind"]
                .as_str()
                .ok_or("CRD without spec.names.kind")?;
            for version in spec["versions"].as_array().into_iter().flatten() {
                let name = version["name"].as_str().ok_or("CRD version without name")?;
                let schema = &version["schema"]["openAPIV3Schema"];
                if schema.is_null() {
                    return Err(format!("{kind} {name}: no openAPIV3Schema"));
                }
                let validator = jsonschema::validator_for(&strict(schema))
                    .map_err(|e| format!("{kind} {name}: invalid schema: {e}"))?;
                self.by_type
                    .insert((format!("{group}/{name}"), kind.to_owned()), validator);
            }
        }
        Ok(())
    }

    /// The `(apiVersion, kind)` pairs known.
    pub fn types(&self) -> Vec<(String, String)> {
        self.by_type.keys().cloned().collect()
    }

    /// Every way `object` breaks its CRD's schema, one line each: `Kind name: /json/pointer:
    /// message`; `Err` also when no loaded CRD describes its type.
    pub fn validate(&self, object: &Value) -> Result<(), Vec<String>> {
        let (api_version, kind) = type_of(object);
        let name = name_of(object);
        let Some(violations) = self.violations(object) else {
            return Err(vec![format!(
                "{kind} {name}: no CRD schema for {api_version} {kind}"
            )]);
        };
        if violations.is_empty() {
            return Ok(());
        }
        Err(violations
            .into_iter()
            .map(|line| format!("{kind} {name}: {line}"))
            .collect())
    }

    /// Checks every document of a manifest file.
    pub fn validate_file(&self, file: &Path) -> Result<Report, String> {
        let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
        self.validate_str(file, &text)
    }

    /// Checks every document of `text` (named `file` in errors) whose `apiVersion` and `kind`
    /// a loaded CRD describes.
    pub fn validate_str(&self, file: &Path, text: &str) -> Result<Report, String> {
        let mut report = Report::default();
        let docs = yaml_documents(text).map_err(|e| format!("{}: {e}", file.display()))?;
        for (index, doc) in docs.iter().enumerate() {
            let (api_version, kind) = type_of(doc);
            let Some(violations) = self.violations(doc) else {
                report
                    .unchecked
                    .push((api_version.to_owned(), kind.to_owned()));
                continue;
            };
            let name = name_of(doc);
            report
                .checked
                .push((api_version.to_owned(), kind.to_owned(), name.to_owned()));
            report.errors.extend(violations.into_iter().map(|line| {
                format!(
                    "{}: document {} ({kind} {name}): {line}",
                    file.display(),
                    index + 1
                )
            }));
        }
        Ok(report)
    }

    /// `/json/pointer: message` for each violation of `object`'s CRD schema, `None` when no
    /// loaded CRD describes its type.
    fn violations(&self, object: &Value) -> Option<Vec<String>> {
        let (api_version, kind) = type_of(object);
        let validator = self
            .by_type
            .get(&(api_version.to_owned(), kind.to_owned()))?;
        Some(
            validator
                .iter_errors(object)
                .map(|error| {
                    let pointer = error.instance_path.to_string();
                    let pointer = if pointer.is_empty() { "/" } else { &pointer };
                    format!("{pointer}: {error}")
                })
                .collect(),
        )
    }
}

/// `apiVersion` and `kind` of a manifest object ("" where missing).
pub fn type_of(object: &Value) -> (&str, &str) {
    (
        object["apiVersion"].as_str().unwrap_or_default(),
        object["kind"].as_str().unwrap_or_default(),
    )
}

/// `metadata.name` of a manifest object ("" where missing).
pub fn name_of(object: &Value) -> &str {
    object["metadata"]["name"].as_str().unwrap_or_default()
}

/// The non-empty YAML documents of `text` as JSON values.
pub fn yaml_documents(text: &str) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    for document in serde_yaml_ng::Deserializer::from_str(text) {
        let value = Value::deserialize(document).map_err(|e| e.to_string())?;
        if !value.is_null() {
            out.push(value);
        }
    }
    Ok(out)
}

/// Every `.yaml` / `.yml` file under `dir`, recursively, sorted.
pub fn yaml_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))? {
            let path = entry.map_err(|e| e.to_string())?.path();
            if path.is_dir() {
                pending.push(path);
            } else if is_yaml(&path) {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

fn is_yaml(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"))
}

/// A CRD's structural schema as JSON Schema that refuses what strict field validation refuses:
/// objects take only their declared properties (unless `x-kubernetes-preserve-unknown-fields`),
/// int-or-string takes both, `nullable` takes null; the root `metadata` is [`object_meta`].
pub fn strict(schema: &Value) -> Value {
    let mut root = tighten(schema);
    if let Some(properties) = root.get_mut("properties").and_then(Value::as_object_mut) {
        properties.insert("metadata".into(), object_meta());
    }
    root
}

/// The metadata a manifest object may carry (the API server owns the rest of ObjectMeta).
fn object_meta() -> Value {
    let string_map = json!({"type": "object", "additionalProperties": {"type": "string"}});
    json!({
        "type": "object",
        "properties": {
            "name": {"type": "string", "minLength": 1},
            "namespace": {"type": "string"},
            "labels": string_map,
            "annotations": string_map,
        },
        "required": ["name"],
        "additionalProperties": false,
    })
}

fn tighten(schema: &Value) -> Value {
    let Some(object) = schema.as_object() else {
        return schema.clone();
    };
    let mut out = Map::new();
    for (key, value) in object {
        let value = match key.as_str() {
            "properties" | "patternProperties" => Value::Object(
                value
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(name, sub)| (name.clone(), tighten(sub)))
                    .collect(),
            ),
            "items" | "additionalProperties" | "not" => tighten(value),
            "allOf" | "anyOf" | "oneOf" => Value::Array(
                value
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(tighten)
                    .collect(),
            ),
            _ => value.clone(),
        };
        out.insert(key.clone(), value);
    }
    let is_true = |key: &str| object.get(key) == Some(&Value::Bool(true));
    if is_true("x-kubernetes-int-or-string") {
        out.insert("type".into(), json!(["integer", "string"]));
    }
    if is_true("nullable") {
        match out.get_mut("type") {
            Some(Value::Array(types)) => types.push("null".into()),
            Some(single @ Value::String(_)) => *single = json!([single.take(), "null"]),
            _ => {}
        }
    }
    // Only a node that says `type: object` may be closed: structural schemas forbid types inside
    // `allOf`/`anyOf`/`oneOf`/`not`, whose `properties` only add value checks.
    let is_object = object.get("type").is_some_and(|t| t == "object");
    if is_object
        && !is_true("x-kubernetes-preserve-unknown-fields")
        && !out.contains_key("additionalProperties")
    {
        out.insert("additionalProperties".into(), Value::Bool(false));
        // With `properties` (even empty) the error names the unexpected field.
        out.entry("properties").or_insert_with(|| json!({}));
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CRD: &str = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nspec:\n  group: example.io\n  names: {kind: Thing}\n  versions:\n  - name: v1\n    schema:\n      openAPIV3Schema:\n        type: object\n        properties:\n          apiVersion: {type: string}\n          kind: {type: string}\n          metadata: {type: object}\n          spec:\n            type: object\n            properties:\n              size: {type: integer}\n              port: {x-kubernetes-int-or-string: true}\n              note: {type: string, nullable: true}\n              map: {type: object, additionalProperties: {type: string}}\n              opaque: {type: object}\n              free:\n                x-kubernetes-preserve-unknown-fields: true\n                type: object\n                properties: {a: {type: string}}\n";

    fn schemas() -> CrdSchemas {
        let mut schemas = CrdSchemas {
            by_type: BTreeMap::new(),
        };
        schemas.add_crds(CRD).expect("CRD");
        schemas
    }

    fn thing(spec: Value) -> Value {
        json!({"apiVersion": "example.io/v1", "kind": "Thing", "metadata": {"name": "t"}, "spec": spec})
    }

    #[test]
    fn unknown_fields_are_refused_unless_preserved() {
        let report = schemas()
            .validate_str(
                Path::new("m.yaml"),
                "apiVersion: example.io/v1\nkind: Thing\nmetadata: {name: t, labels: {a: b}}\nspec:\n  size: 1\n  sise: 2\n  free: {a: x, b: y}\n",
            )
            .expect("parses");
        assert_eq!(report.checked.len(), 1);
        assert_eq!(report.errors.len(), 1, "{:#?}", report.errors);
        assert!(report.errors[0].starts_with("m.yaml: document 1 (Thing t): /spec: "));
        assert!(report.errors[0].contains("sise"), "{}", report.errors[0]);
    }

    #[test]
    fn kubernetes_extensions_and_object_meta_are_honoured() {
        let schemas = schemas();
        for good in [
            thing(json!({"port": "http", "note": null, "map": {"k": "v"}, "free": {"x": [1]}})),
            thing(json!({"port": 80, "note": "n", "opaque": {}})),
        ] {
            assert_eq!(schemas.validate(&good), Ok(()), "{good}");
        }
        for (bad, field) in [
            (thing(json!({"port": 8.5})), "/spec/port"),
            (thing(json!({"size": null})), "/spec/size"),
            (thing(json!({"map": {"k": 1}})), "/spec/map/k"),
            (thing(json!({"opaque": {"x": 1}})), "'x'"),
            (thing(json!({"free": {"a": 1}})), "/spec/free/a"),
            (
                json!({"apiVersion": "example.io/v1", "kind": "Thing", "metadata": {"name": "t", "annotation": {}}}),
                "'annotation'",
            ),
            (
                json!({"apiVersion": "example.io/v1", "kind": "Thing", "metadata": {}}),
                "\"name\"",
            ),
        ] {
            let errors = schemas.validate(&bad).expect_err("refused");
            assert!(
                errors.len() == 1 && errors[0].starts_with("Thing ") && errors[0].contains(field),
                "{bad}: {errors:#?}"
            );
        }
    }

    #[test]
    fn types_are_checked_and_other_kinds_are_listed_unchecked() {
        let schemas = schemas();
        let report = schemas
            .validate_str(
                Path::new("m.yaml"),
                "apiVersion: example.io/v1\nkind: Thing\nmetadata: {name: t}\nspec: {size: big}\n---\napiVersion: apps/v1\nkind: Deployment\n",
            )
            .expect("parses");
        assert_eq!(report.errors.len(), 1, "{:#?}", report.errors);
        assert!(report.errors[0].contains("/spec/size"));
        assert_eq!(
            report.unchecked,
            [("apps/v1".to_owned(), "Deployment".to_owned())]
        );
        let deployment =
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}});
        assert_eq!(
            schemas.validate(&deployment),
            Err(vec![
                "Deployment d: no CRD schema for apps/v1 Deployment".to_owned()
            ])
        );
    }

    #[test]
    fn yaml_streams_skip_empty_documents() {
        let docs = yaml_documents("a: 1\n---\n---\nb: [x]\n").unwrap();
        assert_eq!(docs, vec![json!({"a": 1}), json!({"b": ["x"]})]);
    }
}
