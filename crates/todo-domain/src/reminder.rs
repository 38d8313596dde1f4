//! Reminders: when a task's reminder must be (re)scheduled or cancelled, the names and ids that
//! make a reminder traceable end to end, and the `data` of the `reminder.triggered` event
//! (docs/contracts.md "Reminders").
//!
//! A reminder is identified by `reminder_id` = `<task_id>:<version that set it>`: the task version
//! of the change that created, moved or re-armed it (an unrelated change later keeps it). The
//! Dapr job that fires it is named [`job_name`] (one per task: rescheduling overwrites it), and
//! the event it produces has the id [`event_id`], derived from `reminder_id` alone, so however
//! often a trigger is delivered the event has one id.
use crate::error::FieldError;
use crate::event::EVENT_SCHEMA_VERSION;
use crate::task::Task;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub const REMINDER_TRIGGERED: &str = "reminder.triggered";
/// Prefix of the Dapr job of a task's reminder: `reminder-<task_id>`.
pub const JOB_PREFIX: &str = "reminder-";
/// Namespace of the UUIDv5 event ids of reminders (a fixed random UUID; never change it, or
/// consumers would see re-published reminders as new).
pub const EVENT_ID_NAMESPACE: Uuid = Uuid::from_u128(0x6f1c_2b4e_8a57_4d0e_9c3b_5e2f_7a91_d4c8);

/// The Dapr job name of `task_id`'s reminder. Job names are per app; task ids are unique, so
/// every task has at most one reminder job.
pub fn job_name(task_id: Uuid) -> String {
    format!("{JOB_PREFIX}{task_id}")
}

/// The task a reminder job name belongs to; `None` for any other name.
pub fn task_of_job(name: &str) -> Option<Uuid> {
    let id = name.strip_prefix(JOB_PREFIX)?;
    // Only the canonical (lowercase, hyphenated) form, so a name maps to one task and back.
    Uuid::parse_str(id).ok().filter(|u| u.to_string() == id)
}

/// `<task_id>:<version>`.
pub fn reminder_id(task: &Task) -> String {
    format!("{}:{}", task.id, task.version)
}

/// The CloudEvent id of the `reminder.triggered` event of `reminder_id`: UUIDv5 in
/// [`EVENT_ID_NAMESPACE`] of the reminder id's UTF-8 bytes.
pub fn event_id(reminder_id: &str) -> Uuid {
    Uuid::new_v5(&EVENT_ID_NAMESPACE, reminder_id.as_bytes())
}

/// A reminder that is scheduled and has not fired yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PendingReminder {
    pub reminder_id: String,
    pub remind_at: DateTime<Utc>,
}

/// What a change of a task does to its reminder job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReminderPlan {
    /// Nothing: no reminder, or the pending one (if any) stays as it is.
    Keep,
    /// Schedule this reminder (replacing the task's pending one, if any).
    Arm(PendingReminder),
    /// Cancel the task's pending reminder, if it still has one.
    Disarm,
}

/// The reminder a task would fire: set and the task not completed.
fn live_reminder(task: &Task) -> Option<DateTime<Utc>> {
    task.remind_at.filter(|_| !task.is_completed())
}

/// What changing `before` into `after` (`None`: created / deleted) does to the reminder, at
/// `now`. A reminder is (re)armed when it is new, moved (`remind_at` changed, directly or through
/// `due_date` with an offset) or the task is reopened; cancelled when cleared, completed or
/// deleted; kept otherwise, so a title change never touches it and never fails because it has
/// already fired.
///
/// Arming a reminder at or before `now` is refused with the field that put it there when
/// `strict` (a user's request); otherwise (an occurrence created by the recurring service, a
/// reopened task whose reminder time has passed) the reminder is simply not armed. A due date
/// moved under an offset reminder that had already passed keeps it as it is (no error, no new
/// reminder).
pub fn plan(
    before: Option<&Task>,
    after: Option<&Task>,
    now: DateTime<Utc>,
    strict: bool,
) -> Result<ReminderPlan, FieldError> {
    let had = before.and_then(live_reminder).is_some();
    let cancel = if had {
        ReminderPlan::Disarm
    } else {
        ReminderPlan::Keep
    };
    let Some(after) = after else {
        return Ok(cancel);
    };
    let Some(at) = live_reminder(after) else {
        return Ok(cancel);
    };
    let set_by_this_change = before.is_none_or(|b| b.remind_at != after.remind_at);
    let reopened = before.is_some_and(Task::is_completed);
    if !set_by_this_change && !reopened {
        return Ok(ReminderPlan::Keep);
    }
    if at <= now {
        // A due date moved under a reminder that had already passed (usually: fired) leaves it be:
        // postponing a task must not fail, nor remind again, because of its reminder.
        let passed_before = before
            .and_then(|b| b.remind_at)
            .is_some_and(|before_at| before_at <= now);
        let only_due_date_moved = before.is_some_and(|b| {
            b.reminder_offset_minutes.is_some()
                && b.reminder_offset_minutes == after.reminder_offset_minutes
        });
        if set_by_this_change && passed_before && only_due_date_moved {
            return Ok(ReminderPlan::Keep);
        }
        if strict && set_by_this_change {
            return Err(in_the_past(before, after, at));
        }
        return Ok(cancel);
    }
    Ok(ReminderPlan::Arm(PendingReminder {
        reminder_id: reminder_id(after),
        remind_at: at,
    }))
}

