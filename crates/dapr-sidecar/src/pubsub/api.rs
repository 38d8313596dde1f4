//! HTTP handlers of the Pub/Sub publish API, following daprd `pkg/api/http/http.go`
//! (`onPublish`, `onBulkPublish`, `validateAndGetPubsubAndTopic`) and
//! `pkg/api/http/util.go` (`ConvertEventToBytes`).

use std::collections::{BTreeMap, BTreeSet, HashSet};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};
use serde::Deserialize;
use serde_json::Value;

use super::envelope::{self, EnvelopeInput};
use super::{Broker, PublishedMessage, is_content_type, parse_go_bool};
use crate::Clock;
use crate::error::{ApiError, empty_response, json_response};
use crate::faults::Faults;
use crate::go_json::decode::{self as go_decode, GoType};
use crate::go_json::{self, Numbers};
use crate::request::{ApiRequest, metadata_json};

const CLOUD_EVENT_CONTENT_TYPE: &str = "application/cloudevents+json";

/// Everything a publish handler needs.
pub(crate) struct PubSubContext<'a> {
    pub pubsubs: &'a BTreeSet<String>,
    pub broker: &'a Broker,
    pub app_id: &'a str,
    pub clock: &'a dyn Clock,
    pub faults: &'a Faults,
}

impl PubSubContext<'_> {
    /// Hands one message to the broker (which stores it before answering), unless a failure is
    /// injected.
    fn send(&self, message: PublishedMessage) -> Result<(), String> {
        if self.faults.take_publish_failure() {
            self.broker
                .record_failed_publish(self.app_id, &message.pubsub, &message.topic);
            return Err("injected broker failure".into());
        }
        self.broker.publish(self.app_id, message)
    }

    /// `validateAndGetPubsubAndTopic`: unknown pub/sub and empty topic are 404s.
    fn validate(
        &self,
        pubsub: &str,
        topic: &str,
        metadata: &BTreeMap<String, String>,
    ) -> Result<(), ApiError> {
        if !self.pubsubs.contains(pubsub) {
            return Err(ApiError::pubsub_not_found(pubsub, &metadata_json(metadata)));
        }
        if topic.is_empty() {
            return Err(ApiError::topic_empty(pubsub, &metadata_json(metadata)));
        }
        Ok(())
    }
}

/// `metadata.rawPayload`: absent or "" is false; anything Go cannot parse as a bool is a 400.
/// A publish request's metadata, after the checks both publish routes make (the pubsub and
/// topic exist and may be used, `rawPayload` parses), and whether it asks for a raw payload.
fn checked_metadata(
    ctx: &PubSubContext<'_>,
    req: &ApiRequest,
    pubsub: &str,
    topic: &str,
) -> Result<(BTreeMap<String, String>, bool), ApiError> {
    let metadata = req.metadata();
    ctx.validate(pubsub, topic, &metadata)?;
    let raw = raw_payload(pubsub, &metadata)?;
    Ok((metadata, raw))
}

fn raw_payload(pubsub: &str, metadata: &BTreeMap<String, String>) -> Result<bool, ApiError> {
    match metadata.get("rawPayload").map(String::as_str) {
        None | Some("") => Ok(false),
        Some(value) => parse_go_bool(value).ok_or_else(|| {
            let err = format!("rawPayload value must be a valid boolean: actual is '{value}'");
            ApiError::pubsub_metadata(pubsub, &metadata_json(metadata), &err)
        }),
    }
}

/// Raw bytes, or the serialized envelope plus its parsed form.
fn prepare(
    ctx: &PubSubContext<'_>,
    input: &EnvelopeInput<'_>,
    raw: bool,
) -> Result<(String, Bytes, Option<Value>), ApiError> {
    if raw {
        return Ok((
            input.content_type.to_owned(),
            Bytes::copy_from_slice(input.data),
            None,
        ));
    }
    let event = envelope::build(input)
        .map_err(|err| ApiError::cloud_event_creation(input.pubsub, ctx.app_id, &err))?;
    let event = Value::Object(event);
    let body = go_json::marshal(&event, Numbers::Precise);
    Ok((
        CLOUD_EVENT_CONTENT_TYPE.to_owned(),
        Bytes::from(body),
        Some(event),
    ))
}

