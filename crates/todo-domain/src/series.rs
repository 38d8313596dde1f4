//! Series of recurring tasks: the identity of each occurrence, the request by which the
//! recurring service asks chat-api to create the next one (`POST /api/internal/occurrences`,
//! `occurrence-request.schema.json`), and which occurrence comes next ([`next_occurrence`]).
//! Pure: no I/O, no clock.
//!
//! # The next occurrence (docs/contracts.md, "Next occurrence")
//!
//! Computed from the `task.completed` event alone (the completed snapshot and its
//! `completed_at`), so every delivery of the event, and every replica handling it, computes the
//! same request; and whatever it computes, the successor's id is [`successor_id`] of the
//! *predecessor's* index, so at most one successor exists per occurrence.
//!
//! - **`repeat_from = due_date`** (the default): the series keeps its own schedule. The next
//!   occurrence is the first one after the task's own whose instant is after `completed_at`:
//!   completed on time (or early) that is simply the next one; completed late, the missed ones
//!   are skipped (a daily task due on the 10th, done on the 13th at noon, comes back on the 14th,
//!   `occurrence_index` 4). Occurrences count from the series' anchor, so monthly clamping never
//!   drifts (Jan 31 → Feb 28 → Mar 31).
//! - **`repeat_from = completion`**: the next due date counts from the completion, at the due
//!   date's wall-clock time of day in the task's zone: the rule applied to a series that would
//!   start on the completion's local date at that time (`every 3 days`, due 09:00, done on the
//!   10th at 18:00 → the 13th 09:00; `FREQ=WEEKLY;BYDAY=MO` → the first Monday after the
//!   completion's date, 09:00). The successor is a new anchor (`series_start` = its due date)
//!   but keeps counting `occurrence_index` (+1), so `COUNT` still ends the series.
//!
//! **The anchor.** A task's schedule counts from `series_start` (occurrence 0's due date), except
//! when `series_start` is null (snapshots older than the field) or equal to the task's own due
//! date with `occurrence_index` > 0 (a completion-mode successor): then the task itself is the
//! anchor, at its own `occurrence_index`. A successor keeps an anchor at index 0 and is its own
//! anchor otherwise, so the rule holds for it too.
//!
//! `COUNT` (occurrences in all, occurrence 0 included, by `occurrence_index`) and `UNTIL` end a
//! series; so do [`MAX_OCCURRENCE_INDEX`] and year 9999. RRULEs are strict RFC 5545, shorthands
//! clamp, and every instant is computed on the wall clock of the task's zone (DST-true), all by
//! [`RecurrenceRule::occurrence`].
use crate::fields::RepeatFrom;
use crate::recurrence::{MAX_OCCURRENCE_INDEX, RecurrenceRule, resolve_local};
use crate::task::Task;
use crate::tz::Tz;
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use uuid::Uuid;

/// Namespace of successor ids (UUIDv5): fixed forever, or ids of old series would change.
const SUCCESSOR_NAMESPACE: Uuid = Uuid::from_u128(0x6f1c_2b2e_8d4a_4e57_9a59_0d6c_3a1f_7c42);

/// The id of the task that follows occurrence `predecessor_index` of `series_id`: the same
/// however often, from wherever, the completion is handled — so at most one successor exists
/// per occurrence (complete → reopen → complete included).
pub fn successor_id(series_id: Uuid, predecessor_index: u32) -> Uuid {
    Uuid::new_v5(
        &SUCCESSOR_NAMESPACE,
        format!("{series_id}/{predecessor_index}").as_bytes(),
    )
}

/// What the recurring service sends chat-api to create the occurrence after `predecessor_id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OccurrenceRequest {
    pub user_id: String,
    pub series_id: Uuid,
    /// Occurrence 0's due date: the anchor later occurrences count from.
    pub series_start: DateTime<Utc>,
    pub predecessor_id: Uuid,
    pub predecessor_occurrence_index: u32,
    /// The new task's index in the series (more than one past the predecessor's when missed
    /// occurrences were skipped).
    pub occurrence_index: u32,
    /// The new task's writable fields, in the shape of a create (`task-create.schema.json`).
    pub task: serde_json::Value,
}

impl OccurrenceRequest {
    /// The id the new task gets.
    pub fn successor_id(&self) -> Uuid {
        successor_id(self.series_id, self.predecessor_occurrence_index)
    }

