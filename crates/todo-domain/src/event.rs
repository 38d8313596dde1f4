//! Task events: what each committed change of a task reports, and the `data` of its CloudEvent.
//! chat-api publishes them as their own CloudEvents so that Dapr keeps our `type` and routing
//! rules on `event.type` work (the predecessor published plain JSON and every event arrived typed
//! `com.dapr.event.sent`); the envelope itself lives in `dapr_client::cloudevent`.
use crate::task::Task;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Version of the shape of every event's `data`.
pub const EVENT_SCHEMA_VERSION: u32 = 1;
pub const TASK_EVENTS_TOPIC: &str = "task-events";
pub const REMINDERS_TOPIC: &str = "reminders";
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

    /// Parse a CloudEvent `type`; `None` for anything that is not a task event.
    pub fn parse(raw: &str) -> Option<Self> {
        [
            Self::Created,
            Self::Updated,
            Self::Completed,
            Self::Reopened,
            Self::Deleted,
        ]
        .into_iter()
        .find(|t| t.as_str() == raw)
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

/// The `data` of every `task-events` event (`task-event.schema.json`): the snapshot after the
/// change (for `task.deleted` the last one) and the user-visible fields that changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskEventData {
    pub schema_version: u32,
    pub user_id: String,
    pub task: Task,
    pub changed_fields: Vec<String>,
}

/// One committed change of a task, before it is put in its CloudEvent envelope (the envelope is
/// the transport's business: `dapr_client::CloudEvent`). `id` is fixed at commit time and never
/// changes, however often the event is published.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskEvent {
    pub id: Uuid,
    pub event_type: TaskEventType,
    pub time: DateTime<Utc>,
    pub data: TaskEventData,
}

impl TaskEvent {
    /// The CloudEvent `subject`: the task id.
    pub fn subject(&self) -> String {
        self.data.task.id.to_string()
    }
}

/// The event for one committed change of a task.
pub fn task_event(
    event_type: TaskEventType,
    id: Uuid,
    time: DateTime<Utc>,
    task: &Task,
    changed_fields: &[&str],
) -> TaskEvent {
    TaskEvent {
        id,
        event_type,
        time,
        data: TaskEventData {
            schema_version: EVENT_SCHEMA_VERSION,
            user_id: task.user_id.clone(),
            task: task.clone(),
            changed_fields: changed_fields.iter().map(|f| (*f).to_owned()).collect(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::TaskDraft;
    use serde_json::json;

    #[test]
    fn a_task_event_carries_the_snapshot_and_its_changed_fields() {
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
        assert_eq!(event.event_type.as_str(), "task.created");
        assert_eq!(event.subject(), task.id.to_string());
        assert_eq!(event.time, now);
        let data = serde_json::to_value(&event.data).unwrap();
        assert_eq!(data["user_id"], "alice");
        assert_eq!(data["task"]["title"], "x");
        assert_eq!(data["schema_version"], 1);
        assert_eq!(
            data["changed_fields"],
            json!(["id", "user_id", "title", "status", "priority", "time_zone"])
        );
        let back: TaskEventData = serde_json::from_value(data).unwrap();
        assert_eq!(back, event.data);
        for t in [
            TaskEventType::Created,
            TaskEventType::Updated,
            TaskEventType::Completed,
            TaskEventType::Reopened,
            TaskEventType::Deleted,
        ] {
            assert_eq!(TaskEventType::parse(t.as_str()), Some(t));
        }
        assert_eq!(TaskEventType::parse("reminder.triggered"), None);
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
