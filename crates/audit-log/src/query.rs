//! `GET /audit/log`: parsing the query string, the time window it selects, filtering, ordering
//! (newest first) and keyset pagination with an opaque cursor.
//!
//! The cursor names the last entry returned (its `time` and `event_id`) and a fingerprint of the
//! filters, so the next page starts strictly after that entry: entries stored between pages
//! neither repeat nor shift the ones that stay.
use crate::entry::{Entry, Position};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use todo_domain::fields::parse_instant;
use todo_domain::query::{decode_cursor, encode_cursor};
use todo_domain::{FieldError, TaskEventType};
use uuid::Uuid;

pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 1000;

const PARAMETERS: &str = "user_id, task_id, event_type, from, to, limit, cursor";

#[derive(Debug, Clone, PartialEq)]
pub struct AuditQuery {
    /// Whose log the caller asks for; only their own is ever shown.
    pub user_id: Option<String>,
    pub task_id: Option<Uuid>,
    pub event_type: Option<TaskEventType>,
    /// Inclusive.
    pub from: Option<DateTime<Utc>>,
    /// Exclusive.
    pub to: Option<DateTime<Utc>>,
    pub limit: usize,
    /// From the cursor: only entries strictly before (older than) this.
    pub after: Option<Position>,
}

/// One page of the log (`audit-log-response.schema.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditPage {
    pub items: Vec<Entry>,
    pub next_cursor: Option<String>,
}

impl AuditPage {
    pub fn empty() -> Self {
        AuditPage {
            items: Vec::new(),
            next_cursor: None,
        }
    }
}

/// The span of `time` a query can return, retention included: which buckets to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Inclusive lower bound (`from`, or the retention cutoff if later).
    pub from: Option<DateTime<Utc>>,
    /// Exclusive upper bound (`to`).
    pub to: Option<DateTime<Utc>>,
    /// Inclusive upper bound (the cursor's time: entries at that instant may still follow).
    pub at_most: Option<DateTime<Utc>>,
}