/// `POST|PUT /v1.0/publish/{pubsub}/{topic}`.
pub(crate) fn publish(
    ctx: &PubSubContext<'_>,
    req: &ApiRequest,
    pubsub: &str,
    topic: &str,
) -> Result<Response<Bytes>, ApiError> {
    let (metadata, raw) = checked_metadata(ctx, req, pubsub, topic)?;
    let input = EnvelopeInput {
        app_id: ctx.app_id,
        pubsub,
        topic,
        content_type: req.header("content-type"),
        data: &req.body,
        traceparent: req.header("traceparent"),
        tracestate: req.header("tracestate"),
        metadata: &metadata,
        now: ctx.clock.now(),
    };
    let (content_type, body, event) = prepare(ctx, &input, raw)?;
    let message = PublishedMessage {
        pubsub: pubsub.to_owned(),
        topic: topic.to_owned(),
        content_type,
        body,
        event,
        metadata: metadata.clone(),
    };
    ctx.send(message)
        .map_err(|err| ApiError::publish_message(pubsub, topic, &err))?;
    Ok(empty_response())
}

/// daprd `pkg/api/http/http.go` `bulkPublishMessageEntry`: `EntryID string
/// json:"entryId,omitempty"`, `Event interface{} json:"event"`, `ContentType string
/// json:"contentType"`, `Metadata map[string]string json:"metadata,omitempty"`; the body is a
/// `[]bulkPublishMessageEntry` read by Go's rules, so `entryID` (Dapr's JS SDK) fills `EntryID`.
const GO_BULK_PUBLISH_BODY: GoType = GoType::Slice(&GoType::Struct(
    "bulkPublishMessageEntry",
    &[
        ("entryId", GoType::String),
        ("event", GoType::Any),
        ("contentType", GoType::String),
        ("metadata", GoType::Map(&GoType::String)),
    ],
));

#[derive(Debug, Deserialize)]
struct BulkEntry {
    #[serde(rename = "entryId", default)]
    entry_id: Option<String>,
    #[serde(default)]
    event: Value,
    #[serde(rename = "contentType", default)]
    content_type: Option<String>,
    #[serde(default)]
    metadata: Option<BTreeMap<String, String>>,
}

const CONTENT_TYPE_MISMATCH: &str = "error: mismatch between contentType and event";

/// `ConvertEventToBytes`: the bytes a bulk entry's `event` stands for under its content type.
fn event_bytes(event: &Value, content_type: &str) -> Result<Vec<u8>, String> {
    if is_content_type(content_type, "application/octet-stream") {
        let Value::String(encoded) = event else {
            return Err(CONTENT_TYPE_MISMATCH.into());
        };
        STANDARD.decode(encoded).map_err(|err| {
            format!("error: unable to decode base64 application/octect-stream data: {err}")
        })
    } else if content_type.to_ascii_lowercase().starts_with("text/")
        || is_content_type(content_type, "application/xml")
    {
        match event {
            Value::String(s) => Ok(s.clone().into_bytes()),
            _ => Err(CONTENT_TYPE_MISMATCH.into()),
        }
    } else if is_content_type(content_type, "application/json")
        || is_content_type(content_type, CLOUD_EVENT_CONTENT_TYPE)
    {
        Ok(go_json::marshal(event, Numbers::Float64).into_bytes())
    } else {
        Err(CONTENT_TYPE_MISMATCH.into())
    }
}

