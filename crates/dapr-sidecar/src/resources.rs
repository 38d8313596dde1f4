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
//! Mirrors daprd `pkg/apis/{components,subscriptions,resiliency,configuration}` and
//! `pkg/runtime/pubsub/subscriptions.go` (`marshalSubscription`).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::pubsub::cel;

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

// ---------------------------------------------------------------------------------------------
// Component (dapr.io/v1alpha1)
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// Subscription (dapr.io/v2alpha1, dapr.io/v1alpha1)
// ---------------------------------------------------------------------------------------------

/// `kind: Subscription`, normalised over both API versions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub name: String,
    /// `dapr.io/v2alpha1` or `dapr.io/v1alpha1`.
    pub api_version: String,
    pub pubsub_name: String,
    pub topic: String,
    /// Routing rules in order (`spec.routes.rules`); each `match` is a CEL expression that
    /// compiled when loading. v1alpha1 has none.
    pub rules: Vec<RoutingRule>,
    /// `spec.routes.default` (v2alpha1) or `spec.route` (v1alpha1).
    pub default_route: Option<String>,
    pub dead_letter_topic: Option<String>,
    pub metadata: BTreeMap<String, String>,
    /// Parsed but not acted on: messages are delivered one by one.
    pub bulk_subscribe: Option<BulkSubscribe>,
    /// App ids it applies to; empty = every app.
    pub scopes: Vec<String>,
    pub file: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingRule {
    #[serde(rename = "match", default)]
    pub match_expr: String,
    #[serde(default)]
    pub path: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulkSubscribe {
    #[serde(default)]
    pub enabled: bool,
    #[serde(rename = "maxMessagesCount", default)]
    pub max_messages_count: Option<i64>,
    #[serde(rename = "maxAwaitDurationMs", default)]
    pub max_await_duration_ms: Option<i64>,
}

impl Subscription {
    /// Whether the subscription applies to app `app_id`.
    pub fn applies_to(&self, app_id: &str) -> bool {
        self.scopes.is_empty() || self.scopes.iter().any(|s| s == app_id)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SubscriptionDoc<S> {
    #[serde(rename = "apiVersion")]
    #[allow(dead_code)]
    api_version: String,
    #[allow(dead_code)]
    kind: String,
    #[serde(default)]
    metadata: ObjectMeta,
    spec: S,
    #[serde(default)]
    scopes: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SubscriptionSpecV2 {
    #[serde(default)]
    pubsubname: String,
    topic: String,
    routes: RoutesV2,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
    #[serde(rename = "deadLetterTopic", default)]
    dead_letter_topic: Option<String>,
    #[serde(rename = "bulkSubscribe", default)]
    bulk_subscribe: Option<BulkSubscribe>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoutesV2 {
    #[serde(default)]
    rules: Vec<RoutingRule>,
    #[serde(default)]
    default: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SubscriptionSpecV1 {
    #[serde(default)]
    pubsubname: String,
    topic: String,
    #[serde(default)]
    route: String,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
    #[serde(rename = "deadLetterTopic", default)]
    dead_letter_topic: Option<String>,
    #[serde(rename = "bulkSubscribe", default)]
    bulk_subscribe: Option<BulkSubscribe>,
}

// ---------------------------------------------------------------------------------------------
// Resiliency (dapr.io/v1alpha1)
// ---------------------------------------------------------------------------------------------

/// `kind: Resiliency`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resiliency {
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    pub kind: String,
    pub metadata: ObjectMeta,
    pub spec: ResiliencySpec,
    /// App ids it applies to; empty = every app.
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(skip)]
    pub file: PathBuf,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResiliencySpec {
    #[serde(default)]
    pub policies: Policies,
    #[serde(default)]
    pub targets: Targets,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policies {
    /// Name → Go duration (`5s`).
    #[serde(default, deserialize_with = "duration_map")]
    pub timeouts: BTreeMap<String, Duration>,
    #[serde(default)]
    pub retries: BTreeMap<String, RetryPolicy>,
    #[serde(rename = "circuitBreakers", default)]
    pub circuit_breakers: BTreeMap<String, CircuitBreakerPolicy>,
}

/// Back-off kind of a retry policy (dapr/kit `retry.PolicyType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackoffKind {
    Constant,
    Exponential,
}

/// A retry policy with dapr/kit `retry.DefaultConfig()` defaults filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    pub policy: BackoffKind,
    /// Constant back-off interval (default 5 s).
    pub duration: Duration,
    /// Exponential back-off (cenkalti/backoff defaults: 500 ms, ×1.5, ±50 %, ≤ 60 s, 15 min).
    pub initial_interval: Duration,
    pub multiplier: f64,
    pub randomization_factor: f64,
    pub max_interval: Duration,
    /// `0` = no limit.
    pub max_elapsed_time: Duration,
    /// Retries after the first attempt; `-1` (default) = no limit.
    pub max_retries: i64,
    /// `matching.httpStatusCodes`: when set, only failures with one of these codes (or without
    /// a code) are retried.
    pub http_status_codes: Option<Vec<(u16, u16)>>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            policy: BackoffKind::Constant,
            duration: Duration::from_secs(5),
            initial_interval: Duration::from_millis(500),
            multiplier: 1.5,
            randomization_factor: 0.5,
            max_interval: Duration::from_secs(60),
            max_elapsed_time: Duration::from_secs(15 * 60),
            max_retries: -1,
            http_status_codes: None,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RetryPolicyRaw {
    #[serde(default)]
    policy: Option<String>,
    #[serde(default)]
    duration: Option<String>,
    #[serde(rename = "initialInterval", default)]
    initial_interval: Option<String>,
    #[serde(default)]
    multiplier: Option<f64>,
    #[serde(rename = "randomizationFactor", default)]
    randomization_factor: Option<f64>,
    #[serde(rename = "maxInterval", default)]
    max_interval: Option<String>,
    #[serde(rename = "maxElapsedTime", default)]
    max_elapsed_time: Option<String>,
    #[serde(rename = "maxRetries", default)]
    max_retries: Option<i64>,
    #[serde(default)]
    matching: Option<RetryMatchingRaw>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RetryMatchingRaw {
    #[serde(rename = "httpStatusCodes", default)]
    http_status_codes: Option<String>,
    #[serde(rename = "gRPCStatusCodes", default)]
    #[allow(dead_code)]
    grpc_status_codes: Option<String>,
}

impl<'de> Deserialize<'de> for RetryPolicy {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let raw = RetryPolicyRaw::deserialize(deserializer)?;
        let mut policy = RetryPolicy::default();
        let duration = |field: &str, value: &Option<String>, into: &mut Duration| {
            if let Some(text) = value {
                *into = parse_go_duration(text)
                    .map_err(|err| D::Error::custom(format!("{field}: {err}")))?;
            }
            Ok::<(), D::Error>(())
        };
        policy.policy = match raw
            .policy
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("constant") => BackoffKind::Constant,
            Some("exponential") => BackoffKind::Exponential,
            Some(other) => {
                return Err(D::Error::custom(format!(
                    "policy: unexpected back off policy type: {other}"
                )));
            }
        };
        duration("duration", &raw.duration, &mut policy.duration)?;
        duration(
            "initialInterval",
            &raw.initial_interval,
            &mut policy.initial_interval,
        )?;
        duration("maxInterval", &raw.max_interval, &mut policy.max_interval)?;
        duration(
            "maxElapsedTime",
            &raw.max_elapsed_time,
            &mut policy.max_elapsed_time,
        )?;
        if let Some(multiplier) = raw.multiplier {
            policy.multiplier = multiplier;
        }
        if let Some(factor) = raw.randomization_factor {
            policy.randomization_factor = factor;
        }
        if let Some(max_retries) = raw.max_retries {
            policy.max_retries = max_retries;
        }
        if let Some(codes) = raw.matching.and_then(|m| m.http_status_codes) {
            policy.http_status_codes = Some(
                parse_status_codes(&codes)
                    .map_err(|err| D::Error::custom(format!("matching.httpStatusCodes: {err}")))?,
            );
        }
        Ok(policy)
    }
}

/// `"500,502-504"` → inclusive ranges.
fn parse_status_codes(text: &str) -> Result<Vec<(u16, u16)>, String> {
    let mut ranges = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (low, high) = part.split_once('-').unwrap_or((part, part));
        let parse = |s: &str| {
            s.trim()
                .parse::<u16>()
                .ok()
                .filter(|code| (100..=599).contains(code))
                .ok_or_else(|| format!("invalid status code {s:?}"))
        };
        let (low, high) = (parse(low)?, parse(high)?);
        if low > high {
            return Err(format!("invalid range {part:?}"));
        }
        ranges.push((low, high));
    }
    Ok(ranges)
}

/// Parsed and validated, but not enforced by this sidecar.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CircuitBreakerPolicy {
    #[serde(rename = "maxRequests", default)]
    pub max_requests: Option<u32>,
    #[serde(default)]
    pub interval: Option<String>,
    #[serde(default)]
    pub timeout: Option<String>,
    #[serde(default)]
    pub trip: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Targets {
    #[serde(default)]
    pub apps: BTreeMap<String, PolicyNames>,
    #[serde(default)]
    pub actors: BTreeMap<String, ActorPolicyNames>,
    #[serde(default)]
    pub components: BTreeMap<String, ComponentPolicyNames>,
}

/// Names of the policies applied to one target; empty = none.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyNames {
    #[serde(default)]
    pub timeout: Option<String>,
    #[serde(default)]
    pub retry: Option<String>,
    #[serde(rename = "circuitBreaker", default)]
    pub circuit_breaker: Option<String>,
    #[serde(rename = "circuitBreakerCacheSize", default)]
    pub circuit_breaker_cache_size: Option<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActorPolicyNames {
    #[serde(default)]
    pub timeout: Option<String>,
    #[serde(default)]
    pub retry: Option<String>,
    #[serde(rename = "circuitBreaker", default)]
    pub circuit_breaker: Option<String>,
    #[serde(rename = "circuitBreakerScope", default)]
    pub circuit_breaker_scope: Option<String>,
    #[serde(rename = "circuitBreakerCacheSize", default)]
    pub circuit_breaker_cache_size: Option<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentPolicyNames {
    #[serde(default)]
    pub inbound: PolicyNames,
    #[serde(default)]
    pub outbound: PolicyNames,
}

impl Resiliency {
    /// Whether the resiliency applies to app `app_id` (`scopes` empty = every app).
    pub fn applies_to(&self, app_id: &str) -> bool {
        self.scopes.is_empty() || self.scopes.iter().any(|s| s == app_id)
    }

    /// Every policy name a target refers to must exist.
    fn validate(&self) -> Result<(), String> {
        let policies = &self.spec.policies;
        let check = |target: String, names: &PolicyNames| -> Result<(), String> {
            if let Some(name) = &names.timeout
                && !policies.timeouts.contains_key(name)
            {
                return Err(format!(
                    "{target}.timeout: no timeout policy named {name:?}"
                ));
            }
            if let Some(name) = &names.retry
                && !policies.retries.contains_key(name)
            {
                return Err(format!("{target}.retry: no retry policy named {name:?}"));
            }
            if let Some(name) = &names.circuit_breaker
                && !policies.circuit_breakers.contains_key(name)
            {
                return Err(format!(
                    "{target}.circuitBreaker: no circuit breaker policy named {name:?}"
                ));
            }
            Ok(())
        };
        for (name, names) in &self.spec.targets.apps {
            check(format!("spec.targets.apps.{name}"), names)?;
        }
        for (name, names) in &self.spec.targets.components {
            check(
                format!("spec.targets.components.{name}.inbound"),
                &names.inbound,
            )?;
            check(
                format!("spec.targets.components.{name}.outbound"),
                &names.outbound,
            )?;
        }
        for (name, actor) in &self.spec.targets.actors {
            let names = PolicyNames {
                timeout: actor.timeout.clone(),
                retry: actor.retry.clone(),
                circuit_breaker: actor.circuit_breaker.clone(),
                circuit_breaker_cache_size: None,
            };
            check(format!("spec.targets.actors.{name}"), &names)?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Configuration (dapr.io/v1alpha1)
// ---------------------------------------------------------------------------------------------

/// `kind: Configuration`. `accessControl` and `features` are typed; the other sections daprd
/// knows are kept as raw YAML in `other`; a section daprd does not know is an error.
#[derive(Debug, Clone, PartialEq)]
pub struct Configuration {
    pub metadata: ObjectMeta,
    pub access_control: Option<AccessControl>,
    pub features: Vec<Feature>,
    pub other: BTreeMap<String, serde_yaml_ng::Value>,
    pub scopes: Vec<String>,
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
    spec: BTreeMap<String, serde_yaml_ng::Value>,
    #[serde(default)]
    scopes: Vec<String>,
}

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
        for (key, value) in doc.spec {
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
            scopes: doc.scopes,
            file: file.to_owned(),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------------------------

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
                    let mut component = Component::deserialize(document)
                        .map_err(|err| doc_error(err.to_string()))?;
                    if component.metadata.name.is_empty() {
                        return Err(doc_error("metadata.name: missing".into()));
                    }
                    if component.spec.component_type.is_empty() {
                        return Err(doc_error("spec.type: missing".into()));
                    }
                    component.file = file.to_owned();
                    self.components.push(component);
                }
                Some("Subscription") => {
                    let subscription = parse_subscription(document, api_version.as_deref(), file)
                        .map_err(doc_error)?;
                    self.subscriptions.push(subscription);
                }
                Some("Resiliency") => {
                    let mut resiliency = Resiliency::deserialize(document)
                        .map_err(|err| doc_error(err.to_string()))?;
                    resiliency.validate().map_err(doc_error)?;
                    resiliency.file = file.to_owned();
                    self.resiliencies.push(resiliency);
                }
                Some("Configuration") => {
                    let doc = ConfigurationDoc::deserialize(document)
                        .map_err(|err| doc_error(err.to_string()))?;
                    let configuration = Configuration::from_doc(doc, file).map_err(doc_error)?;
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

    /// The retry policy (and per-attempt timeout) daprd applies to deliveries from pub/sub
    /// `pubsub` into app `app_id`: the resiliencies scoped to the app, target
    /// `components.<pubsub>.inbound`, else the default policies
    /// `DefaultPubsubComponentInboundRetryPolicy`, `DefaultComponentInboundRetryPolicy`,
    /// `DefaultComponentRetryPolicy`, `DefaultRetryPolicy` (daprd `ComponentInboundPolicy`).
    pub fn component_inbound_policy(
        &self,
        app_id: &str,
        pubsub: &str,
    ) -> (Option<RetryPolicy>, Option<Duration>) {
        let scoped: Vec<&Resiliency> = self
            .resiliencies
            .iter()
            .filter(|r| r.applies_to(app_id))
            .collect();
        let retry_named = |name: &str| {
            scoped
                .iter()
                .rev()
                .find_map(|r| r.spec.policies.retries.get(name).cloned())
        };
        let timeout_named = |name: &str| {
            scoped
                .iter()
                .rev()
                .find_map(|r| r.spec.policies.timeouts.get(name).copied())
        };
        if let Some(names) = scoped
            .iter()
            .rev()
            .find_map(|r| r.spec.targets.components.get(pubsub))
        {
            let retry = names.inbound.retry.as_deref().and_then(retry_named);
            let timeout = names.inbound.timeout.as_deref().and_then(timeout_named);
            return (retry, timeout);
        }
        let levels = [
            "PubsubComponentInbound",
            "ComponentInbound",
            "Component",
            "",
        ];
        let retry = levels
            .iter()
            .find_map(|level| retry_named(&format!("Default{level}RetryPolicy")));
        let timeout = levels
            .iter()
            .find_map(|level| timeout_named(&format!("Default{level}TimeoutPolicy")));
        (retry, timeout)
    }
}

fn parse_subscription(
    document: serde_yaml_ng::Deserializer<'_>,
    api_version: Option<&str>,
    file: &Path,
) -> Result<Subscription, String> {
    let version = api_version.unwrap_or("");
    let subscription = match version {
        "dapr.io/v2alpha1" => {
            let doc = SubscriptionDoc::<SubscriptionSpecV2>::deserialize(document)
                .map_err(|err| err.to_string())?;
            let spec = doc.spec;
            Subscription {
                name: doc.metadata.name,
                api_version: version.to_owned(),
                pubsub_name: spec.pubsubname,
                topic: spec.topic,
                rules: spec.routes.rules,
                default_route: spec.routes.default.filter(|d| !d.is_empty()),
                dead_letter_topic: spec.dead_letter_topic.filter(|t| !t.is_empty()),
                metadata: spec.metadata,
                bulk_subscribe: spec.bulk_subscribe,
                scopes: doc.scopes,
                file: file.to_owned(),
            }
        }
        "dapr.io/v1alpha1" => {
            let doc = SubscriptionDoc::<SubscriptionSpecV1>::deserialize(document)
                .map_err(|err| err.to_string())?;
            let spec = doc.spec;
            Subscription {
                name: doc.metadata.name,
                api_version: version.to_owned(),
                pubsub_name: spec.pubsubname,
                topic: spec.topic,
                rules: Vec::new(),
                // daprd always adds the v1 route as the catch-all, even when empty.
                default_route: Some(spec.route),
                dead_letter_topic: spec.dead_letter_topic.filter(|t| !t.is_empty()),
                metadata: spec.metadata,
                bulk_subscribe: spec.bulk_subscribe,
                scopes: doc.scopes,
                file: file.to_owned(),
            }
        }
        other => {
            return Err(format!(
                "apiVersion: unsupported Subscription version {other:?} (expected dapr.io/v2alpha1 or dapr.io/v1alpha1)"
            ));
        }
    };
    let name = &subscription.name;
    if subscription.pubsub_name.is_empty() {
        return Err(format!("subscription {name:?}: spec.pubsubname: missing"));
    }
    if subscription.topic.is_empty() {
        return Err(format!("subscription {name:?}: spec.topic: missing"));
    }
    if subscription.rules.is_empty() && subscription.default_route.is_none() {
        return Err(format!(
            "subscription {name:?}: spec.routes: neither rules nor a default route"
        ));
    }
    for (i, rule) in subscription.rules.iter().enumerate() {
        cel::compile(&rule.match_expr).map_err(|err| {
            format!(
                "subscription {name:?}: spec.routes.rules[{i}].match: {err} in {:?}",
                rule.match_expr
            )
        })?;
    }
    Ok(subscription)
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

fn duration_map<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<String, Duration>, D::Error> {
    use serde::de::Error;
    BTreeMap::<String, String>::deserialize(deserializer)?
        .into_iter()
        .map(|(name, text)| {
            parse_go_duration(&text)
                .map(|d| (name.clone(), d))
                .map_err(|err| D::Error::custom(format!("{name}: {err}")))
        })
        .collect()
}

/// Go's `time.ParseDuration` for non-negative durations: `300ms`, `1.5s`, `1h30m`, `0`.
pub(crate) fn parse_go_duration(text: &str) -> Result<Duration, String> {
    let invalid = || format!("invalid duration {text:?}");
    let s = text.trim();
    let s = s.strip_prefix('+').unwrap_or(s);
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() || s.starts_with('-') {
        return Err(invalid());
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(invalid)?;
        if number_len == 0 {
            return Err(invalid());
        }
        let number: f64 = rest[..number_len].parse().map_err(|_| invalid())?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let nanos_per_unit = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(invalid()),
        };
        rest = &rest[unit_len..];
        total += number * nanos_per_unit;
    }
    Ok(Duration::from_nanos(total.round() as u64))
}

impl fmt::Display for BackoffKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BackoffKind::Constant => "constant",
            BackoffKind::Exponential => "exponential",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Resources, ResourceError> {
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

    #[test]
    fn an_unsupported_routing_expression_fails_loading() {
        let err = load(
            "apiVersion: dapr.io/v2alpha1\nkind: Subscription\nmetadata: {name: s}\nspec:\n  pubsubname: p\n  topic: t\n  routes:\n    rules:\n      - match: event.data.count + 1 == 2\n        path: /x\n",
        )
        .expect_err("unsupported");
        assert!(err.message.contains("rules[0].match"), "{err}");
        assert!(err.message.contains("subscription \"s\""), "{err}");
    }

    #[test]
    fn v1_subscriptions_route_everything_to_their_route() {
        let resources = load(
            "apiVersion: dapr.io/v1alpha1\nkind: Subscription\nmetadata: {name: s}\nspec: {pubsubname: p, topic: t, route: /in}\nscopes: [a]\n",
        )
        .expect("loads");
        let sub = &resources.subscriptions[0];
        assert_eq!(sub.default_route.as_deref(), Some("/in"));
        assert!(sub.applies_to("a") && !sub.applies_to("b"));
    }

    #[test]
    fn a_retry_target_must_name_an_existing_policy() {
        let err = load(
            "apiVersion: dapr.io/v1alpha1\nkind: Resiliency\nmetadata: {name: r}\nspec:\n  policies: {}\n  targets:\n    components:\n      pubsub:\n        inbound: {retry: missing}\n",
        )
        .expect_err("dangling");
        assert!(
            err.message
                .contains("spec.targets.components.pubsub.inbound.retry"),
            "{err}"
        );
    }

    #[test]
    fn default_policies_apply_when_the_component_has_no_target() {
        let resources = load(
            "apiVersion: dapr.io/v1alpha1\nkind: Resiliency\nmetadata: {name: r}\nspec:\n  policies:\n    retries:\n      DefaultComponentInboundRetryPolicy: {policy: constant, duration: 10ms, maxRetries: 2}\n",
        )
        .expect("loads");
        let (retry, _) = resources.component_inbound_policy("a", "pubsub");
        assert_eq!(retry.expect("default").duration, Duration::from_millis(10));
    }

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

    #[test]
    fn configurations_reject_unknown_sections() {
        let err = load(
            "apiVersion: dapr.io/v1alpha1\nkind: Configuration\nmetadata: {name: c}\nspec:\n  acessControl: {}\n",
        )
        .expect_err("typo");
        assert!(err.message.contains("acessControl"), "{err}");
    }

    #[test]
    fn go_durations_parse() {
        assert_eq!(parse_go_duration("200ms"), Ok(Duration::from_millis(200)));
        assert_eq!(parse_go_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_go_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_go_duration("0"), Ok(Duration::ZERO));
        assert!(parse_go_duration("5").is_err());
        assert!(parse_go_duration("5 s").is_err());
        assert!(parse_go_duration("-1s").is_err());
    }

    #[test]
    fn status_code_ranges_parse() {
        assert_eq!(
            parse_status_codes("500, 502-504"),
            Ok(vec![(500, 500), (502, 504)])
        );
        assert!(parse_status_codes("99").is_err());
    }
}
