//! The subscriptions in force: declarative ones from the resources folder and programmatic ones
//! from each app's `GET /dapr/subscribe`, following daprd `pkg/runtime/pubsub/subscriptions.go`
//! (`GetSubscriptionsHTTP`, `marshalSubscription`, `filterSubscriptions`).
//!
//! Rules: the route rules in order, then `routes.default` (or the v1 `route`, used only when
//! there is no `routes.default`) as a rule with no condition. A subscription without any rule is
//! dropped with a warning. When an app has a programmatic and a declarative subscription to the
//! same pub/sub and topic, the programmatic one is kept (daprd: "two identical subscriptions
//! found (sources: declarative, app endpoint)").

use std::collections::BTreeMap;

use serde_json::Value;

use crate::go_json::decode::{self as go_decode, GoType};

use super::cel::{self, EvalError, Expr};
use super::parse_go_bool;
use crate::resources::Subscription as DeclaredSubscription;

/// Where a subscription came from (`/v1.0/metadata` `type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscriptionKind {
    Declarative,
    Programmatic,
}

impl SubscriptionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SubscriptionKind::Declarative => "DECLARATIVE",
            SubscriptionKind::Programmatic => "PROGRAMMATIC",
        }
    }
}

/// One rule: `None` = always matches.
#[derive(Debug, Clone)]
pub(crate) struct Rule {
    pub expr: Option<Expr>,
    pub path: String,
}

/// A subscription of one app to one topic.
#[derive(Debug, Clone)]
pub(crate) struct ActiveSubscription {
    pub app_id: String,
    pub pubsub: String,
    pub topic: String,
    pub rules: Vec<Rule>,
    pub dead_letter_topic: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub kind: SubscriptionKind,
    /// Where it was declared (file and name), for logs.
    pub origin: String,
}

impl ActiveSubscription {
    /// daprd `findMatchingRoute`: the path of the first matching rule, `None` when none
    /// matches, an error when a rule cannot be evaluated.
    pub fn route(&self, event: &Value) -> Result<Option<&str>, EvalError> {
        for rule in &self.rules {
            let matched = match &rule.expr {
                None => true,
                Some(expr) => expr.matches(event)?,
            };
            if matched {
                return Ok(Some(&rule.path));
            }
        }
        Ok(None)
    }

    /// Subscription metadata `rawPayload=true`: the broker's bytes are wrapped in a CloudEvent
    /// on delivery.
    pub fn raw_payload(&self) -> bool {
        self.metadata
            .get("rawPayload")
            .and_then(|v| parse_go_bool(v))
            .unwrap_or(false)
    }

    pub fn from_declared(app_id: &str, declared: &DeclaredSubscription) -> Result<Self, String> {
        let mut rules = Vec::with_capacity(declared.rules.len() + 1);
        for rule in &declared.rules {
            rules.push(rule_of(&rule.match_expr, &rule.path)?);
        }
        if let Some(default) = &declared.default_route {
            rules.push(Rule {
                expr: None,
                path: default.clone(),
            });
        }
        Ok(ActiveSubscription {
            app_id: app_id.to_owned(),
            pubsub: declared.pubsub_name.clone(),
            topic: declared.topic.clone(),
            rules,
            dead_letter_topic: declared.dead_letter_topic.clone(),
            metadata: declared.metadata.clone(),
            kind: SubscriptionKind::Declarative,
            origin: format!(
                "subscription {:?} in {}",
                declared.name,
                declared.file.display()
            ),
        })
    }
}

fn rule_of(match_expr: &str, path: &str) -> Result<Rule, String> {
    let expr = if match_expr.trim().is_empty() {
        None
    } else {
        Some(cel::compile(match_expr).map_err(|err| format!("{err} in {match_expr:?}"))?)
    };
    Ok(Rule {
        expr,
        path: path.to_owned(),
    })
}

/// A field of an object already decoded by Go's rules (canonical names).
fn field<'a>(object: &'a serde_json::Map<String, Value>, name: &str) -> Option<&'a Value> {
    object.get(name)
}

