//! The task document and how inputs (create, full replace, partial update) change it.
use crate::error::FieldError;
use crate::fields::{
    Priority, REMINDER_OFFSET_MAX_MINUTES, RepeatFrom, Status, Tags, TimeZone, Title,
    parse_description, parse_instant,
};
use crate::recurrence::RecurrenceRule;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

/// Version of the task document's shape, carried in stored documents and events.
pub const TASK_SCHEMA_VERSION: u32 = 1;

/// A task as stored, returned by the API and carried in events (see schemas/task.schema.json).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Task {
    pub id: Uuid,
    pub user_id: String,
    pub title: Title,
    pub description: Option<String>,
    pub status: Status,
    pub priority: Priority,
    pub tags: Tags,
    pub due_date: Option<DateTime<Utc>>,
    pub time_zone: TimeZone,
    pub reminder_offset_minutes: Option<u32>,
    pub remind_at: Option<DateTime<Utc>>,
    pub recurrence_rule: Option<RecurrenceRule>,
    /// Older stored snapshots predate the field: they repeat from the due date.
    #[serde(default)]
    pub repeat_from: RepeatFrom,
    pub is_recurring: bool,
    pub series_id: Option<Uuid>,
    /// The due date of occurrence 0 of the series: occurrence n is computed from it, so monthly
    /// clamping never drifts (Jan 31 → Feb 28 → Mar 31). Null unless recurring.
    #[serde(default)]
    pub series_start: Option<DateTime<Utc>>,
    pub occurrence_index: u32,
    pub predecessor_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    pub version: u64,
    pub schema_version: u32,
}

/// When to remind: minutes before the due time, or an absolute instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reminder {
    MinutesBefore(u32),
    At(DateTime<Utc>),
}

/// Every user-writable field of a task, parsed and checked together (cross-field rules included).
#[derive(Debug, Clone, PartialEq)]
pub struct TaskDraft {
    pub title: Title,
    pub description: Option<String>,
    pub status: Status,
    pub priority: Priority,
    pub tags: Tags,
    pub due_date: Option<DateTime<Utc>>,
    pub time_zone: TimeZone,
    pub reminder: Option<Reminder>,
    pub recurrence_rule: Option<RecurrenceRule>,
    pub repeat_from: RepeatFrom,
}

/// Fields a client may write. Anything else in a body is rejected, naming the field.
const WRITABLE_FIELDS: &[&str] = &[
    "title",
    "description",
    "status",
    "priority",
    "tags",
    "due_date",
    "time_zone",
    "reminder_offset_minutes",
    "remind_at",
    "recurrence_rule",
    "repeat_from",
];

/// A partial update: absent = keep, `null` = clear (optional fields only), value = set.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TaskPatch {
    pub title: Option<Title>,
    pub description: Option<Option<String>>,
    pub status: Option<Status>,
    pub priority: Option<Priority>,
    pub tags: Option<Tags>,
    pub due_date: Option<Option<DateTime<Utc>>>,
    pub time_zone: Option<TimeZone>,
    pub reminder_offset_minutes: Option<Option<u32>>,
    pub remind_at: Option<Option<DateTime<Utc>>>,
    pub recurrence_rule: Option<Option<RecurrenceRule>>,
    pub repeat_from: Option<RepeatFrom>,
}

impl TaskPatch {
    /// Parse a JSON object. `null` is accepted only where a field may be cleared.
    pub fn from_json(body: &Value) -> Result<Self, FieldError> {
        let object = as_object(body)?;
        if object.is_empty() {
            return Err(FieldError::general(
                "the patch is empty; give at least one field to change",
            ));
        }
        let mut patch = TaskPatch::default();
        for (field, value) in object {
            match field.as_str() {
                "title" => patch.title = Some(Title::parse(required_str(field, value)?)?),
                "description" => {
                    patch.description = Some(match optional_str(field, value)? {
                        Some(raw) => parse_description(raw)?,
                        None => None,
                    })
                }
                "status" => patch.status = Some(Status::parse(required_str(field, value)?, field)?),
                "priority" => {
                    patch.priority = Some(Priority::parse(required_str(field, value)?, field)?)
                }
                "tags" => patch.tags = Some(parse_tag_array(value)?),
                "due_date" => {
                    patch.due_date = Some(
                        optional_str(field, value)?
                            .map(|raw| parse_instant(raw, field))
                            .transpose()?,
                    )
                }
                "time_zone" => {
                    patch.time_zone = Some(TimeZone::parse(required_str(field, value)?)?)
                }
                "reminder_offset_minutes" => {
                    patch.reminder_offset_minutes = Some(parse_offset(value)?)
                }
                "remind_at" => {
                    patch.remind_at = Some(
                        optional_str(field, value)?
                            .map(|raw| parse_instant(raw, field))
                            .transpose()?,
                    )
                }
                "recurrence_rule" => {
                    patch.recurrence_rule = Some(
                        optional_str(field, value)?
                            .map(|raw| {
                                RecurrenceRule::parse(raw)
                                    .map_err(|e| FieldError::new("recurrence_rule", e.to_string()))
                            })
                            .transpose()?,
                    )
                }
                "repeat_from" => {
                    patch.repeat_from = Some(RepeatFrom::parse(required_str(field, value)?, field)?)
                }
                other => return Err(unknown_field(other)),
            }
        }
        Ok(patch)
    }

