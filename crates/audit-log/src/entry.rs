//! One audit log entry: a task event as stored and returned (an item of
//! `audit-log-response.schema.json`), and how a delivered CloudEvent becomes one.
use crate::layout::{EARLIEST_YEAR, LATEST_YEAR};
use chrono::{DateTime, Datelike, Utc};
use dapr_client::CloudEvent;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;
use todo_domain::{TaskEventData, TaskEventType};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// The CloudEvent `id`.
    pub event_id: Uuid,
    pub event_type: TaskEventType,
    pub user_id: String,
    pub task_id: Uuid,
    /// The CloudEvent `time`: when the change was committed.
    pub time: DateTime<Utc>,
    /// When audit-service stored it.
    pub recorded_at: DateTime<Utc>,
    pub changed_fields: Vec<String>,
    /// `data.task` as published (kept verbatim: the log shows what was said, whatever later
    /// versions of the task type look like).
    pub task: RawJson,
}

/// JSON text that audit-service passes through without looking inside: a task snapshot, or a
/// document serialised for a write. Each write reads and rewrites a chunk and a task history of
/// up to `chunk_size` and t entries; built as `Value` trees (and copied once more for the
/// transaction) their snapshots were most of audit-service's own CPU per event.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RawJson(Box<RawValue>);

impl RawJson {
    /// `value` serialised.
    pub fn of<T: Serialize + ?Sized>(value: &T) -> RawJson {
        RawJson(serde_json::value::to_raw_value(value).expect("serialisable"))
    }

    /// The JSON text.
    pub fn json(&self) -> &str {
        self.0.get()
    }

    /// Parsed (tests, and where a caller must look inside).
    pub fn to_value(&self) -> Value {
        serde_json::from_str(self.json()).expect("RawJson holds valid JSON")
    }
}

impl PartialEq for RawJson {
    fn eq(&self, other: &RawJson) -> bool {
        self.json() == other.json()
    }
}

/// Where an entry sorts: the log is ordered by (`time`, `event_id`), newest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Position {
    #[serde(rename = "t")]
    pub time: DateTime<Utc>,
    #[serde(rename = "e")]
    pub event_id: Uuid,
}

impl Entry {
    /// The entry of a delivered task event, recorded at `recorded_at`; `Err(reason)` for an
    /// event that can never be stored (not a task event, bad `data`): DROP it.
    pub fn from_event(event: &CloudEvent, recorded_at: DateTime<Utc>) -> Result<Entry, String> {
        let event_type = TaskEventType::parse(&event.event_type)
            .ok_or_else(|| format!("type {:?} is not a task event", event.event_type))?;
        let event_id = Uuid::parse_str(&event.id)
            .ok()
            .filter(|id| id.to_string() == event.id)
            .ok_or_else(|| format!("id {:?} is not a lowercase UUID", event.id))?;
        let data: TaskEventData = serde_json::from_value(event.data.clone())
            .map_err(|e| format!("data is not task event data: {e}"))?;
        if data.user_id.trim().is_empty() || data.user_id != data.task.user_id {
            return Err(format!(
                "data.user_id {:?} is not the task's user {:?}",
                data.user_id, data.task.user_id
            ));
        }
        // Commit time; chat-api always sets it, and it equals the snapshot's updated_at.
        let time = event.time.unwrap_or(data.task.updated_at);
        if !(EARLIEST_YEAR..=LATEST_YEAR).contains(&time.year()) {
            return Err(format!("time {time} is out of range"));
        }
        Ok(Entry {
            event_id,
            event_type,
            user_id: data.user_id,
            task_id: data.task.id,
            time,
            recorded_at,
            changed_fields: data.changed_fields,
            task: RawJson::of(event.data.get("task").unwrap_or(&Value::Null)),
        })
    }

