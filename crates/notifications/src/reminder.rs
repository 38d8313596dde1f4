//! A delivered `reminder.triggered` event (docs/contracts.md "Events", `reminder-event.schema.json`)
//! parsed into what the channels need.
use chrono::{DateTime, Utc};
use dapr_client::CloudEvent;
use serde::Deserialize;
use std::fmt;
use uuid::Uuid;

/// The `data.schema_version` this consumer knows; any other is DROPped.
pub const REMINDER_SCHEMA_VERSION: u32 = 1;
pub const REMINDER_EVENT_TYPE: &str = "reminder.triggered";

/// `<task_id>:<version that set the reminder>`: one per reminder, the dedupe key everywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ReminderId {
    pub task_id: Uuid,
    pub version: u64,
}

impl ReminderId {
    /// Only the canonical form: lowercase hyphenated UUID, `:`, a version ≥ 1 without leading
    /// zeros; so one reminder has one spelling (and one `processed:` record).
    pub fn parse(raw: &str) -> Option<Self> {
        let (task, version) = raw.split_once(':')?;
        let task_id = Uuid::parse_str(task).ok()?;
        let version: u64 = version.parse().ok()?;
        let id = ReminderId { task_id, version };
        (version >= 1 && id.to_string() == raw).then_some(id)
    }
}

impl fmt::Display for ReminderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.task_id.hyphenated(), self.version)
    }
}

/// The subscriber's dedupe key of a reminder event: its `data.reminder_id` when well formed
/// (chat-api derives the CloudEvent id from it too, but the data names the reminder itself).
pub fn dedupe_key(event: &CloudEvent) -> Option<String> {
    event
        .data
        .get("reminder_id")
        .and_then(|v| v.as_str())
        .and_then(ReminderId::parse)
        .map(|id| id.to_string())
}

/// A fired reminder, as the event's `data` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reminder {
    pub reminder_id: ReminderId,
    pub user_id: String,
    pub task_id: Uuid,
    pub task_title: String,
    pub due_date: DateTime<Utc>,
    pub remind_at: DateTime<Utc>,
}

#[derive(Deserialize)]
struct Data {
    user_id: String,
    task_id: Uuid,
    task_title: String,
    due_date: DateTime<Utc>,
    remind_at: DateTime<Utc>,
    reminder_id: String,
}

impl Reminder {
    /// The reminder of an admitted event; `Err` (a reason) when it can never be delivered.
    pub fn from_event(event: &CloudEvent) -> Result<Reminder, String> {
        if event.event_type != REMINDER_EVENT_TYPE {
            return Err(format!(
                "type {:?} is not {REMINDER_EVENT_TYPE}",
                event.event_type
            ));
        }
        let data: Data = serde_json::from_value(event.data.clone())
            .map_err(|e| format!("data is not a reminder: {e}"))?;
        let reminder_id = ReminderId::parse(&data.reminder_id).ok_or_else(|| {
            format!(
                "reminder_id {:?} is not <task_id>:<version>",
                data.reminder_id
            )
        })?;
        if reminder_id.task_id != data.task_id {
            return Err(format!(
                "reminder_id {reminder_id} does not belong to task {}",
                data.task_id
            ));
        }
        if data.user_id.trim().is_empty() {
            return Err("data.user_id is empty".to_owned());
        }
        Ok(Reminder {
            reminder_id,
            user_id: data.user_id,
            task_id: data.task_id,
            task_title: data.task_title,
            due_date: data.due_date,
            remind_at: data.remind_at,
        })
    }
}