    /// The draft that results from applying this patch to `task`.
    pub fn apply_to(&self, task: &Task) -> Result<TaskDraft, FieldError> {
        self.apply_to_draft(TaskDraft::from_task(task))
    }

    /// Override the fields this patch sets, then check the cross-field rules.
    fn apply_to_draft(&self, mut draft: TaskDraft) -> Result<TaskDraft, FieldError> {
        set(&mut draft.title, &self.title);
        set(&mut draft.description, &self.description);
        set(&mut draft.status, &self.status);
        set(&mut draft.priority, &self.priority);
        set(&mut draft.tags, &self.tags);
        set(&mut draft.due_date, &self.due_date);
        set(&mut draft.time_zone, &self.time_zone);
        set(&mut draft.recurrence_rule, &self.recurrence_rule);
        set(&mut draft.repeat_from, &self.repeat_from);
        draft.reminder = match (self.reminder_offset_minutes, self.remind_at) {
            (Some(Some(_)), Some(Some(_))) => return Err(both_reminders()),
            (Some(Some(minutes)), _) => Some(Reminder::MinutesBefore(minutes)),
            (_, Some(Some(at))) => Some(Reminder::At(at)),
            // Clearing either form clears the reminder, unless the other form is being set.
            (Some(None), _) | (_, Some(None)) => None,
            (None, None) => draft.reminder,
        };
        draft.check()?;
        Ok(draft)
    }
}

impl TaskDraft {
    /// Parse a create or full-replace body: `title` required, every other field optional with its
    /// default.
    pub fn from_json(body: &Value) -> Result<Self, FieldError> {
        let object = as_object(body)?;
        if !object.contains_key("title") {
            return Err(FieldError::new("title", "is required"));
        }
        let patch = TaskPatch::from_json(body)?;
        let title = patch
            .title
            .clone()
            .ok_or_else(|| FieldError::new("title", "is required"))?;
        patch.apply_to_draft(TaskDraft {
            title,
            description: None,
            status: Status::Pending,
            priority: Priority::default(),
            tags: Tags::default(),
            due_date: None,
            time_zone: TimeZone::UTC,
            reminder: None,
            recurrence_rule: None,
            repeat_from: RepeatFrom::default(),
        })
    }

    fn from_task(task: &Task) -> Self {
        let reminder = match (task.reminder_offset_minutes, task.remind_at) {
            (Some(minutes), _) => Some(Reminder::MinutesBefore(minutes)),
            (None, Some(at)) => Some(Reminder::At(at)),
            (None, None) => None,
        };
        TaskDraft {
            title: task.title.clone(),
            description: task.description.clone(),
            status: task.status,
            priority: task.priority,
            tags: task.tags.clone(),
            due_date: task.due_date,
            time_zone: task.time_zone,
            reminder,
            recurrence_rule: task.recurrence_rule.clone(),
            repeat_from: task.repeat_from,
        }
    }

    /// Rules that involve more than one field.
    fn check(&self) -> Result<(), FieldError> {
        if let Some(reminder) = self.reminder {
            let field = match reminder {
                Reminder::MinutesBefore(_) => "reminder_offset_minutes",
                Reminder::At(_) => "remind_at",
            };
            let Some(due) = self.due_date else {
                return Err(FieldError::new(field, "a reminder needs a due_date"));
            };
            if let Reminder::At(at) = reminder
                && at > due
            {
                return Err(FieldError::new("remind_at", "must not be after due_date"));
            }
        }
        if self.recurrence_rule.is_some() && self.due_date.is_none() {
            return Err(FieldError::new(
                "recurrence_rule",
                "a recurring task needs a due_date to anchor its series",
            ));
        }
        Ok(())
    }