impl Window {
    /// Whether a bucket covering `[start, end)` may hold entries of the window.
    pub fn overlaps(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> bool {
        self.from.is_none_or(|from| end > from)
            && self.to.is_none_or(|to| start < to)
            && self.at_most.is_none_or(|at_most| start <= at_most)
    }

    /// Whether no instant is in the window.
    pub fn is_empty(&self) -> bool {
        match self.from {
            Some(from) => {
                self.to.is_some_and(|to| to <= from) || self.at_most.is_some_and(|a| a < from)
            }
            None => false,
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Cursor {
    #[serde(flatten)]
    position: Position,
    /// Fingerprint of the filters the cursor belongs to.
    q: String,
}

impl AuditQuery {
    /// Parse decoded query-string pairs. Unknown and repeated parameters are refused, so a typo
    /// never silently widens the result.
    pub fn parse<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, FieldError> {
        let mut query = AuditQuery {
            user_id: None,
            task_id: None,
            event_type: None,
            from: None,
            to: None,
            limit: DEFAULT_LIMIT,
            after: None,
        };
        let mut seen = HashSet::new();
        let mut cursor = None;
        for (name, value) in pairs {
            if !seen.insert(name) {
                return Err(FieldError::new(name, "is given more than once"));
            }
            match name {
                "user_id" => query.user_id = Some(value.to_owned()),
                "task_id" => {
                    query.task_id = Some(
                        Uuid::parse_str(value)
                            .map_err(|_| FieldError::new("task_id", "must be a task id (UUID)"))?,
                    )
                }
                "event_type" => {
                    query.event_type = Some(TaskEventType::parse(value).ok_or_else(|| {
                        FieldError::new(
                            "event_type",
                            format!(
                                "unknown event type {value:?}; expected task.created, task.updated, task.completed, task.reopened or task.deleted"
                            ),
                        )
                    })?)
                }
                "from" => query.from = Some(parse_instant(value, "from")?),
                "to" => query.to = Some(parse_instant(value, "to")?),
                "limit" => {
                    query.limit = value
                        .parse::<usize>()
                        .ok()
                        .filter(|n| (1..=MAX_LIMIT).contains(n))
                        .ok_or_else(|| {
                            FieldError::new(
                                "limit",
                                format!("must be a whole number from 1 to {MAX_LIMIT}"),
                            )
                        })?
                }
                "cursor" => cursor = Some(value),
                other => {
                    return Err(FieldError::new(
                        other,
                        format!("unknown query parameter; supported: {PARAMETERS}"),
                    ));
                }
            }
        }
        if let (Some(from), Some(to)) = (query.from, query.to)
            && to <= from
        {
            return Err(FieldError::new("to", "must be later than from"));
        }
        if let Some(cursor) = cursor {
            let cursor: Cursor = decode_cursor(cursor)?;
            if cursor.q != query.fingerprint() {
                return Err(FieldError::new(
                    "cursor",
                    "this cursor belongs to a different query; repeat the original filters",
                ));
            }
            query.after = Some(cursor.position);
        }
        Ok(query)
    }

    /// Whether the query names another user than the caller (the answer is then an empty page).
    pub fn is_for_other_user(&self, caller: &str) -> bool {
        self.user_id.as_deref().is_some_and(|user| user != caller)
    }

    /// The span of `time` to read, given the retention cutoff (`None`: keep forever).
    pub fn window(&self, cutoff: Option<DateTime<Utc>>) -> Window {
        let from = match (self.from, cutoff) {
            (Some(from), Some(cutoff)) => Some(from.max(cutoff)),
            (from, cutoff) => from.or(cutoff),
        };
        Window {
            from,
            to: self.to,
            at_most: self.after.map(|p| p.time),
        }
    }

    /// Does `entry` pass every filter, the cursor and the retention `cutoff`?
    pub fn matches(&self, entry: &Entry, cutoff: Option<DateTime<Utc>>) -> bool {
        self.event_type.is_none_or(|t| entry.event_type == t)
            && self.task_id.is_none_or(|id| entry.task_id == id)
            && self.from.is_none_or(|from| entry.time >= from)
            && self.to.is_none_or(|to| entry.time < to)
            && cutoff.is_none_or(|cutoff| entry.time >= cutoff)
            && self.after.is_none_or(|after| entry.position() < after)
    }

    /// The page out of `candidates` (entries that [`AuditQuery::matches`], in any order, possibly
    /// repeated): newest first by (`time`, `event_id`), at most `limit`, with a cursor when
    /// `candidates` holds more.
    pub fn page(&self, candidates: impl IntoIterator<Item = Entry>) -> AuditPage {
        let mut seen = HashSet::new();
        let mut items: Vec<Entry> = candidates
            .into_iter()
            .filter(|entry| seen.insert(entry.event_id))
            .collect();
        let wanted = self.limit + 1;
        if items.len() > wanted {
            items.select_nth_unstable_by(wanted - 1, |a, b| b.position().cmp(&a.position()));
            items.truncate(wanted);
        }
        items.sort_unstable_by_key(|entry| std::cmp::Reverse(entry.position()));
        let has_more = items.len() > self.limit;
        items.truncate(self.limit);
        let next_cursor = match (has_more, items.last()) {
            (true, Some(last)) => Some(encode_cursor(&Cursor {
                position: last.position(),
                q: self.fingerprint(),
            })),
            _ => None,
        };
        AuditPage { items, next_cursor }
    }

    /// Identifies the filters, so that a cursor cannot be replayed against another query
    /// (FNV-1a: a check against mistakes, not a secret).
    fn fingerprint(&self) -> String {
        let text = format!(
            "{:?}|{:?}|{:?}|{:?}",
            self.task_id, self.event_type, self.from, self.to
        );
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in text.bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        format!("{hash:016x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::tests::{entry, t};
    use TaskEventType::{Completed, Created, Updated};

    fn q(query: &str) -> Result<AuditQuery, FieldError> {
        let pairs: Vec<(String, String)> = query
            .split('&')
            .filter(|s| !s.is_empty())
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                (k.to_owned(), v.replace("%2B", "+"))
            })
            .collect();
        AuditQuery::parse(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    }

    fn field(query: &str) -> String {
        q(query).unwrap_err().field.unwrap()
    }

    /// Ten entries of task 1 and 2, one a minute from 08:00, ids 1–10.
    fn sample() -> Vec<Entry> {
        (1..=10)
            .map(|n| {
                let kind = [Created, Updated, Completed][n as usize % 3];
                let time = format!("2026-03-01T08:{:02}:00Z", n);
                entry(n, kind, "alice", 1 + n % 2, &time)
            })
            .collect()
    }

    fn ids(page: &AuditPage) -> Vec<u128> {
        page.items.iter().map(|e| e.event_id.as_u128()).collect()
    }

    fn run(query: &AuditQuery, entries: &[Entry]) -> AuditPage {
        query.page(entries.iter().filter(|e| query.matches(e, None)).cloned())
    }

    #[test]
    fn every_parameter_parses_and_defaults_hold() {
        let query = q("").unwrap();
        assert_eq!(query.limit, DEFAULT_LIMIT);
        assert_eq!(
            query.window(None),
            Window {
                from: None,
                to: None,
                at_most: None
            }
        );
        let query = q("user_id=alice&task_id=00000000-0000-0000-0000-000000000007&event_type=task.completed&from=2026-03-01T09:00:00%2B01:00&to=2026-03-02T00:00:00Z&limit=1000").unwrap();
        assert_eq!(query.user_id.as_deref(), Some("alice"));
        assert_eq!(query.task_id, Some(Uuid::from_u128(7)));
        assert_eq!(query.event_type, Some(Completed));
        assert_eq!(query.from, Some(t("2026-03-01T08:00:00Z")));
        assert_eq!(query.to, Some(t("2026-03-02T00:00:00Z")));
        assert_eq!(query.limit, 1000);
        assert!(query.is_for_other_user("bob"));
        assert!(!query.is_for_other_user("alice"));
        assert!(!q("").unwrap().is_for_other_user("bob"));
    }

    #[test]
    fn invalid_parameters_are_named() {
        for (query, name) in [
            ("task_id=7", "task_id"),
            ("event_type=reminder.triggered", "event_type"),
            ("event_type=", "event_type"),
            ("from=yesterday", "from"),
            ("to=2026-03-01T08:00:00", "to"),
            ("from=2026-03-02T00:00:00Z&to=2026-03-01T00:00:00Z", "to"),
            ("from=2026-03-01T00:00:00Z&to=2026-03-01T00:00:00Z", "to"),
            ("limit=0", "limit"),
            ("limit=1001", "limit"),
            ("limit=ten", "limit"),
            ("cursor=nope", "cursor"),
            ("cursor=", "cursor"),
            ("limit=5&limit=6", "limit"),
            ("sort=time", "sort"),
        ] {
            assert_eq!(field(query), name, "{query}");
        }
    }

    #[test]
    fn pages_are_newest_first_and_the_cursor_walks_them_all() {
        let entries = sample();
        let mut query = q("limit=4").unwrap();
        let mut seen = Vec::new();
        loop {
            let page = run(&query, &entries);
            assert!(page.items.len() <= 4);
            seen.extend(ids(&page));
            let Some(cursor) = page.next_cursor else {
                break;
            };
            query = q(&format!("limit=4&cursor={cursor}")).unwrap();
        }
        assert_eq!(seen, (1..=10).rev().collect::<Vec<_>>());
        // Exactly `limit` left: no cursor.
        assert_eq!(run(&q("limit=10").unwrap(), &entries).next_cursor, None);
        assert!(run(&q("limit=9").unwrap(), &entries).next_cursor.is_some());
    }

    #[test]
    fn ties_on_time_break_on_event_id_and_repeats_collapse() {
        let same = "2026-03-01T08:00:00Z";
        let entries: Vec<Entry> = [3, 1, 2, 2]
            .map(|id| entry(id, Created, "alice", 1, same))
            .into();
        let first = run(&q("limit=2").unwrap(), &entries);
        assert_eq!(ids(&first), [3, 2]);
        let cursor = first.next_cursor.unwrap();
        let rest = run(&q(&format!("limit=2&cursor={cursor}")).unwrap(), &entries);
        assert_eq!(ids(&rest), [1]);
        assert_eq!(rest.next_cursor, None);
    }

    #[test]
    fn a_cursor_is_stable_under_inserts() {
        let mut entries = sample();
        let first = run(&q("limit=3").unwrap(), &entries);
        assert_eq!(ids(&first), [10, 9, 8]);
        // Newer events and a late, older one arrive between pages.
        entries.push(entry(11, Created, "alice", 1, "2026-03-01T09:00:00Z"));
        entries.push(entry(12, Created, "alice", 1, "2026-03-01T08:05:30Z"));
        let cursor = first.next_cursor.unwrap();
        let second = run(&q(&format!("limit=3&cursor={cursor}")).unwrap(), &entries);
        assert_eq!(ids(&second), [7, 6, 12]);
    }

    #[test]
    fn filters_combine_and_bound_time_half_open() {
        let entries = sample();
        let page = run(&q("event_type=task.completed").unwrap(), &entries);
        assert_eq!(ids(&page), [8, 5, 2]);
        let page = run(
            &q("task_id=00000000-0000-0000-0000-000000000002").unwrap(),
            &entries,
        );
        assert_eq!(ids(&page), [9, 7, 5, 3, 1]);
        // from ≤ time < to
        let page = run(
            &q("from=2026-03-01T08:03:00Z&to=2026-03-01T08:06:00Z").unwrap(),
            &entries,
        );
        assert_eq!(ids(&page), [5, 4, 3]);
    }

    #[test]
    fn a_cursor_belongs_to_its_filters() {
        let entries = sample();
        let page = run(&q("limit=2&event_type=task.updated").unwrap(), &entries);
        let cursor = page.next_cursor.unwrap();
        assert!(q(&format!("event_type=task.updated&cursor={cursor}")).is_ok());
        assert_eq!(field(&format!("cursor={cursor}")), "cursor");
        assert_eq!(
            field(&format!("event_type=task.created&cursor={cursor}")),
            "cursor"
        );
    }

    #[test]
    fn retention_hides_old_entries_and_narrows_the_window() {
        let entries = sample();
        let query = q("from=2026-03-01T08:02:00Z").unwrap();
        let cutoff = Some(t("2026-03-01T08:08:00Z"));
        let page = query.page(entries.iter().filter(|e| query.matches(e, cutoff)).cloned());
        assert_eq!(ids(&page), [10, 9, 8]);
        assert_eq!(query.window(cutoff).from, cutoff);
        assert_eq!(
            query.window(Some(t("2026-03-01T08:00:00Z"))).from,
            query.from
        );
    }

    #[test]
    fn windows_select_the_buckets_to_read() {
        let hour = |h: u32| {
            (
                t(&format!("2026-03-01T{h:02}:00:00Z")),
                t(&format!("2026-03-01T{:02}:00:00Z", h + 1)),
            )
        };
        let window = Window {
            from: Some(t("2026-03-01T08:30:00Z")),
            to: Some(t("2026-03-01T11:00:00Z")),
            at_most: Some(t("2026-03-01T10:00:00Z")),
        };
        let selected: Vec<u32> = (6..13)
            .filter(|h| {
                let (start, end) = hour(*h);
                window.overlaps(start, end)
            })
            .collect();
        assert_eq!(selected, [8, 9, 10]);
        assert!(!window.is_empty());
        let empty = Window {
            from: Some(t("2026-03-01T08:30:00Z")),
            to: None,
            at_most: Some(t("2026-03-01T08:00:00Z")),
        };
        assert!(empty.is_empty());
    }
}
