//! `GET /api/tasks`: parsing the query string, filtering, sorting and keyset pagination.
//!
//! The cursor names the last item returned (its sort key and id) and a fingerprint of the query,
//! so the next page starts strictly after that item: inserts and deletes between pages neither
//! repeat nor skip the items that stay.
use crate::base64url;
use crate::error::FieldError;
use crate::fields::{Priority, Status, Tags, parse_instant};
use crate::task::Task;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::cmp::Ordering;
use uuid::Uuid;

pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 500;
/// `search` is at most this many characters (the document's `maxLength`).
pub const SEARCH_MAX_CHARS: usize = 255;

/// The parameters of `GET /api/tasks`, as `api/openapi.json` lists them.
pub const KNOWN_PARAMETERS: [&str; 13] = [
    "search",
    "status",
    "priority",
    "tags",
    "due_before",
    "due_after",
    "overdue",
    "has_due_date",
    "is_recurring",
    "sort",
    "order",
    "limit",
    "cursor",
];
const SUPPORTED_PARAMETERS: &str = "search, status, priority, tags, due_before, due_after, \
overdue, has_due_date, is_recurring, sort, order, limit, cursor";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    All,
    Active,
    Only(Status),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortField {
    CreatedAt,
    UpdatedAt,
    DueDate,
    Priority,
    Title,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ListQuery {
    pub search: Option<String>,
    pub status: StatusFilter,
    pub priorities: Vec<Priority>,
    pub tags: Tags,
    pub due_before: Option<DateTime<Utc>>,
    pub due_after: Option<DateTime<Utc>>,
    pub overdue: Option<bool>,
    pub has_due_date: Option<bool>,
    pub is_recurring: Option<bool>,
    pub sort: SortField,
    pub descending: bool,
    pub limit: usize,
    after: Option<CursorPosition>,
    /// The moment `overdue` is judged against.
    now: DateTime<Utc>,
}

/// One page of results.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Page {
    pub items: Vec<Task>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct CursorPosition {
    /// The sort key of the last item returned.
    k: SortKey,
    /// Its id, the tie breaker.
    id: Uuid,
    /// Fingerprint of the query the cursor belongs to.
    q: String,
}

/// A comparable sort key; `None` (no due date) always sorts last.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
enum SortKey {
    Time(Option<i64>),
    Rank(u8),
    Text(String),
}

impl ListQuery {
    /// Parse decoded query-string pairs. Each value must be exactly what `api/openapi.json`
    /// documents for its parameter; unknown parameters are rejected so that typos do not silently
    /// return everything, and so are an empty value (`status=`; leave a parameter out to get its
    /// default) and a parameter given twice. A pair without a name (`?=x`) is refused without a
    /// `field`, having none to name.
    pub fn parse<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
        now: DateTime<Utc>,
    ) -> Result<Self, FieldError> {
        let mut query = ListQuery {
            search: None,
            status: StatusFilter::All,
            priorities: Vec::new(),
            tags: Tags::default(),
            due_before: None,
            due_after: None,
            overdue: None,
            has_due_date: None,
            is_recurring: None,
            sort: SortField::CreatedAt,
            descending: true,
            limit: DEFAULT_LIMIT,
            after: None,
            now,
        };
        let mut order = None;
        let mut cursor = None;
        // Bit i: KNOWN_PARAMETERS[i] was given.
        let mut given = 0u32;
        for (name, value) in pairs {
            if name.is_empty() {
                return Err(FieldError::general(
                    "a query parameter has no name (`=value`); supported: ".to_owned()
                        + SUPPORTED_PARAMETERS,
                ));
            }
            if let Some(known) = KNOWN_PARAMETERS.iter().position(|k| *k == name) {
                if value.is_empty() {
                    return Err(FieldError::new(
                        name,
                        "must not be empty; leave the parameter out for its default",
                    ));
                }
                // One value per parameter, as audit-service reads its own: which of two would
                // count is nowhere written (a list is one comma-separated value).
                if given & (1 << known) != 0 {
                    return Err(FieldError::new(name, "is given more than once"));
                }
                given |= 1 << known;
            }
            match name {
                "search" => {
                    let chars = value.chars().count();
                    if chars > SEARCH_MAX_CHARS {
                        return Err(FieldError::new(
                            "search",
                            format!("must be at most {SEARCH_MAX_CHARS} characters (got {chars})"),
                        ));
                    }
                    let term = value.trim().to_lowercase();
                    query.search = (!term.is_empty()).then_some(term);
                }
                "status" => {
                    query.status = match value {
                        "all" => StatusFilter::All,
                        "active" => StatusFilter::Active,
                        other => StatusFilter::Only(Status::parse(other, "status").map_err(|_| {
                            FieldError::new(
                                "status",
                                format!("unknown status {other:?}; expected all, active, completed, pending or in_progress"),
                            )
                        })?),
                    }
                }
                "priority" => {
                    for item in value.split(',') {
                        query.priorities.push(Priority::parse(item, "priority")?);
                    }
                }
                "tags" => query.tags = Tags::parse(value.split(','))?,
                "due_before" => query.due_before = Some(parse_instant(value, "due_before")?),
                "due_after" => query.due_after = Some(parse_instant(value, "due_after")?),
                "overdue" => query.overdue = Some(parse_bool(value, "overdue")?),
                "has_due_date" => query.has_due_date = Some(parse_bool(value, "has_due_date")?),
                "is_recurring" => query.is_recurring = Some(parse_bool(value, "is_recurring")?),
                "sort" => {
                    query.sort = match value {
                        "created_at" => SortField::CreatedAt,
                        "updated_at" => SortField::UpdatedAt,
                        "due_date" => SortField::DueDate,
                        "priority" => SortField::Priority,
                        "title" => SortField::Title,
                        other => {
                            return Err(FieldError::new(
                                "sort",
                                format!("unknown sort {other:?}; expected created_at, updated_at, due_date, priority or title"),
                            ));
                        }
                    }
                }
                "order" => {
                    order = Some(match value {
                        "asc" => false,
                        "desc" => true,
                        other => {
                            return Err(FieldError::new(
                                "order",
                                format!("unknown order {other:?}; expected asc or desc"),
                            ));
                        }
                    })
                }
                "limit" => {
                    query.limit = Some(value)
                        .filter(|v| v.bytes().all(|b| b.is_ascii_digit()))
                        .and_then(|v| v.parse::<usize>().ok())
                        .filter(|n| (1..=MAX_LIMIT).contains(n))
                        .ok_or_else(|| {
                            FieldError::new("limit", format!("must be a whole number from 1 to {MAX_LIMIT}"))
                        })?
                }
                "cursor" => cursor = Some(value.to_owned()),
                other => {
                    return Err(FieldError::new(
                        other,
                        "unknown query parameter; supported: ".to_owned() + SUPPORTED_PARAMETERS,
                    ));
                }
            }
        }
        // Titles and due dates read naturally ascending; times and priority newest/highest first.
        query.descending =
            order.unwrap_or(!matches!(query.sort, SortField::Title | SortField::DueDate));
        if let Some(cursor) = cursor {
            let position: CursorPosition = decode_cursor(&cursor)?;
            if position.q != query.fingerprint() {
                return Err(FieldError::new(
                    "cursor",
                    "this cursor belongs to a different query; repeat the original filters and sort",
                ));
            }
            // The key is untagged in the cursor, and a priority's rank reads back as a time:
            // restore the kind this query's sort compares.
            let k = position
                .k
                .into_kind(query.sort)
                .ok_or_else(|| FieldError::new("cursor", "is not a cursor returned by this API"))?;
            query.after = Some(CursorPosition { k, ..position });
        }
        Ok(query)
    }

    /// Does `task` pass every filter?
    pub fn matches(&self, task: &Task) -> bool {
        let status_ok = match self.status {
            StatusFilter::All => true,
            StatusFilter::Active => !task.is_completed(),
            StatusFilter::Only(status) => task.status == status,
        };
        let overdue = task.due_date.is_some_and(|due| due < self.now) && !task.is_completed();
        status_ok
            && (self.priorities.is_empty() || self.priorities.contains(&task.priority))
            && task.tags.contains_all(&self.tags)
            && self
                .due_before
                .is_none_or(|t| task.due_date.is_some_and(|due| due < t))
            && self
                .due_after
                .is_none_or(|t| task.due_date.is_some_and(|due| due > t))
            && self.overdue.is_none_or(|wanted| wanted == overdue)
            && self
                .has_due_date
                .is_none_or(|wanted| wanted == task.due_date.is_some())
            && self
                .is_recurring
                .is_none_or(|wanted| wanted == task.is_recurring)
            && self
                .search
                .as_deref()
                .is_none_or(|term| search_matches(task, term))
    }

    /// Filter, sort and cut one page out of `tasks` (all of the user's tasks, in any order).
    pub fn run<'a>(&self, tasks: impl IntoIterator<Item = &'a Task>) -> Page {
        let mut selected: Vec<(SortKey, &Task)> = tasks
            .into_iter()
            .filter(|task| self.matches(task))
            .map(|task| (self.sort_key(task), task))
            .filter(|(key, task)| {
                self.after.as_ref().is_none_or(|after| {
                    self.compare((key, &task.id), (&after.k, &after.id)) == Ordering::Greater
                })
            })
            .collect();
        // Only the first `limit + 1` are needed in order; a partial sort keeps large lists cheap.
        let wanted = self.limit + 1;
        if selected.len() > wanted {
            selected.select_nth_unstable_by(wanted - 1, |a, b| {
                self.compare((&a.0, &a.1.id), (&b.0, &b.1.id))
            });
            selected.truncate(wanted);
        }
        selected.sort_by(|a, b| self.compare((&a.0, &a.1.id), (&b.0, &b.1.id)));
        let has_more = selected.len() > self.limit;
        selected.truncate(self.limit);
        let next_cursor = match (has_more, selected.last()) {
            (true, Some((key, task))) => Some(encode_cursor(&CursorPosition {
                k: key.clone(),
                id: task.id,
                q: self.fingerprint(),
            })),
            _ => None,
        };
        Page {
            items: selected.into_iter().map(|(_, task)| task.clone()).collect(),
            next_cursor,
        }
    }

    fn sort_key(&self, task: &Task) -> SortKey {
        match self.sort {
            SortField::CreatedAt => SortKey::Time(Some(task.created_at.timestamp_micros())),
            SortField::UpdatedAt => SortKey::Time(Some(task.updated_at.timestamp_micros())),
            SortField::DueDate => SortKey::Time(task.due_date.map(|t| t.timestamp_micros())),
            SortField::Priority => SortKey::Rank(task.priority.rank()),
            SortField::Title => SortKey::Text(task.title.as_str().to_lowercase()),
        }
    }

    /// Total order of the listing: the key in the requested direction (missing due dates last
    /// either way), then the id ascending so that equal keys still have a stable order.
    fn compare(&self, (a, a_id): (&SortKey, &Uuid), (b, b_id): (&SortKey, &Uuid)) -> Ordering {
        let by_key = match (a, b) {
            (SortKey::Time(None), SortKey::Time(None)) => Ordering::Equal,
            (SortKey::Time(None), SortKey::Time(Some(_))) => return Ordering::Greater,
            (SortKey::Time(Some(_)), SortKey::Time(None)) => return Ordering::Less,
            _ => a.partial_cmp_same_kind(b),
        };
        let by_key = if self.descending {
            by_key.reverse()
        } else {
            by_key
        };
        by_key.then_with(|| a_id.cmp(b_id))
    }

    /// Identifies the filters and sort, so a cursor cannot be replayed against another query.
    fn fingerprint(&self) -> String {
        let text = format!(
            "{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{}",
            self.search,
            self.status,
            self.priorities,
            self.tags,
            self.due_before,
            self.due_after,
            self.overdue,
            self.has_due_date,
            self.is_recurring,
            self.sort,
            self.descending
        );
        let digest = Sha256::digest(text.as_bytes());
        base64url::encode(&digest[..9])
    }
}

