//! The CloudEvents 1.0 envelope (structured JSON mode) as Dapr pub/sub carries it. Apps publish
//! their own envelopes so Dapr keeps `id`, `type` and `source`; subscribers read them back, with
//! whatever attributes Dapr added (`topic`, `pubsubname`, trace fields) kept in `extensions`.
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The media type of a structured-mode CloudEvent.
pub const CLOUDEVENTS_CONTENT_TYPE: &str = "application/cloudevents+json";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CloudEvent {
    pub specversion: String,
    pub id: String,
    pub source: String,
    #[serde(rename = "type")]
    pub event_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datacontenttype: Option<String>,
    #[serde(default)]
    pub data: Value,
    #[serde(flatten)]
    pub extensions: serde_json::Map<String, Value>,
}

impl CloudEvent {
    /// A CloudEvents 1.0 envelope with a JSON `data`.
    pub fn new(
        id: impl Into<String>,
        source: impl Into<String>,
        event_type: impl Into<String>,
        data: Value,
    ) -> Self {
        Self {
            specversion: "1.0".to_owned(),
            id: id.into(),
            source: source.into(),
            event_type: event_type.into(),
            subject: None,
            time: None,
            datacontenttype: Some("application/json".to_owned()),
            data,
            extensions: serde_json::Map::new(),
        }
    }

    pub fn with_subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    pub fn with_time(mut self, time: DateTime<Utc>) -> Self {
        self.time = Some(time);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_envelope_round_trips_and_keeps_attributes_dapr_adds() {
        let time: DateTime<Utc> = "2026-03-01T08:00:00Z".parse().unwrap();
        let event = CloudEvent::new("e1", "chat-api", "task.created", json!({"a": 1}))
            .with_subject("t1")
            .with_time(time);
        let mut wire = serde_json::to_value(&event).unwrap();
        assert_eq!(
            wire,
            json!({"specversion": "1.0", "id": "e1", "source": "chat-api", "type": "task.created",
                   "subject": "t1", "time": "2026-03-01T08:00:00Z",
                   "datacontenttype": "application/json", "data": {"a": 1}})
        );
        wire["topic"] = json!("task-events");
        wire["traceparent"] = json!("00-abc-def-01");
        let back: CloudEvent = serde_json::from_value(wire).unwrap();
        assert_eq!(back.extensions["topic"], "task-events");
        assert_eq!(back.extensions["traceparent"], "00-abc-def-01");
        assert_eq!(back.data, json!({"a": 1}));
    }
}
