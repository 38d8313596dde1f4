//! The CloudEvent envelope daprd wraps published data in: dapr `pkg/runtime/pubsub/cloudevents.go`
//! (`NewCloudEvent`, `cloudevent.*` metadata overrides) and components-contrib
//! `pubsub/envelope.go` (`NewCloudEventsEnvelope`, `FromCloudEvent`, `ApplyMetadata`).

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::{Map, Value};

use super::is_content_type;
use crate::request::decode_json;

const CLOUD_EVENT_CONTENT_TYPE: &str = "application/cloudevents+json";
const DEFAULT_TYPE: &str = "com.dapr.event.sent";
const DEFAULT_SOURCE: &str = "Dapr";
const SPEC_VERSION: &str = "1.0";
const DEFAULT_DATA_CONTENT_TYPE: &str = "text/plain";

/// What a publish hands to the envelope builder.
pub(crate) struct EnvelopeInput<'a> {
    pub app_id: &'a str,
    pub pubsub: &'a str,
    pub topic: &'a str,
    /// The request's `Content-Type` ("" when absent).
    pub content_type: &'a str,
    pub data: &'a [u8],
    /// W3C trace context of the request (`traceparent`, `tracestate` headers).
    pub traceparent: &'a str,
    pub tracestate: &'a str,
    /// Request metadata (`cloudevent.*` overrides, `ttlInSeconds`).
    pub metadata: &'a BTreeMap<String, String>,
    pub now: DateTime<Utc>,
}

/// Builds the envelope; `Err` when an `application/cloudevents+json` body is not a JSON object.
pub(crate) fn build(input: &EnvelopeInput<'_>) -> Result<Map<String, Value>, String> {
    let mut event = if is_content_type(input.content_type, CLOUD_EVENT_CONTENT_TYPE) {
        from_cloud_event(input)?
    } else {
        new_envelope(input)
    };
    apply_metadata(&mut event, input.metadata, input.now);
    Ok(event)
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A metadata value by key, case-insensitively (daprd decodes overrides with `mapstructure`).
fn metadata_value<'a>(metadata: &'a BTreeMap<String, String>, key: &str) -> Option<&'a str> {
    metadata
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v.as_str())
}

/// The app published its own CloudEvent: keep it, stamp routing fields, fill defaults; no `id`
/// is generated.
fn from_cloud_event(input: &EnvelopeInput<'_>) -> Result<Map<String, Value>, String> {
    let value: Value = decode_json(input.data)?;
    let Value::Object(mut event) = value else {
        return Err("cloud event is not a JSON object".into());
    };
    event
        .entry("time")
        .or_insert_with(|| Value::String(rfc3339(input.now)));
    if !event.contains_key("traceid") {
        event.insert("traceid".into(), input.traceparent.into());
        event.insert("traceparent".into(), input.traceparent.into());
        event.insert("tracestate".into(), input.tracestate.into());
    }
    event.insert("topic".into(), input.topic.into());
    event.insert("pubsubname".into(), input.pubsub.into());
    for (field, default) in [
        ("source", DEFAULT_SOURCE),
        ("type", DEFAULT_TYPE),
        ("specversion", SPEC_VERSION),
    ] {
        if event.get(field).is_none_or(Value::is_null) {
            event.insert(field.into(), default.into());
        }
    }
    Ok(event)
}