impl SortKey {
    /// This key as the kind `sort` produces (`None`: it cannot be one).
    fn into_kind(self, sort: SortField) -> Option<SortKey> {
        match (sort, self) {
            (SortField::CreatedAt | SortField::UpdatedAt, key @ SortKey::Time(Some(_)))
            | (SortField::DueDate, key @ SortKey::Time(_))
            | (SortField::Priority, key @ SortKey::Rank(_))
            | (SortField::Title, key @ SortKey::Text(_)) => Some(key),
            (SortField::Priority, SortKey::Time(Some(rank))) => {
                u8::try_from(rank).ok().map(SortKey::Rank)
            }
            _ => None,
        }
    }

    fn partial_cmp_same_kind(&self, other: &Self) -> Ordering {
        match (self, other) {
            (SortKey::Time(a), SortKey::Time(b)) => a.cmp(b),
            (SortKey::Rank(a), SortKey::Rank(b)) => a.cmp(b),
            (SortKey::Text(a), SortKey::Text(b)) => a.cmp(b),
            // Keys of one query are always of one kind; the cursor check guarantees it.
            _ => Ordering::Equal,
        }
    }
}

fn search_matches(task: &Task, term: &str) -> bool {
    task.title.as_str().to_lowercase().contains(term)
        || task
            .description
            .as_deref()
            .is_some_and(|d| d.to_lowercase().contains(term))
        || task.tags.iter().any(|tag| tag.contains(term))
}