    /// Give a freshly created task its place in the series.
    pub fn place(&self, task: &mut Task) {
        task.series_id = Some(self.series_id);
        task.series_start = Some(self.series_start);
        task.occurrence_index = self.occurrence_index;
        task.predecessor_id = Some(self.predecessor_id);
    }
}

/// Why no next occurrence could be computed for a completed task that has one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SeriesError {
    /// A field of the successor would fall outside the representable range.
    #[error("the next occurrence's {0} is out of range")]
    OutOfRange(&'static str),
}

/// The request that creates the occurrence following `task`, completed at `completed_at` (see
/// the module docs for both modes). `Ok(None)`: nothing follows — the task is not recurring, has
/// no due date, or its series has ended (`COUNT`, `UNTIL`, the index cap, year 9999).
///
/// A function of its arguments only: a redelivered event computes the same request.
pub fn next_occurrence(
    task: &Task,
    completed_at: DateTime<Utc>,
) -> Result<Option<OccurrenceRequest>, SeriesError> {
    let (Some(rule), Some(due)) = (&task.recurrence_rule, task.due_date) else {
        return Ok(None);
    };
    let tz = task.time_zone.tz();
    let next = match task.repeat_from {
        RepeatFrom::DueDate => {
            let anchor = Anchor::of(task, due);
            let base = task.occurrence_index - anchor.index;
            let Some((offset, next_due)) =
                first_occurrence_after(rule, tz, anchor.start, base, completed_at)
            else {
                return Ok(None);
            };
            let Some(index) = anchor.index.checked_add(offset) else {
                return Ok(None);
            };
            // Keep an anchor at index 0 (no drift); a self-anchored task passes it on.
            let series_start = if anchor.index == 0 {
                anchor.start
            } else {
                next_due
            };
            (index, next_due, series_start)
        }
        RepeatFrom::Completion => {
            let Some(index) = task.occurrence_index.checked_add(1) else {
                return Ok(None);
            };
            let time_of_day = due.with_timezone(&tz).time();
            let local = completed_at
                .with_timezone(&tz)
                .date_naive()
                .and_time(time_of_day);
            let Some(next_due) = first_after_completion(rule, tz, local) else {
                return Ok(None);
            };
            (index, next_due, next_due)
        }
    };
    let (occurrence_index, next_due, series_start) = next;
    if occurrence_index > MAX_OCCURRENCE_INDEX
        || rule.count().is_some_and(|count| occurrence_index >= count)
    {
        return Ok(None);
    }
    Ok(Some(OccurrenceRequest {
        user_id: task.user_id.clone(),
        series_id: task.series_id.unwrap_or(task.id),
        series_start,
        predecessor_id: task.id,
        predecessor_occurrence_index: task.occurrence_index,
        occurrence_index,
        task: successor_fields(task, rule, due, next_due)?,
    }))
}

/// Where a task's schedule counts from: `start` is occurrence `index` (see the module docs).
struct Anchor {
    start: DateTime<Utc>,
    index: u32,
}

impl Anchor {
    fn of(task: &Task, due: DateTime<Utc>) -> Self {
        match task.series_start {
            Some(start) if start != due || task.occurrence_index == 0 => Self { start, index: 0 },
            _ => Self {
                start: due,
                index: task.occurrence_index,
            },
        }
    }
}