/// Wraps a non-CloudEvent body.
fn new_envelope(input: &EnvelopeInput<'_>) -> Map<String, Value> {
    let meta = |key: &str| metadata_value(input.metadata, key);
    let id = meta("cloudevent.id").unwrap_or("");
    let source = meta("cloudevent.source").unwrap_or(input.app_id);
    let event_type = meta("cloudevent.type").unwrap_or("");
    let subject = meta("cloudevent.subject").unwrap_or("");
    let tracestate = meta("cloudevent.tracestate").unwrap_or(input.tracestate);
    let mut traceid = meta("cloudevent.traceid").unwrap_or(input.traceparent);
    // An explicit traceparent override wins over traceid (dapr `NewCloudEvent`).
    if let Some(traceparent) = meta("cloudevent.traceparent").filter(|t| !t.is_empty()) {
        traceid = traceparent;
    }

    let or_default = |v: &str, default: &str| {
        if v.is_empty() {
            default.to_owned()
        } else {
            v.to_owned()
        }
    };
    let content_type = or_default(input.content_type, DEFAULT_DATA_CONTENT_TYPE);
    let (data_field, data) = if is_content_type(&content_type, "application/json") {
        let data = decode_json::<Value>(input.data)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(input.data).into_owned()));
        ("data", data)
    } else if is_content_type(&content_type, "application/octet-stream") {
        ("data_base64", Value::String(STANDARD.encode(input.data)))
    } else {
        let text = String::from_utf8_lossy(input.data).into_owned();
        ("data", Value::String(text))
    };

    let mut event = Map::new();
    let id = if id.is_empty() {
        uuid::Uuid::new_v4().to_string()
    } else {
        id.to_owned()
    };
    event.insert("id".into(), id.into());
    event.insert("specversion".into(), SPEC_VERSION.into());
    event.insert("datacontenttype".into(), content_type.into());
    event.insert("source".into(), or_default(source, DEFAULT_SOURCE).into());
    event.insert("type".into(), or_default(event_type, DEFAULT_TYPE).into());
    event.insert("topic".into(), input.topic.into());
    event.insert("pubsubname".into(), input.pubsub.into());
    event.insert("traceid".into(), traceid.into());
    event.insert("traceparent".into(), traceid.into());
    event.insert("tracestate".into(), tracestate.into());
    event.insert("time".into(), rfc3339(input.now).into());
    event.insert(data_field.into(), data);
    if !subject.is_empty() {
        event.insert("subject".into(), subject.into());
    }
    event
}

/// `metadata.ttlInSeconds` becomes an `expiration` field: the in-memory broker has no native
/// message TTL, so Dapr enforces it. Invalid or non-positive values are ignored, as in daprd.
fn apply_metadata(
    event: &mut Map<String, Value>,
    metadata: &BTreeMap<String, String>,
    now: DateTime<Utc>,
) {
    let ttl = metadata
        .get("ttlInSeconds")
        .and_then(|s| s.parse::<i64>().ok())
        .filter(|s| *s > 0)
        .and_then(Duration::try_seconds)
        .and_then(|ttl| now.checked_add_signed(ttl));
    if let Some(expiration) = ttl {
        event.insert("expiration".into(), rfc3339(expiration).into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input<'a>(
        content_type: &'a str,
        data: &'a [u8],
        metadata: &'a BTreeMap<String, String>,
    ) -> EnvelopeInput<'a> {
        EnvelopeInput {
            app_id: "app",
            pubsub: "pubsub",
            topic: "t",
            content_type,
            data,
            traceparent: "",
            tracestate: "",
            metadata,
            now: DateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn invalid_json_under_a_json_content_type_becomes_a_string() {
        let meta = BTreeMap::new();
        let event = build(&input("application/json", b"{nope", &meta)).expect("envelope");
        assert_eq!(event["data"], Value::String("{nope".into()));
    }

    #[test]
    fn an_empty_override_does_not_replace_a_default() {
        let meta = BTreeMap::from([("CloudEvent.Type".to_owned(), String::new())]);
        let event = build(&input("text/plain", b"x", &meta)).expect("envelope");
        assert_eq!(event["type"], Value::String(DEFAULT_TYPE.into()));
    }

    #[test]
    fn overrides_are_case_insensitive() {
        let meta = BTreeMap::from([("CloudEvent.Type".to_owned(), "task.done".to_owned())]);
        let event = build(&input("text/plain", b"x", &meta)).expect("envelope");
        assert_eq!(event["type"], Value::String("task.done".into()));
    }
}