fn parse_bool(value: &str, field: &str) -> Result<bool, FieldError> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        other => Err(FieldError::new(
            field,
            format!("{other:?} is not a boolean; use true or false"),
        )),
    }
}

/// An opaque page cursor: a position, as URL-safe base64 of its JSON. Shared by every paged
/// query of the app (tasks here, the audit log).
pub fn encode_cursor<P: serde::Serialize>(position: &P) -> String {
    base64url::encode(&serde_json::to_vec(position).expect("a cursor always serialises"))
}

/// The position in a cursor made by [`encode_cursor`]; anything else is a 400 naming `cursor`.
pub fn decode_cursor<P: serde::de::DeserializeOwned>(cursor: &str) -> Result<P, FieldError> {
    base64url::decode(cursor)
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| FieldError::new("cursor", "is not a cursor returned by this API"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::TaskDraft;
    use chrono::Duration;
    use serde_json::json;

    fn t0() -> DateTime<Utc> {
        "2026-03-01T08:00:00Z".parse().unwrap()
    }

    fn task(n: i64, body: serde_json::Value) -> Task {
        let draft = TaskDraft::from_json(&body).unwrap();
        Task::create(
            Uuid::from_u128(n as u128),
            "alice",
            draft,
            t0() + Duration::minutes(n),
        )
    }

    fn q(query: &str) -> ListQuery {
        let pairs: Vec<(&str, &str)> = query
            .split('&')
            .filter(|s| !s.is_empty())
            .map(|kv| kv.split_once('=').unwrap_or((kv, "")))
            .collect();
        ListQuery::parse(pairs, t0() + Duration::days(1)).unwrap()
    }

    fn titles(page: &Page) -> Vec<&str> {
        page.items.iter().map(|t| t.title.as_str()).collect()
    }

    fn sample() -> Vec<Task> {
        vec![
            task(
                1,
                json!({"title": "Buy milk", "tags": ["home"], "priority": "low"}),
            ),
            task(
                2,
                json!({"title": "write report", "description": "Quarterly NUMBERS", "tags": ["work"], "priority": "high", "due_date": "2026-03-05T00:00:00Z"}),
            ),
            task(
                3,
                json!({"title": "Call mum", "status": "completed", "due_date": "2026-02-01T00:00:00Z"}),
            ),
            task(
                4,
                json!({"title": "pay rent", "tags": ["home", "money"], "due_date": "2026-03-01T09:00:00Z", "recurrence_rule": "monthly"}),
            ),
        ]
    }

    #[test]
    fn default_listing_is_newest_first() {
        assert_eq!(
            titles(&q("").run(&sample())),
            ["pay rent", "Call mum", "write report", "Buy milk"]
        );
    }

    #[test]
    fn filters_combine() {
        let tasks = sample();
        assert_eq!(titles(&q("search=numbers").run(&tasks)), ["write report"]);
        assert_eq!(titles(&q("search=MONEY").run(&tasks)), ["pay rent"]);
        assert_eq!(titles(&q("status=completed").run(&tasks)), ["Call mum"]);
        assert_eq!(q("status=active").run(&tasks).items.len(), 3);
        assert_eq!(
            titles(&q("priority=high,low&sort=title").run(&tasks)),
            ["Buy milk", "write report"]
        );
        assert_eq!(titles(&q("tags=home,money").run(&tasks)), ["pay rent"]);
        assert_eq!(titles(&q("overdue=true").run(&tasks)), ["pay rent"]);
        assert_eq!(titles(&q("has_due_date=false").run(&tasks)), ["Buy milk"]);
        assert_eq!(titles(&q("is_recurring=true").run(&tasks)), ["pay rent"]);
        assert_eq!(
            titles(&q("due_before=2026-03-02T00:00:00Z&sort=due_date").run(&tasks)),
            ["Call mum", "pay rent"]
        );
        assert_eq!(
            titles(&q("due_after=2026-03-02T00:00:00Z").run(&tasks)),
            ["write report"]
        );
    }

    #[test]
    fn undated_tasks_sort_last_by_due_date_in_both_orders() {
        let tasks = sample();
        assert_eq!(
            titles(&q("sort=due_date").run(&tasks)),
            ["Call mum", "pay rent", "write report", "Buy milk"]
        );
        assert_eq!(
            titles(&q("sort=due_date&order=desc").run(&tasks)),
            ["write report", "pay rent", "Call mum", "Buy milk"]
        );
    }

    #[test]
    fn priority_and_title_sorts() {
        let tasks = sample();
        assert_eq!(titles(&q("sort=priority").run(&tasks))[0], "write report");
        assert_eq!(
            titles(&q("sort=title").run(&tasks)),
            ["Buy milk", "Call mum", "pay rent", "write report"]
        );
    }

    #[test]
    fn bad_parameters_name_the_field() {
        for (query, field) in [
            ("status=done", "status"),
            ("priority=urgent", "priority"),
            ("sort=colour", "sort"),
            ("order=up", "order"),
            ("limit=0", "limit"),
            ("limit=501", "limit"),
            ("overdue=maybe", "overdue"),
            ("due_before=yesterday", "due_before"),
            ("cursor=zzz", "cursor"),
            ("colour=red", "colour"),
            ("status=", "status"),
            ("priority=", "priority"),
            ("priority=high,,low", "priority"),
            ("priority= high", "priority"),
            ("search=", "search"),
            ("tags=", "tags"),
            ("tags=a,,b", "tags"),
            ("cursor=", "cursor"),
            ("limit=", "limit"),
            ("limit=+5", "limit"),
            ("sort=", "sort"),
            ("overdue=1", "overdue"),
            ("is_recurring=", "is_recurring"),
            ("due_after=", "due_after"),
        ] {
            let (k, v) = query.split_once('=').unwrap();
            let err = ListQuery::parse([(k, v)], t0()).unwrap_err();
            assert_eq!(err.field.as_deref(), Some(field), "{query}");
        }
    }

    #[test]
    fn a_parameter_given_twice_is_refused_naming_it() {
        for name in KNOWN_PARAMETERS {
            let value = match name {
                "status" => "active",
                "priority" => "high",
                "sort" => "title",
                "order" => "asc",
                "limit" => "5",
                "overdue" | "has_due_date" | "is_recurring" => "true",
                "due_before" | "due_after" => "2026-03-01T00:00:00Z",
                "cursor" => continue, // a valid cursor needs a page; checked below
                _ => "x",
            };
            assert!(ListQuery::parse([(name, value)], t0()).is_ok(), "{name}");
            let err = ListQuery::parse([(name, value), (name, value)], t0()).unwrap_err();
            assert_eq!(err.field.as_deref(), Some(name));
            assert!(err.message.contains("more than once"), "{}", err.message);
        }
        // Not only when the two agree, and not only one after the other.
        let err = ListQuery::parse(
            [("priority", "high"), ("search", "x"), ("priority", "low")],
            t0(),
        )
        .unwrap_err();
        assert_eq!(err.field.as_deref(), Some("priority"));
        let err = ListQuery::parse([("cursor", "a"), ("cursor", "b")], t0()).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("cursor"));
        assert!(err.message.contains("more than once"), "{}", err.message);
    }

    #[test]
    fn search_is_bounded_and_a_nameless_pair_has_no_field() {
        let long = "x".repeat(SEARCH_MAX_CHARS + 1);
        let err = ListQuery::parse([("search", long.as_str())], t0()).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("search"));
        let longest = "é".repeat(SEARCH_MAX_CHARS);
        assert!(ListQuery::parse([("search", longest.as_str())], t0()).is_ok());
        // Blank is not empty: a search of spaces filters nothing.
        assert_eq!(
            ListQuery::parse([("search", "  ")], t0()).unwrap().search,
            None
        );
        let err = ListQuery::parse([("", "x")], t0()).unwrap_err();
        assert_eq!(err.field, None);
        assert!(err.message.contains("no name"), "{}", err.message);
    }

    #[test]
    fn pages_cover_everything_once_even_with_inserts_between_pages() {
        let mut tasks: Vec<Task> = (0..25)
            .map(|n| task(n, json!({"title": format!("t{n:02}")})))
            .collect();
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let query = match &cursor {
                Some(c) => q(&format!("sort=title&limit=10&cursor={c}")),
                None => q("sort=title&limit=10"),
            };
            let page = query.run(&tasks);
            seen.extend(page.items.iter().map(|t| t.title.to_string()));
            // A concurrent insert that sorts before the cursor must not shift the next page.
            tasks.push(task(100 + seen.len() as i64, json!({"title": "a-new"})));
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        let expected: Vec<String> = (0..25).map(|n| format!("t{n:02}")).collect();
        assert_eq!(seen, expected);
    }

    #[test]
    fn pages_by_priority_cover_everything_once() {
        let priorities = ["low", "medium", "high"];
        // Ids ascending while priorities cycle: paging by id alone would skip and repeat tasks.
        let tasks: Vec<Task> = (0..23)
            .map(|n| {
                let priority = priorities[n as usize % 3];
                task(
                    n,
                    json!({"title": format!("t{n:02}"), "priority": priority}),
                )
            })
            .collect();
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let query = match &cursor {
                Some(c) => q(&format!("sort=priority&limit=5&cursor={c}")),
                None => q("sort=priority&limit=5"),
            };
            let page = query.run(&tasks);
            seen.extend(page.items.iter().map(|t| t.title.to_string()));
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        let expected: Vec<String> = q("sort=priority&limit=100")
            .run(&tasks)
            .items
            .iter()
            .map(|t| t.title.to_string())
            .collect();
        assert_eq!(expected.len(), 23);
        assert_eq!(seen, expected, "highest priority first, each task once");
    }

    #[test]
    fn a_cursor_cannot_be_reused_with_other_filters() {
        let tasks: Vec<Task> = (0..5)
            .map(|n| task(n, json!({"title": format!("t{n}")})))
            .collect();
        let cursor = q("limit=2").run(&tasks).next_cursor.unwrap();
        let err = ListQuery::parse(
            [
                ("limit", "2"),
                ("sort", "title"),
                ("cursor", cursor.as_str()),
            ],
            t0(),
        )
        .unwrap_err();
        assert_eq!(err.field.as_deref(), Some("cursor"));
    }
}