    /// When the reminder fires, if there is one.
    pub fn remind_at(&self) -> Option<DateTime<Utc>> {
        match (self.reminder?, self.due_date?) {
            (Reminder::MinutesBefore(minutes), due) => {
                Some(due - Duration::minutes(minutes.into()))
            }
            (Reminder::At(at), _) => Some(at),
        }
    }
}

impl Task {
    /// A new task owned by `user_id`, version 1.
    pub fn create(id: Uuid, user_id: &str, draft: TaskDraft, now: DateTime<Utc>) -> Self {
        let mut task = Task {
            id,
            user_id: user_id.to_owned(),
            title: draft.title.clone(),
            description: None,
            status: Status::Pending,
            priority: Priority::Medium,
            tags: Tags::default(),
            due_date: None,
            time_zone: TimeZone::UTC,
            reminder_offset_minutes: None,
            remind_at: None,
            recurrence_rule: None,
            repeat_from: RepeatFrom::default(),
            is_recurring: false,
            series_id: None,
            series_start: None,
            occurrence_index: 0,
            predecessor_id: None,
            created_at: now,
            updated_at: now,
            completed_at: None,
            version: 1,
            schema_version: TASK_SCHEMA_VERSION,
        };
        task.set_fields(draft, now);
        task
    }

    /// Apply a draft. Returns the names of the fields that changed; when none did, the task (its
    /// version and `updated_at` included) is left exactly as it was.
    pub fn apply(&mut self, draft: TaskDraft, now: DateTime<Utc>) -> Vec<&'static str> {
        let before = self.clone();
        self.set_fields(draft, now);
        let changed = changed_fields(&before, self);
        if changed.is_empty() {
            *self = before;
        } else {
            self.version = before.version + 1;
            self.updated_at = now;
        }
        changed
    }

    fn set_fields(&mut self, draft: TaskDraft, now: DateTime<Utc>) {
        let remind_at = draft.remind_at();
        self.title = draft.title;
        self.description = draft.description;
        if draft.status != self.status {
            self.completed_at = (draft.status == Status::Completed).then_some(now);
        }
        self.status = draft.status;
        self.priority = draft.priority;
        self.tags = draft.tags;
        self.reminder_offset_minutes = match draft.reminder {
            Some(Reminder::MinutesBefore(minutes)) => Some(minutes),
            _ => None,
        };
        self.remind_at = remind_at;
        self.is_recurring = draft.recurrence_rule.is_some();
        let rescheduled = self.recurrence_rule != draft.recurrence_rule
            || self.repeat_from != draft.repeat_from
            || self.time_zone != draft.time_zone
            || self.due_date != draft.due_date;
        self.recurrence_rule = draft.recurrence_rule;
        self.repeat_from = draft.repeat_from;
        self.time_zone = draft.time_zone;
        self.due_date = draft.due_date;
        if !self.is_recurring {
            self.series_start = None;
        } else if self.series_id.is_none() || self.series_start.is_none() || rescheduled {
            // A new or rescheduled series starts at this task: later occurrences count from here.
            self.series_id = Some(self.id);
            self.series_start = self.due_date;
            self.occurrence_index = 0;
        }
    }

    /// Fields every snapshot has set, listed as the changes of a `task.created` event.
    pub fn set_fields_list(&self) -> Vec<&'static str> {
        let mut fields = vec!["id", "user_id", "title", "status", "priority", "time_zone"];
        let optional: [(&'static str, bool); 8] = [
            ("description", self.description.is_some()),
            ("tags", !self.tags.is_empty()),
            ("due_date", self.due_date.is_some()),
            (
                "reminder_offset_minutes",
                self.reminder_offset_minutes.is_some(),
            ),
            ("remind_at", self.remind_at.is_some()),
            ("recurrence_rule", self.recurrence_rule.is_some()),
            ("repeat_from", self.recurrence_rule.is_some()),
            ("completed_at", self.completed_at.is_some()),
        ];
        fields.extend(
            optional
                .into_iter()
                .filter(|(_, set)| *set)
                .map(|(name, _)| name),
        );
        fields
    }

    pub fn is_completed(&self) -> bool {
        self.status == Status::Completed
    }
}