/// `POST|PUT /v1.0-alpha1/publish/bulk/{pubsub}/{topic}` (and `/v1.0/` since 1.17). Entries are
/// published one by one; failures do not undo the entries that succeeded.
pub(crate) fn bulk_publish(
    ctx: &PubSubContext<'_>,
    req: &ApiRequest,
    pubsub: &str,
    topic: &str,
) -> Result<Response<Bytes>, ApiError> {
    let (metadata, raw) = checked_metadata(ctx, req, pubsub, topic)?;
    let entries: Vec<BulkEntry> =
        go_decode::decode::<Option<Vec<BulkEntry>>>(&req.body, &GO_BULK_PUBLISH_BODY)
            .map_err(|err| ApiError::unmarshal_events(pubsub, topic, ctx.app_id, &err))?
            .unwrap_or_default();

    let mut seen = HashSet::new();
    let mut prepared = Vec::with_capacity(entries.len());
    for entry in entries {
        let content_type = entry.content_type.unwrap_or_default();
        let data = event_bytes(&entry.event, &content_type)
            .map_err(|err| ApiError::marshal_envelope(pubsub, topic, ctx.app_id, &err))?;
        let entry_id = entry.entry_id.unwrap_or_default();
        if entry_id.is_empty() || !seen.insert(entry_id.clone()) {
            let err = "entryId is duplicated or not present for entry";
            return Err(ApiError::marshal_events(pubsub, topic, ctx.app_id, err));
        }
        // Entry metadata overrides request metadata; an entry without metadata gets none at all
        // (so no `cloudevent.*` overrides and no TTL), exactly as daprd does.
        let entry_metadata = entry.metadata.map(|own| {
            let mut merged = metadata.clone();
            merged.extend(own);
            merged
        });
        prepared.push((entry_id, content_type, data, entry_metadata));
    }

    let now = ctx.clock.now();
    let no_metadata = BTreeMap::new();
    let mut messages = Vec::with_capacity(prepared.len());
    for (entry_id, content_type, data, entry_metadata) in &prepared {
        let input = EnvelopeInput {
            app_id: ctx.app_id,
            pubsub,
            topic,
            content_type,
            data,
            traceparent: req.header("traceparent"),
            tracestate: req.header("tracestate"),
            metadata: entry_metadata.as_ref().unwrap_or(&no_metadata),
            now,
        };
        let (content_type, body, event) = prepare(ctx, &input, raw)?;
        let message = PublishedMessage {
            pubsub: pubsub.to_owned(),
            topic: topic.to_owned(),
            content_type,
            body,
            event,
            metadata: entry_metadata.clone().unwrap_or_else(|| metadata.clone()),
        };
        messages.push((entry_id, message));
    }

    let failed: Vec<(&String, String)> = messages
        .into_iter()
        .filter_map(|(entry_id, message)| ctx.send(message).err().map(|err| (entry_id, err)))
        .collect();
    let Some((_, first_error)) = failed.first() else {
        return Ok(empty_response());
    };
    Ok(bulk_failure_response(pubsub, topic, first_error, &failed))
}

/// 500 `{"failedEntries":[{"entryId","error"}],"errorCode":"ERR_PUBSUB_PUBLISH_MESSAGE"}`, with
/// the same text mirrored in `metadata.*` headers as daprd does.
fn bulk_failure_response(
    pubsub: &str,
    topic: &str,
    first_error: &str,
    failed: &[(&String, String)],
) -> Response<Bytes> {
    let mut body = String::from("{\"failedEntries\":[");
    for (i, (entry_id, err)) in failed.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str("{\"entryId\":");
        go_json::write_string(&mut body, entry_id);
        body.push_str(",\"error\":");
        go_json::write_string(&mut body, err);
        body.push('}');
    }
    body.push_str("],\"errorCode\":\"ERR_PUBSUB_PUBLISH_MESSAGE\"}");
    let error = format!(
        "api error: code = Internal desc = error when publishing to topic {topic} in pubsub {pubsub}: {first_error}"
    );
    let mut response = json_response(StatusCode::INTERNAL_SERVER_ERROR, Bytes::from(body.clone()));
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&body) {
        headers.insert("metadata.responseData", value);
    }
    if let Ok(value) = HeaderValue::from_str(&error) {
        headers.insert("metadata.error", value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn binary_entries_are_base64_strings() {
        assert_eq!(
            event_bytes(&json!("aGk="), "application/octet-stream"),
            Ok(b"hi".to_vec())
        );
        assert!(event_bytes(&json!(1), "application/octet-stream").is_err());
    }

    #[test]
    fn text_entries_must_be_strings() {
        assert_eq!(event_bytes(&json!("hi"), "text/plain"), Ok(b"hi".to_vec()));
        assert!(event_bytes(&json!({"a": 1}), "text/plain").is_err());
    }

    #[test]
    fn entries_without_a_known_content_type_are_refused() {
        assert!(event_bytes(&json!({"a": 1}), "").is_err());
    }
}
