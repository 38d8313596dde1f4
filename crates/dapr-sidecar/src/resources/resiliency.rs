//! `kind: Resiliency` (`dapr.io/v1alpha1`, daprd `pkg/apis/resiliency/v1alpha1/types.go`), with
//! retry policies decoded as daprd does, and the policy daprd applies to deliveries from a pub/sub
//! into an app ([`Resources::component_inbound_policy`], daprd `pkg/resiliency/resiliency.go`).
//!
//! A retry policy has exactly the fields of daprd's `RetryPolicy` type: `policy`, `duration`,
//! `maxInterval`, `maxRetries`, `matching` (the CRD schema says the same). daprd's
//! `decodePolicies` hands only those to dapr/kit `retry.DecodeConfig`, on top of
//! `retry.DefaultConfig()`, so the exponential back-off always starts at cenkalti/backoff's
//! defaults: first interval 500 ms, ×1.5 per retry, ±50 % jitter, capped at `maxInterval`
//! (default 60 s), giving up after 15 min in total (`MaxElapsedTime`) or `maxRetries`. Fields
//! such as `initialInterval` or `multiplier` are not part of the type: this loader refuses them
//! (daprd would silently drop them, and its schedule would differ from the one they suggest).
//!
//! Durations (`timeouts`, `duration`, `maxInterval`) are Go durations. daprd accepts a negative
//! one: `pkg/resiliency/resiliency.go` (`decodePolicies` → `parseDuration`) and dapr/kit
//! `config/decode.go` (`ToTimeDurationHookFunc`, which `retry.DecodeConfig` uses) both hand the
//! text to `time.ParseDuration` without checking the sign, so a negative timeout or interval
//! silently means "none". This loader refuses it, as it refuses other values daprd would
//! silently misread (see the module docs of `resources`).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::{ObjectMeta, Resources};
use crate::go_duration::{self, GoDurationError};

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
    /// Exponential back-off. Only `max_interval` can be set in a resource; the others are
    /// always cenkalti/backoff's defaults (500 ms, ×1.5, ±50 %, 15 min), as in daprd.
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
    #[serde(rename = "maxInterval", default)]
    max_interval: Option<String>,
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
                *into = policy_duration(text)
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
        duration("maxInterval", &raw.max_interval, &mut policy.max_interval)?;
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

/// A component target: separate policies for calls into the app (`inbound`) and calls to the
/// component (`outbound`); daprd's `ComponentPolicyNames` has no cache size.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentPolicyNames {
    #[serde(default)]
    pub inbound: DirectionPolicyNames,
    #[serde(default)]
    pub outbound: DirectionPolicyNames,
}

/// Policy names of one direction of a component target.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectionPolicyNames {
    #[serde(default)]
    pub timeout: Option<String>,
    #[serde(default)]
    pub retry: Option<String>,
    #[serde(rename = "circuitBreaker", default)]
    pub circuit_breaker: Option<String>,
}

