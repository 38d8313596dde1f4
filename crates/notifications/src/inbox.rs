//! A user's inbox: one document per user holding their newest entries, newest first; the
//! `GET /notifications/inbox` query (`limit`, `cursor`) and its keyset pages. Pure: no I/O.
//!
//! Order is (`remind_at`, `id`) descending: when the reminder was due, not when it happened to be
//! delivered, so a late delivery lands in its place and every reader sees one order. The cursor
//! names the last entry returned; the next page starts strictly after it, so entries added
//! between pages neither repeat nor shift the others.
use crate::reminder::{Reminder, ReminderId};
use chrono::{DateTime, Utc};
use component_kit::state::escape_key_part;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use todo_domain::FieldError;
use todo_domain::query::{decode_cursor, encode_cursor};
use uuid::Uuid;

pub const INBOX_SCHEMA_VERSION: u32 = 1;
/// Entries kept per user; beyond it the oldest (by `remind_at`) are dropped, which bounds the
/// document (about 250 bytes an entry) and every write's cost.
pub const MAX_ENTRIES: usize = 500;
pub const DEFAULT_LIMIT: usize = 20;
pub const MAX_LIMIT: usize = 100;

const PARAMETERS: &str = "limit, cursor";

/// The state key of `user`'s inbox: `inbox:{U}`, `U` escaped, the braces literal (as
/// audit-service's keys: a Redis Cluster hash tag for the user's keys).
pub fn inbox_key(user: &str) -> String {
    format!("inbox:{{{}}}", escape_key_part(user))
}

/// One delivered reminder in its owner's inbox (an item of
/// `notification-inbox-response.schema.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxEntry {
    /// The `reminder_id` (`<task_id>:<version>`).
    pub id: String,
    pub task_id: Uuid,
    pub task_title: String,
    pub due_date: DateTime<Utc>,
    pub remind_at: DateTime<Utc>,
    /// When notification-service first stored it.
    pub delivered_at: DateTime<Utc>,
    pub read_at: Option<DateTime<Utc>>,
}

impl InboxEntry {
    pub fn new(reminder: &Reminder, delivered_at: DateTime<Utc>) -> Self {
        InboxEntry {
            id: reminder.reminder_id.to_string(),
            task_id: reminder.task_id,
            task_title: reminder.task_title.clone(),
            due_date: reminder.due_date,
            remind_at: reminder.remind_at,
            delivered_at,
            read_at: None,
        }
    }

    fn position(&self) -> Position {
        Position {
            remind_at: self.remind_at,
            id: self.id.clone(),
        }
    }
}

/// Where an entry sorts; compared as a tuple, so the newest is the greatest.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Position {
    remind_at: DateTime<Utc>,
    id: String,
}

/// The stored inbox document (docs/contracts.md "Stored documents"; its entries are the
/// response's items).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxDoc {
    pub schema_version: u32,
    /// Newest first by (`remind_at`, `id`); ids unique.
    pub entries: Vec<InboxEntry>,
}

impl Default for InboxDoc {
    fn default() -> Self {
        InboxDoc {
            schema_version: INBOX_SCHEMA_VERSION,
            entries: Vec::new(),
        }
    }
}

/// What [`InboxDoc::insert`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    Added,
    /// An entry with this id is there already (a redelivery): nothing changed.
    AlreadyThere,
    /// Older than every entry of a full inbox: it would be dropped at once.
    TooOld,
}

impl InboxDoc {
    /// Add `entry` in its place, once per id; keep at most [`MAX_ENTRIES`], dropping the oldest.
    pub fn insert(&mut self, entry: InboxEntry) -> Inserted {
        if self.entries.iter().any(|e| e.id == entry.id) {
            return Inserted::AlreadyThere;
        }
        let position = entry.position();
        let at = self
            .entries
            .partition_point(|existing| existing.position() > position);
        if at >= MAX_ENTRIES {
            return Inserted::TooOld;
        }
        self.entries.insert(at, entry);
        self.entries.truncate(MAX_ENTRIES);
        Inserted::Added
    }

    /// Mark entry `id` read at `now` (the first time only). `None`: no such entry; the bool says
    /// whether the document changed.
    pub fn mark_read(&mut self, id: &str, now: DateTime<Utc>) -> Option<(InboxEntry, bool)> {
        let entry = self.entries.iter_mut().find(|e| e.id == id)?;
        let changed = entry.read_at.is_none();
        if changed {
            entry.read_at = Some(now);
        }
        Some((entry.clone(), changed))
    }

    pub fn unread_count(&self) -> usize {
        self.entries.iter().filter(|e| e.read_at.is_none()).count()
    }
}

/// The query of `GET /notifications/inbox`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxQuery {
    pub limit: usize,
    /// From the cursor: only entries strictly older than this.
    pub after: Option<Position>,
}

/// One page (`notification-inbox-response.schema.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxPage {
    pub items: Vec<InboxEntry>,
    pub next_cursor: Option<String>,
    /// Unread entries in the whole inbox (not only this page).
    pub unread_count: usize,
}

impl InboxQuery {
    /// Parse decoded query-string pairs; unknown and repeated parameters are refused.
    pub fn parse<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, FieldError> {
        let mut query = InboxQuery {
            limit: DEFAULT_LIMIT,
            after: None,
        };
        let mut seen = HashSet::new();
        for (name, value) in pairs {
            if !seen.insert(name) {
                return Err(FieldError::new(name, "is given more than once"));
            }
            match name {
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
                "cursor" => {
                    let position: Position = decode_cursor(value)?;
                    if ReminderId::parse(&position.id).is_none() {
                        return Err(FieldError::new(
                            "cursor",
                            "is not a cursor returned by this API",
                        ));
                    }
                    query.after = Some(position)
                }
                other => {
                    return Err(FieldError::new(
                        other,
                        format!("unknown query parameter; supported: {PARAMETERS}"),
                    ));
                }
            }
        }
        Ok(query)
    }

    /// The page of `doc` this query selects.
    pub fn page(&self, doc: &InboxDoc) -> InboxPage {
        let start = match &self.after {
            Some(after) => doc.entries.partition_point(|e| e.position() >= *after),
            None => 0,
        };
        let rest = &doc.entries[start..];
        let items: Vec<InboxEntry> = rest.iter().take(self.limit).cloned().collect();
        let next_cursor = match items.last() {
            Some(last) if rest.len() > items.len() => Some(encode_cursor(&last.position())),
            _ => None,
        };
        InboxPage {
            items,
            next_cursor,
            unread_count: doc.unread_count(),
        }
    }
}
