//! Task events in their CloudEvent envelope, as chat-api publishes them and keeps them in the
//! outbox (docs/contracts.md "Events").
use dapr_client::CloudEvent;
use todo_domain::TaskEvent;
use todo_domain::event::{EVENT_SOURCE, REMINDERS_TOPIC, TASK_EVENTS_TOPIC};

/// The envelope of a task event: our own id, `type` and `source`, so Dapr keeps them.
pub fn envelope(event: &TaskEvent) -> CloudEvent {
    CloudEvent::new(
        event.id.to_string(),
        EVENT_SOURCE,
        event.event_type.as_str(),
        serde_json::to_value(&event.data).expect("serialisable"),
    )
    .with_subject(event.subject())
    .with_time(event.time)
}

/// The topic an outbox entry is published to, by its type: `task.*` → `task-events`,
/// `reminder.*` → `reminders`.
pub fn topic_of(event: &CloudEvent) -> &'static str {
    if event.event_type.starts_with("reminder.") {
        REMINDERS_TOPIC
    } else {
        TASK_EVENTS_TOPIC
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};
    use serde_json::json;
    use todo_domain::{Task, TaskDraft, TaskEventType, task_event};
    use uuid::Uuid;

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
        let json = serde_json::to_value(envelope(&event)).unwrap();
        assert_eq!(json["specversion"], "1.0");
        assert_eq!(json["id"], Uuid::nil().to_string());
        assert_eq!(json["type"], "task.created");
        assert_eq!(json["source"], "chat-api");
        assert_eq!(json["subject"], task.id.to_string());
        assert_eq!(json["time"], "2026-03-01T08:00:00Z");
        assert_eq!(json["datacontenttype"], "application/json");
        assert_eq!(json["data"]["user_id"], "alice");
        assert_eq!(json["data"]["task"]["title"], "x");
        assert_eq!(json["data"]["schema_version"], 1);
        assert_eq!(topic_of(&envelope(&event)), "task-events");
        let mut reminder = envelope(&event);
        reminder.event_type = "reminder.triggered".to_owned();
        assert_eq!(topic_of(&reminder), "reminders");
    }
}