    pub fn position(&self) -> Position {
        Position {
            time: self.time,
            event_id: self.event_id,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;
    use todo_domain::{Task, TaskDraft, task_event};

    pub(crate) fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    /// A task event of `user` for task `task` (by number) at `time`, as chat-api publishes it.
    pub(crate) fn event(
        id: u128,
        event_type: TaskEventType,
        user: &str,
        task: u128,
        time: &str,
    ) -> CloudEvent {
        let draft = TaskDraft::from_json(&json!({"title": format!("task {task}")})).unwrap();
        let snapshot = Task::create(Uuid::from_u128(task), user, draft, t(time));
        let event = task_event(
            event_type,
            Uuid::from_u128(id),
            t(time),
            &snapshot,
            &["title"],
        );
        CloudEvent::new(
            event.id.to_string(),
            "chat-api",
            event.event_type.as_str(),
            serde_json::to_value(&event.data).unwrap(),
        )
        .with_subject(event.subject())
        .with_time(event.time)
    }

    /// The entry of [`event`], recorded a second after it.
    pub(crate) fn entry(
        id: u128,
        event_type: TaskEventType,
        user: &str,
        task: u128,
        time: &str,
    ) -> Entry {
        let recorded = t(time) + chrono::TimeDelta::seconds(1);
        Entry::from_event(&event(id, event_type, user, task, time), recorded).unwrap()
    }

    #[test]
    fn a_task_event_becomes_an_entry_with_the_contract_fields() {
        let e = entry(
            1,
            TaskEventType::Completed,
            "alice",
            7,
            "2026-03-01T08:00:00Z",
        );
        let json = serde_json::to_value(&e).unwrap();
        let mut fields: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        fields.sort();
        assert_eq!(
            fields,
            [
                "changed_fields",
                "event_id",
                "event_type",
                "recorded_at",
                "task",
                "task_id",
                "time",
                "user_id"
            ]
        );
        assert_eq!(json["event_id"], "00000000-0000-0000-0000-000000000001");
        assert_eq!(json["event_type"], "task.completed");
        assert_eq!(json["user_id"], "alice");
        assert_eq!(json["task_id"], "00000000-0000-0000-0000-000000000007");
        assert_eq!(json["time"], "2026-03-01T08:00:00Z");
        assert_eq!(json["recorded_at"], "2026-03-01T08:00:01Z");
        assert_eq!(json["changed_fields"], json!(["title"]));
        assert_eq!(json["task"]["title"], "task 7");
        assert_eq!(serde_json::from_value::<Entry>(json).unwrap(), e);
    }

    #[test]
    fn a_stored_snapshot_is_passed_through_as_written_and_compared_by_its_text() {
        // As a store hands it back: keys sorted, a field this version does not know, an escape.
        let stored = r#"{"changed_fields":[],"event_id":"00000000-0000-0000-0000-000000000001","event_type":"task.created","recorded_at":"2026-03-01T08:00:01Z","task":{"future_field":{"n":1.5},"title":"\u003cb\u003e"},"task_id":"00000000-0000-0000-0000-000000000007","time":"2026-03-01T08:00:00Z","user_id":"alice"}"#;
        let e: Entry = serde_json::from_str(stored).unwrap();
        assert_eq!(
            e.task.json(),
            r#"{"future_field":{"n":1.5},"title":"\u003cb\u003e"}"#
        );
        assert_eq!(e.task.to_value()["title"], "<b>");
        // Written back in a document, the snapshot's text is unchanged.
        let written = serde_json::to_string(&e).unwrap();
        assert!(written.contains(e.task.json()), "{written}");
        assert_eq!(serde_json::from_str::<Entry>(&written).unwrap(), e);
        // Equal text is an equal snapshot; another text is not.
        let mut other = e.clone();
        other.task = RawJson::of(&json!({"title": "<b>"}));
        assert_ne!(other, e);
    }

    #[test]
    fn what_is_not_a_well_formed_task_event_is_refused() {
        let now = t("2026-03-01T09:00:00Z");
        let good = event(
            1,
            TaskEventType::Created,
            "alice",
            7,
            "2026-03-01T08:00:00Z",
        );
        assert!(Entry::from_event(&good, now).is_ok());
        let mut reminder = good.clone();
        reminder.event_type = "reminder.triggered".to_owned();
        let mut upper_id = good.clone();
        upper_id.id = "0000000A-0000-0000-0000-000000000001".to_owned();
        let mut not_uuid = good.clone();
        not_uuid.id = "e1".to_owned();
        let mut bad_data = good.clone();
        bad_data.data["task"]["status"] = json!("done");
        let mut extra = good.clone();
        extra.data["surprise"] = json!(1);
        let mut other_user = good.clone();
        other_user.data["user_id"] = json!("mallory");
        let mut ancient = good.clone();
        ancient.time = Some(t("1969-12-31T23:59:59Z"));
        for (what, bad) in [
            ("type", reminder),
            ("id", upper_id),
            ("id", not_uuid),
            ("data", bad_data),
            ("data", extra),
            ("user", other_user),
            ("time", ancient),
        ] {
            let err = Entry::from_event(&bad, now).unwrap_err();
            assert!(err.contains(what), "{err}");
        }
        // No CloudEvent time: the snapshot's updated_at.
        let mut timeless = good;
        timeless.time = None;
        assert_eq!(
            Entry::from_event(&timeless, now).unwrap().time,
            t("2026-03-01T08:00:00Z")
        );
    }
}