fn string_field(object: &serde_json::Map<String, Value>, name: &str) -> Result<String, String> {
    match field(object, name) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(format!("{name}: expected a string, got {other}")),
    }
}

/// daprd `pkg/runtime/subscription` `SubscriptionJSON` (`PubsubName string json:"pubsubname"`,
/// `Topic string json:"topic"`, `DeadLetterTopic string json:"deadLetterTopic"`, `Metadata
/// map[string]string json:"metadata,omitempty"`, `Route string json:"route"`, `Routes
/// RoutesJSON json:"routes"`, `BulkSubscribe BulkSubscribeJSON json:"bulkSubscribe,omitempty"`),
/// with `RoutesJSON` (`Rules []*RuleJSON json:"rules,omitempty"`, `Default string
/// json:"default,omitempty"`) and `RuleJSON` (`Match string json:"match"`, `Path string
/// json:"path"`): an app's answer is a `[]SubscriptionJSON` read by Go's rules.
const GO_SUBSCRIBE_BODY: GoType = GoType::Slice(&GoType::Struct(
    "SubscriptionJSON",
    &[
        ("pubsubname", GoType::String),
        ("topic", GoType::String),
        ("deadLetterTopic", GoType::String),
        ("metadata", GoType::Map(&GoType::String)),
        ("route", GoType::String),
        (
            "routes",
            GoType::Struct(
                "RoutesJSON",
                &[
                    (
                        "rules",
                        GoType::Slice(&GoType::Ptr(&GoType::Struct(
                            "RuleJSON",
                            &[("match", GoType::String), ("path", GoType::String)],
                        ))),
                    ),
                    ("default", GoType::String),
                ],
            ),
        ),
        (
            "bulkSubscribe",
            GoType::Struct(
                "BulkSubscribeJSON",
                &[
                    ("enabled", GoType::Bool),
                    ("maxMessagesCount", GoType::Number("int32")),
                    ("maxAwaitDurationMs", GoType::Number("int32")),
                ],
            ),
        ),
    ],
));