/// The smallest offset `r > base` from `start` whose occurrence is after `completed_at`, with
/// that occurrence; `None` when the series ends first. Occurrences grow with `r` and, once
/// `None`, stay `None`, so "ended or after `completed_at`" is monotone: gallop, then bisect —
/// O(log skipped) calls (RRULE occurrences cost O(r) each).
fn first_occurrence_after(
    rule: &RecurrenceRule,
    tz: Tz,
    start: DateTime<Utc>,
    base: u32,
    completed_at: DateTime<Utc>,
) -> Option<(u32, DateTime<Utc>)> {
    // `occurrence` is `None` from here on, so the search ends at the latest there.
    let limit = MAX_OCCURRENCE_INDEX + 1;
    let done = |r: u32| {
        rule.occurrence(start, tz, r)
            .is_none_or(|instant| instant > completed_at)
    };
    let mut lo = base;
    let mut step = 1u32;
    let mut hi = loop {
        let r = base.saturating_add(step).min(limit);
        if r <= lo {
            return None;
        }
        if done(r) {
            break r;
        }
        lo = r;
        step = step.saturating_mul(2);
    };
    // Not done at `lo` (or `lo` is the task's own occurrence); done at `hi`.
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if done(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    rule.occurrence(start, tz, hi).map(|instant| (hi, instant))
}

/// Occurrence 1 of a series that would start at `local` (the completion's date at the due's
/// time of day) in `tz`.
fn first_after_completion(
    rule: &RecurrenceRule,
    tz: Tz,
    local: NaiveDateTime,
) -> Option<DateTime<Utc>> {
    let anchor = resolve_local(tz, local)?;
    // `None`: UNTIL has passed (or COUNT=1, or year 9999).
    let next = rule.occurrence(anchor, tz, 1)?;
    if anchor.with_timezone(&tz).naive_local() == local {
        return Some(next);
    }
    // The due's time of day does not exist on the completion's date (a DST gap), so the anchor
    // was shifted; the rule keeps the time of day of its start, so take the next instance on the
    // floating wall clock from the unshifted time instead (`UNTIL` was checked above, on an
    // instant at most the gap's length later).
    let floating = rule.occurrence(local.and_utc(), Tz::UTC, 1)?;
    resolve_local(tz, floating.naive_utc())
}

/// The successor's writable fields in the shape of a create (`task-create.schema.json`):
/// title, description, priority, tags, time zone, rule, mode and reminder are copied, the due
/// date is `next_due`, and an absolute `remind_at` moves with it.
fn successor_fields(
    task: &Task,
    rule: &RecurrenceRule,
    due: DateTime<Utc>,
    next_due: DateTime<Utc>,
) -> Result<Value, SeriesError> {
    let mut fields = Map::new();
    fields.insert("title".into(), json!(task.title));
    if let Some(description) = &task.description {
        fields.insert("description".into(), json!(description));
    }
    fields.insert("priority".into(), json!(task.priority));
    if !task.tags.is_empty() {
        fields.insert("tags".into(), json!(task.tags));
    }
    fields.insert("due_date".into(), json!(next_due));
    fields.insert("time_zone".into(), json!(task.time_zone));
    match (task.reminder_offset_minutes, task.remind_at) {
        (Some(minutes), _) => {
            fields.insert("reminder_offset_minutes".into(), json!(minutes));
        }
        (None, Some(remind_at)) => {
            let shifted = remind_at
                .checked_add_signed(next_due - due)
                .ok_or(SeriesError::OutOfRange("remind_at"))?;
            fields.insert("remind_at".into(), json!(shifted));
        }
        (None, None) => {}
    }
    fields.insert("recurrence_rule".into(), json!(rule));
    fields.insert("repeat_from".into(), json!(task.repeat_from));
    Ok(Value::Object(fields))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn successor_ids_are_fixed_per_series_and_occurrence() {
        let series = Uuid::from_u128(1);
        assert_eq!(successor_id(series, 0), successor_id(series, 0));
        assert_ne!(successor_id(series, 0), successor_id(series, 1));
        assert_ne!(successor_id(series, 0), successor_id(Uuid::from_u128(2), 0));
        assert_eq!(successor_id(series, 0).get_version_num(), 5);
        // Pinned: changing the namespace or the name format would fork existing series.
        assert_eq!(
            successor_id(series, 3).to_string(),
            "088c3f51-1d41-5565-9e76-952122a39211"
        );
    }
}

#[cfg(test)]
mod next_occurrence_tests {
    use super::*;
    use crate::fields::Status;
    use crate::task::TaskDraft;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    /// A wall-clock time `YYYY-MM-DD HH:MM` in `tz`.
    fn local(tz: Tz, text: &str) -> DateTime<Utc> {
        let naive = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M").unwrap();
        resolve_local(tz, naive).unwrap()
    }

    fn local_text(tz: Tz, instant: DateTime<Utc>) -> String {
        instant
            .with_timezone(&tz)
            .format("%Y-%m-%d %H:%M")
            .to_string()
    }

    /// The first task of a series, as chat-api creates it from `body`.
    fn first(body: Value) -> Task {
        let draft = TaskDraft::from_json(&body).unwrap();
        Task::create(
            Uuid::from_u128(0xabc),
            "alice",
            draft,
            utc("2025-12-01T00:00:00Z"),
        )
    }

    /// `task` as its `task.completed` snapshot.
    fn completed(mut task: Task, at: DateTime<Utc>) -> Task {
        task.status = Status::Completed;
        task.completed_at = Some(at);
        task.version += 1;
        task.updated_at = at;
        task
    }

    /// The successor as chat-api creates it from `request` (create-if-absent, then `place`).
    fn create(request: &OccurrenceRequest) -> Task {
        let draft = TaskDraft::from_json(&request.task)
            .unwrap_or_else(|e| panic!("chat-api must accept {}: {e}", request.task));
        let mut task = Task::create(
            request.successor_id(),
            &request.user_id,
            draft,
            utc("2026-01-01T00:00:00Z"),
        );
        request.place(&mut task);
        task
    }

    fn next(task: &Task, completed_at: DateTime<Utc>) -> Option<OccurrenceRequest> {
        next_occurrence(task, completed_at).unwrap()
    }

    /// Follow the series from `task` for up to `n` steps, completing each occurrence at
    /// `completion(task)`: the tasks chat-api would have created, `task` first.
    fn chain(task: Task, n: usize, completion: impl Fn(&Task) -> DateTime<Utc>) -> Vec<Task> {
        let mut tasks = vec![task];
        for _ in 0..n {
            let last = tasks.last().unwrap();
            let at = completion(last);
            let Some(request) = next(&completed(last.clone(), at), at) else {
                break;
            };
            tasks.push(create(&request));
        }
        tasks
    }

    /// [`chain`] as (occurrence index, local due date in the task's zone).
    fn follow(
        task: Task,
        n: usize,
        completion: impl Fn(&Task) -> DateTime<Utc>,
    ) -> Vec<(u32, String)> {
        let tz = task.time_zone.tz();
        chain(task, n, completion)
            .iter()
            .map(|t| (t.occurrence_index, local_text(tz, t.due_date.unwrap())))
            .collect()
    }

    fn on_time(task: &Task) -> DateTime<Utc> {
        task.due_date.unwrap() - chrono::Duration::hours(1)
    }

    fn series(items: &[(u32, &str)]) -> Vec<(u32, String)> {
        items.iter().map(|(i, t)| (*i, (*t).to_owned())).collect()
    }

    #[test]
    fn monthly_shorthand_from_jan_31_clamps_to_feb_28_and_returns_to_mar_31() {
        let task = first(json!({"title": "rent", "due_date": "2026-01-31T09:00:00Z",
                                "recurrence_rule": "monthly"}));
        assert_eq!(
            follow(task, 3, on_time),
            series(&[
                (0, "2026-01-31 09:00"),
                (1, "2026-02-28 09:00"),
                (2, "2026-03-31 09:00"),
                (3, "2026-04-30 09:00"),
            ])
        );
    }

    #[test]
    fn strict_monthly_rrule_from_jan_31_skips_to_mar_31() {
        let task = first(json!({"title": "rent", "due_date": "2026-01-31T09:00:00Z",
                                "recurrence_rule": "FREQ=MONTHLY"}));
        assert_eq!(
            follow(task, 2, on_time),
            series(&[
                (0, "2026-01-31 09:00"),
                (1, "2026-03-31 09:00"),
                (2, "2026-05-31 09:00")
            ])
        );
    }

    #[test]
    fn every_successor_counts_from_the_series_start() {
        let task = first(json!({"title": "rent", "due_date": "2026-01-31T09:00:00Z",
                                "recurrence_rule": "monthly"}));
        let at = utc("2026-01-30T12:00:00Z");
        let request = next(&completed(task.clone(), at), at).unwrap();
        assert_eq!(request.series_id, task.id);
        assert_eq!(request.series_start, utc("2026-01-31T09:00:00Z"));
        assert_eq!(request.predecessor_id, task.id);
        assert_eq!(request.predecessor_occurrence_index, 0);
        assert_eq!(request.occurrence_index, 1);
        assert_eq!(request.successor_id(), successor_id(task.id, 0));
        let successor = create(&request);
        assert_eq!(successor.id, request.successor_id());
        assert_eq!(successor.series_start, Some(utc("2026-01-31T09:00:00Z")));
        assert_eq!(successor.status, Status::Pending);
    }

    #[test]
    fn daily_9am_berlin_stays_at_9am_across_both_dst_switches() {
        let berlin = Tz::known("Europe/Berlin");
        for (start, days, utc_times) in [
            // Spring forward on Sunday 29 March 2026: 09:00 is 08:00Z before, 07:00Z after.
            (
                "2026-03-27 09:00",
                [27, 28, 29, 30],
                ["08:00", "08:00", "07:00", "07:00"],
            ),
            // Fall back on Sunday 25 October 2026: 07:00Z before, 08:00Z after.
            (
                "2026-10-23 09:00",
                [23, 24, 25, 26],
                ["07:00", "07:00", "08:00", "08:00"],
            ),
        ] {
            for mode in ["due_date", "completion"] {
                let task = first(json!({"title": "standup", "due_date": local(berlin, start),
                                        "time_zone": "Europe/Berlin", "recurrence_rule": "daily",
                                        "repeat_from": mode}));
                // Done at 20:00 local on the due day (in completion mode the date counts).
                let tasks = chain(task, 3, |t| {
                    t.due_date.unwrap() + chrono::Duration::hours(11)
                });
                let seen: Vec<(u32, u32, String, String)> = tasks
                    .iter()
                    .map(|t| {
                        let due = t.due_date.unwrap();
                        let local = due.with_timezone(&berlin);
                        (
                            t.occurrence_index,
                            chrono::Datelike::day(&local),
                            local.format("%H:%M").to_string(),
                            due.format("%H:%M").to_string(),
                        )
                    })
                    .collect();
                let expected: Vec<(u32, u32, String, String)> = (0..4)
                    .map(|i| {
                        (
                            i as u32,
                            days[i],
                            "09:00".to_owned(),
                            utc_times[i].to_owned(),
                        )
                    })
                    .collect();
                assert_eq!(seen, expected, "{mode} from {start}");
            }
        }
    }

    #[test]
    fn count_3_ends_the_series_after_the_third_occurrence_in_both_modes() {
        for mode in ["due_date", "completion"] {
            let task = first(json!({"title": "x", "due_date": "2026-02-02T09:00:00Z",
                                    "recurrence_rule": "FREQ=DAILY;COUNT=3", "repeat_from": mode}));
            let seen = follow(task, 10, on_time);
            assert_eq!(
                seen,
                series(&[
                    (0, "2026-02-02 09:00"),
                    (1, "2026-02-03 09:00"),
                    (2, "2026-02-04 09:00")
                ]),
                "{mode}"
            );
        }
        // Late completions skip occurrences, but never past COUNT.
        let task = first(json!({"title": "x", "due_date": "2026-02-02T09:00:00Z",
                                "recurrence_rule": "FREQ=DAILY;COUNT=3"}));
        let at = utc("2026-02-03T12:00:00Z");
        assert_eq!(
            next(&completed(task.clone(), at), at)
                .unwrap()
                .occurrence_index,
            2
        );
        let at = utc("2026-02-04T12:00:00Z");
        assert_eq!(next(&completed(task, at), at), None);
    }

    #[test]
    fn until_ends_the_series_in_both_modes() {
        for mode in ["due_date", "completion"] {
            let task = first(json!({"title": "x", "due_date": "2026-02-02T09:00:00Z",
                                    "recurrence_rule": "FREQ=DAILY;UNTIL=20260203T090000Z",
                                    "repeat_from": mode}));
            let seen = follow(task, 10, on_time);
            assert_eq!(
                seen,
                series(&[(0, "2026-02-02 09:00"), (1, "2026-02-03 09:00")]),
                "{mode}"
            );
        }
    }

    #[test]
    fn an_overdue_completion_skips_the_missed_occurrences_when_repeating_from_the_due_date() {
        let task = first(
            json!({"title": "water plants", "due_date": "2026-01-10T09:00:00Z",
                                "recurrence_rule": "daily"}),
        );
        // Done three days late, after that day's 09:00: the 11th, 12th and 13th are skipped.
        let at = utc("2026-01-13T12:00:00Z");
        let request = next(&completed(task.clone(), at), at).unwrap();
        assert_eq!(request.task["due_date"], "2026-01-14T09:00:00Z");
        assert_eq!(request.occurrence_index, 4);
        assert_eq!(request.predecessor_occurrence_index, 0);
        assert_eq!(request.series_start, utc("2026-01-10T09:00:00Z"));
        // Done before the 13th's 09:00: the 13th is still ahead.
        let at = utc("2026-01-13T08:59:00Z");
        let request = next(&completed(task.clone(), at), at).unwrap();
        assert_eq!(request.task["due_date"], "2026-01-13T09:00:00Z");
        assert_eq!(request.occurrence_index, 3);
        // Exactly at an occurrence's instant: that one is not after the completion.
        let at = utc("2026-01-13T09:00:00Z");
        assert_eq!(next(&completed(task, at), at).unwrap().occurrence_index, 4);
    }

    #[test]
    fn an_overdue_completion_counts_from_the_completion_when_repeating_from_completion() {
        // The contract's example: every 3 days, due the 8th 09:00, done the 10th 18:00.
        let task = first(json!({"title": "x", "due_date": "2026-03-08T09:00:00Z",
                                "recurrence_rule": "every 3 days", "repeat_from": "completion"}));
        let at = utc("2026-03-10T18:00:00Z");
        let request = next(&completed(task.clone(), at), at).unwrap();
        assert_eq!(request.task["due_date"], "2026-03-13T09:00:00Z");
        assert_eq!(request.occurrence_index, 1);
        assert_eq!(request.series_start, utc("2026-03-13T09:00:00Z"));
        assert_eq!(request.task["repeat_from"], "completion");
        // The successor is its own anchor and keeps counting.
        let successor = create(&request);
        let at = utc("2026-03-20T07:00:00Z");
        let request = next(&completed(successor, at), at).unwrap();
        assert_eq!(request.task["due_date"], "2026-03-23T09:00:00Z");
        assert_eq!(request.occurrence_index, 2);
        assert_eq!(request.predecessor_occurrence_index, 1);
        assert_eq!(request.series_id, task.id);

        // An RRULE: the first rule instant after the completion's local date, at the due's time.
        let tokyo = Tz::known("Asia/Tokyo");
        let task = first(
            json!({"title": "x", "due_date": local(tokyo, "2026-03-02 09:00"),
                                "time_zone": "Asia/Tokyo", "recurrence_rule": "FREQ=WEEKLY;BYDAY=MO",
                                "repeat_from": "completion"}),
        );
        for (done, expected) in [
            ("2026-03-04 18:00", "2026-03-09 09:00"), // Wednesday: next Monday
            ("2026-03-09 07:00", "2026-03-16 09:00"), // Monday before 09:00: not the same day
            ("2026-03-09 23:30", "2026-03-16 09:00"), // Monday night (14:30Z): local date counts
        ] {
            let at = local(tokyo, done);
            let request = next(&completed(task.clone(), at), at).unwrap();
            let due = utc(request.task["due_date"].as_str().unwrap());
            assert_eq!(local_text(tokyo, due), expected, "done {done}");
        }
    }

    /// The examples of docs/contracts.md, "Next occurrence".
    #[test]
    fn the_contracts_examples_hold() {
        let due_of = |rule: &str, due: &str, mode: &str, done: &str| {
            let task = first(
                json!({"title": "x", "due_date": due, "recurrence_rule": rule,
                                    "repeat_from": mode}),
            );
            let at = utc(done);
            next(&completed(task, at), at).map(|r| {
                let due = r.task["due_date"].as_str().unwrap().to_owned();
                (due, r.occurrence_index)
            })
        };
        let some = |due: &str, index: u32| Some((due.to_owned(), index));
        let cases = [
            (
                "every 3 days",
                "2026-03-08T09:00:00Z",
                "2026-03-10T18:00:00Z",
                some("2026-03-11T09:00:00Z", 1),
                some("2026-03-13T09:00:00Z", 1),
            ),
            (
                "daily",
                "2026-03-10T09:00:00Z",
                "2026-03-13T12:00:00Z",
                some("2026-03-14T09:00:00Z", 4),
                some("2026-03-14T09:00:00Z", 1),
            ),
            (
                "FREQ=MONTHLY",
                "2026-01-31T09:00:00Z",
                "2026-01-30T09:00:00Z",
                some("2026-03-31T09:00:00Z", 1),
                some("2026-03-30T09:00:00Z", 1),
            ),
            (
                "FREQ=WEEKLY;BYDAY=MO",
                "2026-03-02T09:00:00Z",
                "2026-03-04T18:00:00Z",
                some("2026-03-09T09:00:00Z", 1),
                some("2026-03-09T09:00:00Z", 1),
            ),
            (
                "FREQ=WEEKLY;BYDAY=MO",
                "2026-03-02T09:00:00Z",
                "2026-03-09T07:00:00Z",
                some("2026-03-09T09:00:00Z", 1),
                some("2026-03-16T09:00:00Z", 1),
            ),
        ];
        for (rule, due, done, from_due, from_completion) in cases {
            assert_eq!(
                due_of(rule, due, "due_date", done),
                from_due,
                "{rule} {done}"
            );
            assert_eq!(
                due_of(rule, due, "completion", done),
                from_completion,
                "{rule} {done}"
            );
        }
    }

    #[test]
    fn completion_mode_keeps_a_due_time_that_falls_in_a_dst_gap_on_the_completion_date() {
        let berlin = Tz::known("Europe/Berlin");
        let task = first(
            json!({"title": "x", "due_date": local(berlin, "2026-03-20 02:30"),
                                "time_zone": "Europe/Berlin", "recurrence_rule": "daily",
                                "repeat_from": "completion"}),
        );
        // Done on 29 March, when 02:30 does not exist: the next is 30 March 02:30, not 03:30.
        let at = local(berlin, "2026-03-29 12:00");
        let request = next(&completed(task.clone(), at), at).unwrap();
        let due = utc(request.task["due_date"].as_str().unwrap());
        assert_eq!(local_text(berlin, due), "2026-03-30 02:30");
        // Done on 28 March: the next falls in the gap and is shifted forward by it.
        let at = local(berlin, "2026-03-28 12:00");
        let request = next(&completed(task, at), at).unwrap();
        let due = utc(request.task["due_date"].as_str().unwrap());
        assert_eq!(local_text(berlin, due), "2026-03-29 03:30");
    }

    #[test]
    fn a_redelivered_event_computes_the_same_request_and_a_second_completion_the_same_successor() {
        let task = first(json!({"title": "x", "due_date": "2026-01-10T09:00:00Z",
                                "recurrence_rule": "FREQ=WEEKLY;BYDAY=MO,WE,FR"}));
        let at = utc("2026-01-09T10:00:00Z");
        let snapshot = completed(task.clone(), at);
        let request = next(&snapshot, at).unwrap();
        assert_eq!(next(&snapshot, at), Some(request.clone()));
        // Complete → reopen → complete, much later: another request (more occurrences were
        // missed), but the same successor id, so chat-api answers the task made the first time.
        let later = utc("2026-02-20T10:00:00Z");
        let again = next(&completed(task, later), later).unwrap();
        assert_ne!(again.occurrence_index, request.occurrence_index);
        assert_eq!(again.successor_id(), request.successor_id());
    }

    #[test]
    fn the_reminder_is_copied_as_an_offset_or_shifted_with_the_due_date() {
        let task = first(json!({"title": "x", "due_date": "2026-01-10T09:00:00Z",
                                "recurrence_rule": "daily", "reminder_offset_minutes": 30}));
        let at = utc("2026-01-12T10:00:00Z");
        let request = next(&completed(task, at), at).unwrap();
        assert_eq!(request.task["reminder_offset_minutes"], 30);
        assert!(request.task.get("remind_at").is_none());
        assert_eq!(
            create(&request).remind_at,
            Some(utc("2026-01-13T08:30:00Z"))
        );

        for mode in ["due_date", "completion"] {
            let task = first(json!({"title": "x", "due_date": "2026-01-10T09:00:00Z",
                                    "recurrence_rule": "weekly", "remind_at": "2026-01-09T18:00:00Z",
                                    "repeat_from": mode}));
            let at = utc("2026-01-20T10:00:00Z");
            let request = next(&completed(task, at), at).unwrap();
            let expected = match mode {
                // Due the 24th (the 17th was missed): 15 hours before it, like the first.
                "due_date" => ("2026-01-24T09:00:00Z", "2026-01-23T18:00:00Z"),
                _ => ("2026-01-27T09:00:00Z", "2026-01-26T18:00:00Z"),
            };
            assert_eq!(request.task["due_date"], expected.0, "{mode}");
            assert_eq!(request.task["remind_at"], expected.1, "{mode}");
            assert!(request.task.get("reminder_offset_minutes").is_none());
            assert_eq!(create(&request).remind_at, Some(utc(expected.1)));
        }
    }

    #[test]
    fn the_successor_copies_the_writable_fields_in_the_shape_of_a_create() {
        let task = first(
            json!({"title": "Pay rent", "description": "landlord", "priority": "high",
                                "tags": ["home", "money"], "due_date": "2026-01-31T08:00:00Z",
                                "time_zone": "Europe/Berlin", "recurrence_rule": "Monthly",
                                "reminder_offset_minutes": 60}),
        );
        let at = utc("2026-01-31T07:00:00Z");
        let request = next(&completed(task, at), at).unwrap();
        assert_eq!(
            request.task,
            json!({"title": "Pay rent", "description": "landlord", "priority": "high",
                   "tags": ["home", "money"], "due_date": "2026-02-28T08:00:00Z",
                   "time_zone": "Europe/Berlin", "reminder_offset_minutes": 60,
                   "recurrence_rule": "monthly", "repeat_from": "due_date"})
        );
        let successor = create(&request);
        assert_eq!(successor.title.as_str(), "Pay rent");
        assert_eq!(successor.occurrence_index, 1);
        assert_eq!(successor.predecessor_id, Some(request.predecessor_id));
        // Sent as JSON and read back by chat-api unchanged.
        let wire = serde_json::to_value(&request).unwrap();
        assert_eq!(
            serde_json::from_value::<OccurrenceRequest>(wire).unwrap(),
            request
        );
    }

    #[test]
    fn nothing_follows_a_task_that_is_not_recurring_or_has_no_due_date() {
        let at = utc("2026-01-31T07:00:00Z");
        let plain = first(json!({"title": "x", "due_date": "2026-01-31T08:00:00Z"}));
        assert_eq!(next(&completed(plain, at), at), None);
        let mut undated = first(json!({"title": "x", "due_date": "2026-01-31T08:00:00Z",
                                       "recurrence_rule": "daily"}));
        undated.due_date = None;
        assert_eq!(next(&completed(undated, at), at), None);
    }

    #[test]
    fn old_snapshots_without_a_series_start_count_from_their_due_date() {
        let mut task = first(json!({"title": "x", "due_date": "2026-03-31T09:00:00Z",
                                    "recurrence_rule": "monthly"}));
        task.series_start = None;
        let at = utc("2026-03-30T09:00:00Z");
        // Occurrence 0: the due date is the series start.
        let request = next(&completed(task.clone(), at), at).unwrap();
        assert_eq!(request.series_start, utc("2026-03-31T09:00:00Z"));
        assert_eq!(request.task["due_date"], "2026-04-30T09:00:00Z");
        // Occurrence 2 of an older series: indexes count on from the due date, and the
        // successor is its own anchor.
        task.occurrence_index = 2;
        let request = next(&completed(task, at), at).unwrap();
        assert_eq!(request.occurrence_index, 3);
        assert_eq!(request.predecessor_occurrence_index, 2);
        assert_eq!(request.task["due_date"], "2026-04-30T09:00:00Z");
        assert_eq!(request.series_start, utc("2026-04-30T09:00:00Z"));
        let successor = create(&request);
        let at = utc("2026-04-29T09:00:00Z");
        let request = next(&completed(successor, at), at).unwrap();
        assert_eq!(request.occurrence_index, 4);
        assert_eq!(request.task["due_date"], "2026-05-30T09:00:00Z");
    }

    #[test]
    fn skipping_many_missed_rrule_occurrences_agrees_with_counting_them_one_by_one() {
        let rule = RecurrenceRule::parse("FREQ=WEEKLY;BYDAY=MO,WE,FR").unwrap();
        let start = utc("2026-01-05T09:00:00Z");
        let tz = Tz::known("America/New_York");
        for (base, completed_at) in [
            (0, "2026-01-05T10:00:00Z"),
            (0, "2026-07-04T00:00:00Z"),
            (5, "2027-02-01T13:59:59Z"),
            (40, "2026-01-01T00:00:00Z"),
        ] {
            let completed_at = utc(completed_at);
            let linear = (base + 1..)
                .find(|r| rule.occurrence(start, tz, *r).unwrap() > completed_at)
                .unwrap();
            let (found, instant) =
                first_occurrence_after(&rule, tz, start, base, completed_at).unwrap();
            assert_eq!(found, linear, "base {base}, completed {completed_at}");
            assert_eq!(Some(instant), rule.occurrence(start, tz, linear));
        }
        // A series that ends before the completion has nothing after it.
        let ending = RecurrenceRule::parse("FREQ=DAILY;COUNT=5").unwrap();
        let completed_at = utc("2027-01-01T00:00:00Z");
        assert_eq!(
            first_occurrence_after(&ending, tz, start, 0, completed_at),
            None
        );
        assert_eq!(
            first_occurrence_after(&ending, tz, start, MAX_OCCURRENCE_INDEX + 1, completed_at),
            None
        );
    }
}
