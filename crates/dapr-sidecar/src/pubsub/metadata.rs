//! `GET /v1.0/metadata`, shaped as daprd `pkg/api/http/metadata.go` (`metadataResponse`): field
//! names and order, `omitempty` where daprd has it, and the subscription rules flattened to
//! `rules: [{match, path}]` (daprd's backward-compatible HTTP shape).
//!
//! Components: the configured state stores and pub/subs (type and version from the resources
//! folder when a component of that name is declared there, else `state.in-memory` /
//! `pubsub.in-memory` `v1`), plus the secret stores declared in the resources folder.
//! Capabilities are what this sidecar implements (state: `ETAG`, `TRANSACTIONAL`, `TTL`).
//! Subscriptions are those of the calling app. `enabledFeatures` come from the Configurations
//! that apply to the app.

use bytes::Bytes;
use http::{Response, StatusCode};
use serde::Serialize;

use super::SubscriptionInfo;
use crate::Inner;
use crate::error::{ApiError, json_response};

/// daprd version this sidecar answers as.
pub(crate) const RUNTIME_VERSION: &str = "1.16.0-embedded";

#[derive(Serialize)]
struct MetadataResponse<'a> {
    id: &'a str,
    #[serde(rename = "runtimeVersion")]
    runtime_version: &'static str,
    #[serde(rename = "enabledFeatures", skip_serializing_if = "Vec::is_empty")]
    enabled_features: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    components: Vec<ComponentJson>,
    extended: std::collections::BTreeMap<&'static str, &'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    subscriptions: Vec<SubscriptionJson>,
    #[serde(rename = "appConnectionProperties")]
    app_connection_properties: AppConnection,
    #[serde(rename = "actorRuntime")]
    actor_runtime: ActorRuntime,
}

#[derive(Serialize)]
struct ComponentJson {
    name: String,
    #[serde(rename = "type")]
    component_type: String,
    version: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    capabilities: Vec<&'static str>,
}

#[derive(Serialize)]
struct SubscriptionJson {
    pubsubname: String,
    topic: String,
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    metadata: std::collections::BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    rules: Vec<RuleJson>,
    #[serde(rename = "deadLetterTopic")]
    dead_letter_topic: String,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
struct RuleJson {
    #[serde(rename = "match", skip_serializing_if = "String::is_empty")]
    match_expr: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    path: String,
}

#[derive(Serialize)]
struct AppConnection {
    protocol: &'static str,
    #[serde(rename = "channelAddress")]
    channel_address: &'static str,
}

#[derive(Serialize)]
struct ActorRuntime {
    #[serde(rename = "runtimeStatus")]
    runtime_status: &'static str,
    #[serde(rename = "hostReady")]
    host_ready: bool,
}

fn subscription_json(sub: SubscriptionInfo) -> SubscriptionJson {
    SubscriptionJson {
        pubsubname: sub.pubsub,
        topic: sub.topic,
        metadata: sub.metadata,
        rules: sub
            .rules
            .into_iter()
            .map(|(match_expr, path)| RuleJson { match_expr, path })
            .collect(),
        dead_letter_topic: sub.dead_letter_topic.unwrap_or_default(),
        kind: sub.kind.as_str(),
    }
}

/// `GET /v1.0/metadata` for the calling app `app_id`.
pub(crate) fn get(sidecar: &Inner, app_id: &str) -> Result<Response<Bytes>, ApiError> {
    let resources = &sidecar.resources;
    let declared = |name: &str, fallback: &str| {
        resources.component(name).map_or_else(
            || (fallback.to_owned(), "v1".to_owned()),
            |c| (c.spec.component_type.clone(), c.spec.version.clone()),
        )
    };
    let mut components = Vec::new();
    let mut stores: Vec<&String> = sidecar.state_stores.keys().collect();
    stores.sort();
    for name in stores {
        let (component_type, version) = declared(name, "state.in-memory");
        components.push(ComponentJson {
            name: name.clone(),
            component_type,
            version,
            capabilities: vec!["ETAG", "TRANSACTIONAL", "TTL"],
        });
    }
    for name in &sidecar.pubsubs {
        let (component_type, version) = declared(name, "pubsub.in-memory");
        components.push(ComponentJson {
            name: name.clone(),
            component_type,
            version,
            capabilities: Vec::new(),
        });
    }
    for component in &resources.components {
        if component.spec.component_type.starts_with("secretstores.") && component.allows(app_id) {
            components.push(ComponentJson {
                name: component.name().to_owned(),
                component_type: component.spec.component_type.clone(),
                version: component.spec.version.clone(),
                capabilities: Vec::new(),
            });
        }
    }
    let mut enabled_features: Vec<String> = resources
        .configuration_for(app_id)
        .into_iter()
        .flat_map(|c| {
            c.features
                .iter()
                .filter(|f| f.enabled)
                .map(|f| f.name.clone())
        })
        .collect();
    enabled_features.sort();
    enabled_features.dedup();
    let response = MetadataResponse {
        id: app_id,
        runtime_version: RUNTIME_VERSION,
        enabled_features,
        components,
        extended: [("daprRuntimeVersion", RUNTIME_VERSION)]
            .into_iter()
            .collect(),
        subscriptions: sidecar
            .broker
            .subscriptions_of(app_id)
            .into_iter()
            .map(subscription_json)
            .collect(),
        app_connection_properties: AppConnection {
            protocol: "http",
            channel_address: "127.0.0.1",
        },
        actor_runtime: ActorRuntime {
            runtime_status: "DISABLED",
            host_ready: false,
        },
    };
    let body = serde_json::to_vec(&response).unwrap_or_default();
    Ok(json_response(StatusCode::OK, Bytes::from(body)))
}