/// `400 validation_failed` naming the field that moved the reminder into the past: `remind_at`
/// when given as an instant; with an offset, `reminder_offset_minutes` unless only `due_date`
/// changed.
fn in_the_past(before: Option<&Task>, after: &Task, at: DateTime<Utc>) -> FieldError {
    let field = match after.reminder_offset_minutes {
        None => "remind_at",
        Some(_)
            if before
                .is_some_and(|b| b.reminder_offset_minutes == after.reminder_offset_minutes) =>
        {
            "due_date"
        }
        Some(_) => "reminder_offset_minutes",
    };
    FieldError::new(
        field,
        format!(
            "the reminder would be at {}, which is not in the future",
            at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
        ),
    )
}

/// `data` of a `reminder.triggered` event (schemas/reminder-event.schema.json).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReminderEventData {
    pub schema_version: u32,
    pub user_id: String,
    pub task_id: Uuid,
    pub task_title: String,
    pub due_date: DateTime<Utc>,
    pub remind_at: DateTime<Utc>,
    pub reminder_id: String,
}

impl ReminderEventData {
    /// The event of `reminder` firing for `task`; `None` when the task has no due date (a
    /// reminder always has one; an inconsistent pair fires nothing).
    pub fn new(task: &Task, reminder: &PendingReminder) -> Option<Self> {
        Some(Self {
            schema_version: EVENT_SCHEMA_VERSION,
            user_id: task.user_id.clone(),
            task_id: task.id,
            task_title: task.title.as_str().to_owned(),
            due_date: task.due_date?,
            remind_at: reminder.remind_at,
            reminder_id: reminder.reminder_id.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Status, TaskDraft};
    use serde_json::json;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    const NOW: &str = "2026-03-01T08:00:00Z";

    fn task(body: serde_json::Value) -> Task {
        let draft = TaskDraft::from_json(&body).unwrap();
        Task::create(Uuid::new_v4(), "alice", draft, at("2026-02-01T00:00:00Z"))
    }

    fn changed(before: &Task, body: serde_json::Value) -> Task {
        let patch = crate::TaskPatch::from_json(&body).unwrap();
        let mut after = before.clone();
        after.apply(patch.apply_to(before).unwrap(), at(NOW));
        after
    }

    fn with_reminder() -> Task {
        task(
            json!({"title": "t", "due_date": "2026-03-02T10:00:00Z", "reminder_offset_minutes": 60}),
        )
    }

    #[test]
    fn names_and_ids_are_derived_from_the_task() {
        let t = with_reminder();
        assert_eq!(job_name(t.id), format!("reminder-{}", t.id));
        assert_eq!(task_of_job(&job_name(t.id)), Some(t.id));
        assert_eq!(task_of_job("outbox-sweep"), None);
        assert_eq!(task_of_job("reminder-not-a-uuid"), None);
        assert_eq!(
            task_of_job(&format!("reminder-{}", t.id.to_string().to_uppercase())),
            None
        );
        assert_eq!(reminder_id(&t), format!("{}:1", t.id));
        let id = event_id(&reminder_id(&t));
        assert_eq!(id, event_id(&reminder_id(&t)), "deterministic");
        assert_eq!(id.get_version_num(), 5);
        assert_ne!(id, event_id(&format!("{}:2", t.id)));
    }

    #[test]
    fn a_new_future_reminder_is_armed_with_the_creating_version() {
        let t = with_reminder();
        let plan = plan(None, Some(&t), at(NOW), true).unwrap();
        assert_eq!(
            plan,
            ReminderPlan::Arm(PendingReminder {
                reminder_id: format!("{}:1", t.id),
                remind_at: at("2026-03-02T09:00:00Z"),
            })
        );
        let none = task(json!({"title": "t"}));
        assert_eq!(plan_of(None, Some(&none)), ReminderPlan::Keep);
    }

    fn plan_of(before: Option<&Task>, after: Option<&Task>) -> ReminderPlan {
        plan(before, after, at(NOW), true).unwrap()
    }

    #[test]
    fn moving_the_reminder_or_the_due_date_rearms_and_other_changes_keep_it() {
        let t = with_reminder();
        let retitled = changed(&t, json!({"title": "other"}));
        assert_eq!(plan_of(Some(&t), Some(&retitled)), ReminderPlan::Keep);
        let moved = changed(&t, json!({"due_date": "2026-03-03T10:00:00Z"}));
        assert_eq!(
            plan_of(Some(&t), Some(&moved)),
            ReminderPlan::Arm(PendingReminder {
                reminder_id: format!("{}:2", t.id),
                remind_at: at("2026-03-03T09:00:00Z"),
            })
        );
        let absolute = changed(&t, json!({"remind_at": "2026-03-02T07:00:00Z"}));
        assert!(matches!(
            plan_of(Some(&t), Some(&absolute)),
            ReminderPlan::Arm(PendingReminder { remind_at, .. }) if remind_at == at("2026-03-02T07:00:00Z")
        ));
    }

    #[test]
    fn clearing_completing_or_deleting_cancels() {
        let t = with_reminder();
        let cleared = changed(&t, json!({"reminder_offset_minutes": null}));
        assert_eq!(plan_of(Some(&t), Some(&cleared)), ReminderPlan::Disarm);
        let completed = changed(&t, json!({"status": "completed"}));
        assert_eq!(plan_of(Some(&t), Some(&completed)), ReminderPlan::Disarm);
        assert_eq!(plan_of(Some(&t), None), ReminderPlan::Disarm);
        // A completed task has no job to cancel.
        assert_eq!(plan_of(Some(&completed), None), ReminderPlan::Keep);
        let plain = task(json!({"title": "t"}));
        assert_eq!(plan_of(Some(&plain), None), ReminderPlan::Keep);
    }

    #[test]
    fn reopening_rearms_a_reminder_still_ahead_and_quietly_skips_a_passed_one() {
        let t = with_reminder();
        let completed = changed(&t, json!({"status": "completed"}));
        let mut reopened = changed(&completed, json!({"status": "pending"}));
        assert_eq!(reopened.status, Status::Pending);
        assert_eq!(
            plan_of(Some(&completed), Some(&reopened)),
            ReminderPlan::Arm(PendingReminder {
                reminder_id: format!("{}:3", t.id),
                remind_at: at("2026-03-02T09:00:00Z"),
            })
        );
        reopened.version += 1;
        let later = at("2026-03-02T09:30:00Z");
        assert_eq!(
            plan(Some(&completed), Some(&reopened), later, true).unwrap(),
            ReminderPlan::Keep
        );
    }

    #[test]
    fn setting_a_reminder_in_the_past_names_the_field_that_put_it_there() {
        let past_at = task(
            json!({"title": "t", "due_date": "2026-03-02T10:00:00Z", "remind_at": "2026-03-01T07:59:00Z"}),
        );
        let err = plan(None, Some(&past_at), at(NOW), true).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("remind_at"));
        assert_eq!(
            plan(None, Some(&past_at), at(NOW), false).unwrap(),
            ReminderPlan::Keep,
            "not strict (an occurrence): just not armed"
        );
        let t = with_reminder();
        let offset = changed(&t, json!({"reminder_offset_minutes": 1600}));
        let err = plan(Some(&t), Some(&offset), at(NOW), true).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("reminder_offset_minutes"));
        let due = changed(&t, json!({"due_date": "2026-03-01T08:30:00Z"}));
        let err = plan(Some(&t), Some(&due), at(NOW), true).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("due_date"));
        let exactly_now = changed(&t, json!({"remind_at": NOW}));
        assert!(plan(Some(&t), Some(&exactly_now), at(NOW), true).is_err());
    }

    #[test]
    fn a_change_after_the_reminder_fired_does_not_fail() {
        let t = with_reminder();
        let after_fire = at("2026-03-02T09:30:00Z");
        let retitled = changed(&t, json!({"title": "still fine"}));
        assert_eq!(
            plan(Some(&t), Some(&retitled), after_fire, true).unwrap(),
            ReminderPlan::Keep
        );
        // Postponed by 20 minutes: the reminder moves to 09:20, still past; no error, no repeat.
        let postponed = changed(&t, json!({"due_date": "2026-03-02T10:20:00Z"}));
        assert_eq!(
            plan(Some(&t), Some(&postponed), after_fire, true).unwrap(),
            ReminderPlan::Keep
        );
        // Postponed past the offset: a new reminder ahead.
        let later = changed(&t, json!({"due_date": "2026-03-02T11:00:00Z"}));
        assert!(matches!(
            plan(Some(&t), Some(&later), after_fire, true).unwrap(),
            ReminderPlan::Arm(_)
        ));
        // Setting the reminder itself into the past is still refused.
        let offset = changed(&t, json!({"reminder_offset_minutes": 45}));
        let err = plan(Some(&t), Some(&offset), after_fire, true).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("reminder_offset_minutes"));
    }

    #[test]
    fn the_event_data_matches_the_schema_shape() {
        let t = with_reminder();
        let pending = PendingReminder {
            reminder_id: reminder_id(&t),
            remind_at: t.remind_at.unwrap(),
        };
        let data = serde_json::to_value(ReminderEventData::new(&t, &pending).unwrap()).unwrap();
        assert_eq!(
            data,
            json!({"schema_version": 1, "user_id": "alice", "task_id": t.id, "task_title": "t",
                   "due_date": "2026-03-02T10:00:00Z", "remind_at": "2026-03-02T09:00:00Z",
                   "reminder_id": format!("{}:1", t.id)})
        );
    }
}