impl From<&DirectionPolicyNames> for PolicyNames {
    fn from(names: &DirectionPolicyNames) -> Self {
        PolicyNames {
            timeout: names.timeout.clone(),
            retry: names.retry.clone(),
            circuit_breaker: names.circuit_breaker.clone(),
            circuit_breaker_cache_size: None,
        }
    }
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
                &PolicyNames::from(&names.inbound),
            )?;
            check(
                format!("spec.targets.components.{name}.outbound"),
                &PolicyNames::from(&names.outbound),
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

impl Resources {
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

/// One YAML document of `kind: Resiliency` read from `file`; every policy a target names must
/// exist.
pub(super) fn parse(
    document: serde_yaml_ng::Deserializer<'_>,
    file: &Path,
) -> Result<Resiliency, String> {
    let mut resiliency = Resiliency::deserialize(document).map_err(|err| err.to_string())?;
    resiliency.validate()?;
    resiliency.file = file.to_owned();
    Ok(resiliency)
}

/// A resiliency duration: a Go duration that is not negative (see the module docs).
fn policy_duration(text: &str) -> Result<Duration, GoDurationError> {
    go_duration::parse_non_negative(text)
}

fn duration_map<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<String, Duration>, D::Error> {
    use serde::de::Error;
    BTreeMap::<String, String>::deserialize(deserializer)?
        .into_iter()
        .map(|(name, text)| {
            policy_duration(&text)
                .map(|d| (name.clone(), d))
                .map_err(|err| D::Error::custom(format!("{name}: {err}")))
        })
        .collect()
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
    use crate::resources::tests::load;

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
    fn retry_policies_have_only_daprds_fields_and_its_back_off_defaults() {
        for field in [
            "initialInterval: 200ms",
            "multiplier: 2",
            "randomizationFactor: 0",
            "maxElapsedTime: 1m",
        ] {
            let err = load(&format!(
                "apiVersion: dapr.io/v1alpha1\nkind: Resiliency\nmetadata: {{name: r}}\nspec:\n  policies:\n    retries:\n      r: {{policy: exponential, {field}}}\n  targets: {{}}\n"
            ))
            .expect_err(field);
            let name = field.split(':').next().unwrap_or_default();
            assert!(err.to_string().starts_with("test.yaml: "), "{err}");
            assert!(
                err.message.contains(&format!("unknown field `{name}`")),
                "{err}"
            );
        }
        let resources = load(
            "apiVersion: dapr.io/v1alpha1\nkind: Resiliency\nmetadata: {name: r}\nspec:\n  policies:\n    retries:\n      r: {policy: exponential, maxInterval: 10s, maxRetries: 8}\n  targets: {}\n",
        )
        .expect("loads");
        let policy = &resources.resiliencies[0].spec.policies.retries["r"];
        assert_eq!(
            (
                policy.initial_interval,
                policy.multiplier,
                policy.randomization_factor
            ),
            (Duration::from_millis(500), 1.5, 0.5)
        );
        assert_eq!(policy.max_elapsed_time, Duration::from_secs(15 * 60));
        assert_eq!(policy.max_interval, Duration::from_secs(10));
    }

    #[test]
    fn component_targets_have_no_circuit_breaker_cache_size() {
        let err = load(
            "apiVersion: dapr.io/v1alpha1\nkind: Resiliency\nmetadata: {name: r}\nspec:\n  policies: {}\n  targets:\n    components:\n      pubsub:\n        inbound: {circuitBreakerCacheSize: 10}\n",
        )
        .expect_err("not a component field");
        assert!(err.message.contains("circuitBreakerCacheSize"), "{err}");
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
    fn policy_durations_are_go_durations_and_not_negative() {
        assert_eq!(policy_duration("200ms"), Ok(Duration::from_millis(200)));
        assert_eq!(policy_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(policy_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(policy_duration("0"), Ok(Duration::ZERO));
        assert!(policy_duration("5").is_err());
        assert!(policy_duration("5 s").is_err());
        assert_eq!(
            policy_duration("-1s"),
            Err(GoDurationError::Negative("-1s".into()))
        );
        let err = load(
            "apiVersion: dapr.io/v1alpha1\nkind: Resiliency\nmetadata: {name: r}\nspec:\n  policies:\n    timeouts: {quick: -5s}\n",
        )
        .expect_err("negative timeout");
        assert!(
            err.message.contains(r#"quick: negative duration "-5s""#),
            "{err}"
        );
        let err = load(
            "apiVersion: dapr.io/v1alpha1\nkind: Resiliency\nmetadata: {name: r}\nspec:\n  policies:\n    retries:\n      r: {policy: constant, duration: '5'}\n",
        )
        .expect_err("unitless");
        assert!(
            err.message
                .contains(r#"duration: time: missing unit in duration "5""#),
            "{err}"
        );
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
