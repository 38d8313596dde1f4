//! `kind: Subscription` in both API versions daprd reads (`pkg/apis/subscriptions/v2alpha1` with
//! routing rules, `v1alpha1` with one route), normalised into one [`Subscription`] as
//! `pkg/runtime/pubsub/subscriptions.go` (`marshalSubscription`) does. Routing rules are compiled
//! here, so an expression outside the supported CEL subset fails loading.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::ResourceDoc;
use crate::pubsub::cel;

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

#[derive(Default, Deserialize)]
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

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RoutesV2 {
    #[serde(default)]
    rules: Vec<RoutingRule>,
    #[serde(default)]
    default: Option<String>,
}

#[derive(Default, Deserialize)]
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

/// A v1 spec is a v2 spec whose only route is the default.
impl From<SubscriptionSpecV1> for SubscriptionSpecV2 {
    fn from(v1: SubscriptionSpecV1) -> Self {
        Self {
            pubsubname: v1.pubsubname,
            topic: v1.topic,
            routes: RoutesV2 {
                rules: Vec::new(),
                default: Some(v1.route),
            },
            metadata: v1.metadata,
            dead_letter_topic: v1.dead_letter_topic,
            bulk_subscribe: v1.bulk_subscribe,
        }
    }
}

fn into_subscription(
    doc: ResourceDoc<SubscriptionSpecV2>,
    version: &str,
    file: &Path,
) -> Subscription {
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

/// One YAML document of `kind: Subscription` (API version `api_version`) read from `file`.
pub(super) fn parse(
    document: serde_yaml_ng::Deserializer<'_>,
    api_version: Option<&str>,
    file: &Path,
) -> Result<Subscription, String> {
    let version = api_version.unwrap_or("");
    let subscription = match version {
        "dapr.io/v2alpha1" => {
            let doc = ResourceDoc::<SubscriptionSpecV2>::deserialize(document)
                .map_err(|err| err.to_string())?;
            into_subscription(doc, version, file)
        }
        "dapr.io/v1alpha1" => {
            let doc = ResourceDoc::<SubscriptionSpecV1>::deserialize(document)
                .map_err(|err| err.to_string())?;
            let mut subscription = into_subscription(
                ResourceDoc {
                    api_version: doc.api_version,
                    kind: doc.kind,
                    metadata: doc.metadata,
                    spec: doc.spec.into(),
                    scopes: doc.scopes,
                },
                version,
                file,
            );
            // daprd always adds the v1 route as the catch-all, even when empty.
            subscription.default_route.get_or_insert_default();
            subscription
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

#[cfg(test)]
mod tests {
    use crate::resources::tests::load;

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
}