/// Names of the user-visible fields that differ between two snapshots of one task.
pub fn changed_fields(before: &Task, after: &Task) -> Vec<&'static str> {
    let mut changed = Vec::new();
    let mut check = |name: &'static str, differs: bool| {
        if differs {
            changed.push(name);
        }
    };
    check("title", before.title != after.title);
    check("description", before.description != after.description);
    check("status", before.status != after.status);
    check("priority", before.priority != after.priority);
    check("tags", before.tags != after.tags);
    check("due_date", before.due_date != after.due_date);
    check("time_zone", before.time_zone != after.time_zone);
    check(
        "reminder_offset_minutes",
        before.reminder_offset_minutes != after.reminder_offset_minutes,
    );
    check("remind_at", before.remind_at != after.remind_at);
    check(
        "recurrence_rule",
        before.recurrence_rule != after.recurrence_rule,
    );
    check("repeat_from", before.repeat_from != after.repeat_from);
    check("completed_at", before.completed_at != after.completed_at);
    changed
}

fn as_object(body: &Value) -> Result<&Map<String, Value>, FieldError> {
    body.as_object()
        .ok_or_else(|| FieldError::general("the body must be a JSON object"))
}

fn unknown_field(field: &str) -> FieldError {
    if WRITABLE_FIELDS.contains(&field) {
        FieldError::new(field, "is not accepted here")
    } else {
        FieldError::new(
            field,
            format!(
                "unknown or read-only field; writable fields are {}",
                WRITABLE_FIELDS.join(", ")
            ),
        )
    }
}

fn both_reminders() -> FieldError {
    FieldError::new(
        "remind_at",
        "give either reminder_offset_minutes or remind_at, not both",
    )
}

/// Overwrite `target` when the patch sets a value.
fn set<T: Clone>(target: &mut T, value: &Option<T>) {
    if let Some(value) = value {
        *target = value.clone();
    }
}

fn required_str<'a>(field: &str, value: &'a Value) -> Result<&'a str, FieldError> {
    value
        .as_str()
        .ok_or_else(|| FieldError::new(field, "must be a string"))
}

fn optional_str<'a>(field: &str, value: &'a Value) -> Result<Option<&'a str>, FieldError> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        _ => Err(FieldError::new(field, "must be a string or null")),
    }
}