/// Parses an app's `GET /dapr/subscribe` answer (200 body) into its subscriptions. An error
/// (bad JSON, wrong types, an unsupported rule) rejects the whole answer, as in daprd.
pub(crate) fn parse_programmatic(
    app_id: &str,
    body: &[u8],
) -> Result<Vec<ActiveSubscription>, String> {
    // Names are canonical after this, so the lookups below are exact.
    let value: Value = go_decode::decode(body, &GO_SUBSCRIBE_BODY)?;
    let items = match value {
        Value::Null => return Ok(Vec::new()),
        Value::Array(items) => items,
        other => return Err(format!("expected a JSON array, got {other}")),
    };
    let mut subscriptions = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = |err: String| format!("[{i}].{err}");
        let Value::Object(object) = item else {
            return Err(format!("[{i}]: expected an object"));
        };
        let pubsub = string_field(object, "pubsubname").map_err(at)?;
        let topic = string_field(object, "topic").map_err(at)?;
        let route = string_field(object, "route").map_err(at)?;
        let dead_letter_topic = string_field(object, "deadLetterTopic").map_err(at)?;
        let metadata = match field(object, "metadata") {
            None | Some(Value::Null) => BTreeMap::new(),
            Some(Value::Object(map)) => map
                .iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Ok((k.clone(), s.clone())),
                    other => Err(at(format!("metadata.{k}: expected a string, got {other}"))),
                })
                .collect::<Result<_, _>>()?,
            Some(other) => return Err(at(format!("metadata: expected an object, got {other}"))),
        };
        let mut rules = Vec::new();
        let mut default = String::new();
        match field(object, "routes") {
            None | Some(Value::Null) => {}
            Some(Value::Object(routes)) => {
                default = string_field(routes, "default").map_err(at)?;
                match field(routes, "rules") {
                    None | Some(Value::Null) => {}
                    Some(Value::Array(list)) => {
                        for (j, rule) in list.iter().enumerate() {
                            let Value::Object(rule) = rule else {
                                return Err(at(format!("routes.rules[{j}]: expected an object")));
                            };
                            let match_expr = string_field(rule, "match").map_err(at)?;
                            let path = string_field(rule, "path").map_err(at)?;
                            rules
                                .push(rule_of(&match_expr, &path).map_err(|err| {
                                    at(format!("routes.rules[{j}].match: {err}"))
                                })?);
                        }
                    }
                    Some(other) => {
                        return Err(at(format!("routes.rules: expected an array, got {other}")));
                    }
                }
            }
            Some(other) => return Err(at(format!("routes: expected an object, got {other}"))),
        }
        if !default.is_empty() {
            rules.push(Rule {
                expr: None,
                path: default,
            });
        } else if !route.is_empty() {
            rules.push(Rule {
                expr: None,
                path: route,
            });
        }
        if rules.is_empty() {
            tracing::warn!(
                app_id,
                topic,
                "topic {topic} has an empty routes. removing from subscriptions list"
            );
            continue;
        }
        subscriptions.push(ActiveSubscription {
            app_id: app_id.to_owned(),
            pubsub,
            topic,
            rules,
            dead_letter_topic: Some(dead_letter_topic).filter(|t| !t.is_empty()),
            metadata,
            kind: SubscriptionKind::Programmatic,
            origin: format!("GET /dapr/subscribe of {app_id}"),
        });
    }
    Ok(subscriptions)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn v1_and_v2_shapes_parse() {
        let body = json!([
            {"pubsubname": "pubsub", "topic": "a", "route": "/a"},
            {"pubsubName": "pubsub", "topic": "b", "route": "/ignored",
             "routes": {"rules": [{"match": "event.type == 'x'", "path": "/x"}], "default": "/b"},
             "deadLetterTopic": "dlq", "metadata": {"rawPayload": "true"}},
            {"pubsubname": "pubsub", "topic": "no-route"}
        ]);
        let subs = parse_programmatic("app", body.to_string().as_bytes()).expect("parses");
        assert_eq!(subs.len(), 2, "the subscription without a route is dropped");
        assert_eq!(subs[0].rules.len(), 1);
        assert_eq!(subs[0].rules[0].path, "/a");
        assert_eq!(subs[1].pubsub, "pubsub");
        let paths: Vec<_> = subs[1].rules.iter().map(|r| r.path.as_str()).collect();
        assert_eq!(paths, ["/x", "/b"]);
        assert_eq!(subs[1].dead_letter_topic.as_deref(), Some("dlq"));
        assert!(subs[1].raw_payload());
        assert_eq!(subs[1].route(&json!({"type": "x"})), Ok(Some("/x")));
        assert_eq!(subs[1].route(&json!({"type": "y"})), Ok(Some("/b")));
    }

    #[test]
    fn an_unsupported_rule_rejects_the_answer() {
        let body = json!([{"pubsubname": "p", "topic": "t",
            "routes": {"rules": [{"match": "event.n + 1 == 2", "path": "/x"}]}}]);
        let err = parse_programmatic("app", body.to_string().as_bytes()).expect_err("rejected");
        assert!(err.contains("[0].routes.rules[0].match"), "{err}");
    }

    #[test]
    fn field_names_are_matched_like_go_and_the_last_duplicate_wins() {
        let body = br#"[{"PUBSUBNAME": "pubsub", "Topic": "a", "topic": "b",
            "Routes": {"Rules": [{"MATCH": "", "Path": "/r"}], "DEFAULT": "/d"}, "route": null}]"#;
        let subs = parse_programmatic("app", body).expect("parses");
        assert_eq!(
            (subs[0].pubsub.as_str(), subs[0].topic.as_str()),
            ("pubsub", "b")
        );
        let paths: Vec<_> = subs[0].rules.iter().map(|r| r.path.as_str()).collect();
        assert_eq!(paths, ["/r", "/d"]);
    }

    #[test]
    fn malformed_answers_are_errors() {
        assert!(parse_programmatic("app", b"{}").is_err());
        assert!(parse_programmatic("app", b"[{\"topic\": 1}]").is_err());
        assert!(parse_programmatic("app", b"").is_err());
        assert_eq!(parse_programmatic("app", b"null").map(|s| s.len()), Ok(0));
    }
}
