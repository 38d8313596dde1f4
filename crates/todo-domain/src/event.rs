//! Task events as CloudEvents 1.0, published as their own envelope so that Dapr keeps our `type`
//! and routing rules on `event.type` work (the predecessor published plain JSON and every event
//! arrived typed `com.dapr.event.sent`).
use crate::task::Task;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

/// Version of the shape of every event's `data`.
pub const EVENT_SCHEMA_VERSION: u32 = 1;
pub const TASK_EVENTS_TOPIC: &str = "task-events";
pub const REMINDERS_TOPIC: &str = "reminders";
pub const CLOUDEVENTS_CONTENT_TYPE: &str = "application/cloudevents+json";
pub const EVENT_SOURCE: &str = "chat-api";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaskEventType {
    #[serde(rename = "task.created")]
    Created,
    #[serde(rename = "task.updated")]
    Updated,
    #[serde(rename = "task.completed")]
    Completed,
    #[serde(rename = "task.reopened")]
    Reopened,
    #[serde(rename = "task.deleted")]
    Deleted,
}

impl TaskEventType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "task.created",
            Self::Updated => "task.updated",
            Self::Completed => "task.completed",
            Self::Reopened => "task.reopened",
            Self::Deleted => "task.deleted",
        }
    }

    /// The type of an update: a change of completion is reported as such, whatever the entry point
    /// (PATCH, PUT, /complete, the chat assistant), so consumers of `task.completed` see them all.
    pub fn for_update(before: &Task, after: &Task) -> Self {
        match (before.is_completed(), after.is_completed()) {
            (false, true) => Self::Completed,
            (true, false) => Self::Reopened,
            _ => Self::Updated,
        }
    }
}

/// A CloudEvents 1.0 envelope as we publish it. Unknown attributes (Dapr adds `topic`,
/// `pubsubname`, trace fields) are kept when one is read back.
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

/// The event for one committed change of a task. `id` is fixed at commit time and never changes,
/// however often the event is published.
pub fn task_event(
    event_type: TaskEventType,
    id: Uuid,
    time: DateTime<Utc>,
    task: &Task,
    changed_fields: &[&str],
) -> CloudEvent {
    CloudEvent {
        specversion: "1.0".to_owned(),
        id: id.to_string(),
        source: EVENT_SOURCE.to_owned(),
        event_type: event_type.as_str().to_owned(),
        subject: Some(task.id.to_string()),
        time: Some(time),
        datacontenttype: Some("application/json".to_owned()),
        data: json!({
            "schema_version": EVENT_SCHEMA_VERSION,
            "user_id": task.user_id,
            "task": task,
            "changed_fields": changed_fields,
        }),
        extensions: serde_json::Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::TaskDraft;

    #[test]
    fn a_task_event_is_a_cloudevent_typed_by_the_change() {
        let now: DateTime<Utc> = "2026-03-01T08:00:00Z".parse().unwrap();
        let draft = TaskDraft::from_json(&json!({"title": "x"})).unwrap();
        let task = Task::create(Uuid::new_v4(), "alice", draft, now);
        let event = task_event(
            TaskEventType::Created,
            Uuid::nil(),
            now,
            &task,
            &task.set_fields_list(),
        );
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["specversion"], "1.0");
        assert_eq!(json["type"], "task.created");
        assert_eq!(json["source"], "chat-api");
        assert_eq!(json["subject"], task.id.to_string());
        assert_eq!(json["time"], "2026-03-01T08:00:00Z");
        assert_eq!(json["data"]["user_id"], "alice");
        assert_eq!(json["data"]["task"]["title"], "x");
        assert_eq!(json["data"]["schema_version"], 1);
        let back: CloudEvent = serde_json::from_value(json).unwrap();
        assert_eq!(back, event);
    }

    #[test]
    fn completion_from_any_update_is_typed_completed() {
        let now: DateTime<Utc> = "2026-03-01T08:00:00Z".parse().unwrap();
        let draft = TaskDraft::from_json(&json!({"title": "x"})).unwrap();
        let open = Task::create(Uuid::new_v4(), "alice", draft, now);
        let mut done = open.clone();
        done.status = crate::fields::Status::Completed;
        assert_eq!(
            TaskEventType::for_update(&open, &done),
            TaskEventType::Completed
        );
        assert_eq!(
            TaskEventType::for_update(&done, &open),
            TaskEventType::Reopened
        );
        assert_eq!(
            TaskEventType::for_update(&open, &open),
            TaskEventType::Updated
        );
    }
}