fn parse_tag_array(value: &Value) -> Result<Tags, FieldError> {
    let items = value
        .as_array()
        .ok_or_else(|| FieldError::new("tags", "must be an array of strings"))?;
    let strings = items
        .iter()
        .map(|item| {
            item.as_str()
                .ok_or_else(|| FieldError::new("tags", "must be an array of strings"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Tags::parse(strings)
}

fn parse_offset(value: &Value) -> Result<Option<u32>, FieldError> {
    const FIELD: &str = "reminder_offset_minutes";
    if value.is_null() {
        return Ok(None);
    }
    let minutes = value
        .as_u64()
        .filter(|m| *m <= u64::from(REMINDER_OFFSET_MAX_MINUTES))
        .ok_or_else(|| {
            FieldError::new(
                FIELD,
                format!(
                    "must be a whole number of minutes from 0 to {REMINDER_OFFSET_MAX_MINUTES}"
                ),
            )
        })?;
    Ok(Some(minutes as u32))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        "2026-03-01T08:00:00Z".parse().unwrap()
    }

    fn created(body: Value) -> Task {
        Task::create(
            Uuid::nil(),
            "alice",
            TaskDraft::from_json(&body).unwrap(),
            now(),
        )
    }

    #[test]
    fn a_recurring_task_anchors_its_series_and_a_reschedule_starts_a_new_one() {
        let mut task = created(json!({"title": "rent", "due_date": "2026-01-31T09:00:00Z",
                                      "recurrence_rule": "monthly"}));
        assert_eq!(task.repeat_from, RepeatFrom::DueDate);
        assert_eq!(task.series_id, Some(task.id));
        assert_eq!(task.series_start, task.due_date);
        let changes = task.set_fields_list();
        assert!(changes.contains(&"repeat_from"), "{changes:?}");
        // An occurrence further down a series (as the recurring service creates them).
        let start: DateTime<Utc> = "2025-12-31T09:00:00Z".parse().unwrap();
        let series = Uuid::from_u128(7);
        task.series_id = Some(series);
        task.series_start = Some(start);
        task.occurrence_index = 1;
        // A change that is not about the schedule keeps the series.
        let patch = TaskPatch::from_json(&json!({"title": "pay rent"})).unwrap();
        let changed = task.apply(patch.apply_to(&task).unwrap(), now());
        assert_eq!(changed, ["title"]);
        assert_eq!(
            (task.series_id, task.series_start, task.occurrence_index),
            (Some(series), Some(start), 1)
        );
        // Moving the due date (or the rule, zone or mode) starts a new series here.
        let patch = TaskPatch::from_json(&json!({"repeat_from": "completion"})).unwrap();
        let changed = task.apply(patch.apply_to(&task).unwrap(), now());
        assert_eq!(changed, ["repeat_from"]);
        assert_eq!(task.repeat_from, RepeatFrom::Completion);
        assert_eq!(
            (task.series_id, task.series_start, task.occurrence_index),
            (Some(task.id), task.due_date, 0)
        );
        // No longer recurring: no series start.
        let patch = TaskPatch::from_json(&json!({"recurrence_rule": null})).unwrap();
        task.apply(patch.apply_to(&task).unwrap(), now());
        assert_eq!(task.series_start, None);
        let err = TaskPatch::from_json(&json!({"repeat_from": "never"})).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("repeat_from"));
        let err = TaskPatch::from_json(&json!({"repeat_from": null})).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("repeat_from"));
    }

    #[test]
    fn stored_snapshots_without_the_new_fields_still_read() {
        let mut stored = serde_json::to_value(created(json!({"title": "old"}))).unwrap();
        let object = stored.as_object_mut().unwrap();
        object.remove("repeat_from");
        object.remove("series_start");
        let task: Task = serde_json::from_value(stored).unwrap();
        assert_eq!(task.repeat_from, RepeatFrom::DueDate);
        assert_eq!(task.series_start, None);
    }

    #[test]
    fn create_applies_defaults() {
        let task = created(json!({"title": "Buy milk"}));
        assert_eq!(task.status, Status::Pending);
        assert_eq!(task.priority, Priority::Medium);
        assert_eq!(task.time_zone.name(), "UTC");
        assert_eq!(task.version, 1);
        assert!(!task.is_recurring);
        assert_eq!(task.completed_at, None);
    }

    #[test]
    fn create_requires_a_title_and_rejects_unknown_and_read_only_fields() {
        assert_eq!(
            TaskDraft::from_json(&json!({}))
                .unwrap_err()
                .field
                .as_deref(),
            Some("title")
        );
        let err = TaskDraft::from_json(&json!({"title": "x", "colour": "red"})).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("colour"));
        let err = TaskDraft::from_json(&json!({"title": "x", "id": "abc"})).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("id"));
        assert!(TaskDraft::from_json(&json!(["title"])).is_err());
        let err = TaskDraft::from_json(&json!({"title": null})).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("title"));
    }

    #[test]
    fn reminder_offset_sets_remind_at_before_due() {
        let task = created(
            json!({"title": "x", "due_date": "2026-03-02T10:00:00+01:00", "reminder_offset_minutes": 30}),
        );
        assert_eq!(
            task.remind_at.unwrap().to_rfc3339(),
            "2026-03-02T08:30:00+00:00"
        );
        assert_eq!(task.reminder_offset_minutes, Some(30));
    }

    #[test]
    fn reminders_need_a_due_date_and_never_come_after_it() {
        let err =
            TaskDraft::from_json(&json!({"title": "x", "reminder_offset_minutes": 5})).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("reminder_offset_minutes"));
        let err = TaskDraft::from_json(&json!({"title": "x", "due_date": "2026-03-02T10:00:00Z", "remind_at": "2026-03-02T10:00:01Z"})).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("remind_at"));
        let err = TaskDraft::from_json(&json!({"title": "x", "due_date": "2026-03-02T10:00:00Z", "remind_at": "2026-03-02T09:00:00Z", "reminder_offset_minutes": 5})).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("remind_at"));
        let err = TaskDraft::from_json(&json!({"title": "x", "due_date": "2026-03-02T10:00:00Z", "reminder_offset_minutes": -1})).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("reminder_offset_minutes"));
    }

    #[test]
    fn recurrence_needs_a_due_date_and_starts_a_series() {
        let err =
            TaskDraft::from_json(&json!({"title": "x", "recurrence_rule": "daily"})).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("recurrence_rule"));
        let err = TaskDraft::from_json(&json!({"title": "x", "due_date": "2026-03-02T10:00:00Z", "recurrence_rule": "FREQ=HOURLY"})).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("recurrence_rule"));
        let task = created(
            json!({"title": "x", "due_date": "2026-03-02T10:00:00Z", "recurrence_rule": "weekly"}),
        );
        assert!(task.is_recurring);
        assert_eq!(task.series_id, Some(task.id));
    }

    #[test]
    fn patch_null_clears_optional_fields_and_absent_keeps_them() {
        let mut task = created(
            json!({"title": "x", "description": "d", "due_date": "2026-03-02T10:00:00Z", "reminder_offset_minutes": 10}),
        );
        let patch =
            TaskPatch::from_json(&json!({"description": null, "reminder_offset_minutes": null}))
                .unwrap();
        let draft = patch.apply_to(&task).unwrap();
        let changed = task.apply(draft, now());
        assert_eq!(
            changed,
            vec!["description", "reminder_offset_minutes", "remind_at"]
        );
        assert_eq!(task.description, None);
        assert_eq!(task.remind_at, None);
        assert!(task.due_date.is_some());
        assert_eq!(task.version, 2);
    }

    #[test]
    fn patch_cannot_null_a_required_field_or_orphan_a_reminder() {
        let task = created(
            json!({"title": "x", "due_date": "2026-03-02T10:00:00Z", "reminder_offset_minutes": 10}),
        );
        assert!(TaskPatch::from_json(&json!({"priority": null})).is_err());
        // Nothing to change is refused, and a key without a name is named by no field.
        assert_eq!(TaskPatch::from_json(&json!({})).unwrap_err().field, None);
        assert_eq!(
            TaskPatch::from_json(&json!({"": 1})).unwrap_err().field,
            None
        );
        let err = TaskPatch::from_json(&json!({"due_date": null}))
            .unwrap()
            .apply_to(&task)
            .unwrap_err();
        assert_eq!(err.field.as_deref(), Some("reminder_offset_minutes"));
    }

    #[test]
    fn moving_the_due_date_moves_an_offset_reminder() {
        let mut task = created(
            json!({"title": "x", "due_date": "2026-03-02T10:00:00Z", "reminder_offset_minutes": 60}),
        );
        let draft = TaskPatch::from_json(&json!({"due_date": "2026-03-05T10:00:00Z"}))
            .unwrap()
            .apply_to(&task)
            .unwrap();
        task.apply(draft, now());
        assert_eq!(
            task.remind_at.unwrap().to_rfc3339(),
            "2026-03-05T09:00:00+00:00"
        );
    }

    #[test]
    fn an_update_that_changes_nothing_keeps_the_version() {
        let mut task = created(json!({"title": "x"}));
        let before = task.clone();
        let draft = TaskPatch::from_json(&json!({"title": " x "}))
            .unwrap()
            .apply_to(&task)
            .unwrap();
        assert!(task.apply(draft, now() + Duration::hours(1)).is_empty());
        assert_eq!(task, before);
    }

    #[test]
    fn completing_sets_and_reopening_clears_completed_at() {
        let mut task = created(json!({"title": "x"}));
        let later = now() + Duration::hours(1);
        let draft = TaskPatch::from_json(&json!({"status": "completed"}))
            .unwrap()
            .apply_to(&task)
            .unwrap();
        assert_eq!(task.apply(draft, later), vec!["status", "completed_at"]);
        assert_eq!(task.completed_at, Some(later));
        let draft = TaskPatch::from_json(&json!({"status": "pending"}))
            .unwrap()
            .apply_to(&task)
            .unwrap();
        task.apply(draft, later);
        assert_eq!(task.completed_at, None);
        let done = created(json!({"title": "x", "status": "completed"}));
        assert_eq!(done.completed_at, Some(now()));
    }

    #[test]
    fn serialized_timestamps_are_rfc3339_utc_with_z() {
        let task = created(json!({"title": "x", "due_date": "2026-03-02T10:00:00+05:30"}));
        let json = serde_json::to_value(&task).unwrap();
        assert_eq!(json["due_date"], "2026-03-02T04:30:00Z");
        assert_eq!(json["created_at"], "2026-03-01T08:00:00Z");
        let back: Task = serde_json::from_value(json).unwrap();
        assert_eq!(back, task);
    }
}
