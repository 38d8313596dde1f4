//! List questions ("what's due today?", "show my high priority work tasks", "overdue", "what do I
//! have this week", "show completed") as `list_tasks` arguments.
//!
//! Chat lists default to open tasks, soonest due first (undated last). A day or week window is
//! `due_after` one second before its first midnight (the API's bounds are strict) and
//! `due_before` its last midnight, on the user's wall clock.
use crate::Context;
use crate::dates::{Unit, unit};
use crate::dates::{local_to_utc, today};
use crate::labels::{match_priority, match_tag};
use crate::tools::ToolCall;
use crate::words::{Word, number, raw_text, starts_with};
use chrono::{DateTime, Datelike, Days, Duration, Months, NaiveDate, SecondsFormat, Utc};
use serde_json::{Map, Value, json};
use todo_domain::Priority;

const VERBS: [&str; 18] = [
    "show", "list", "display", "view", "see", "get", "give", "what", "what's", "whats", "which",
    "any", "anything", "find", "search", "do", "is", "are",
];

const NOUNS: [&str; 12] = [
    "tasks",
    "task",
    "todos",
    "todo",
    "to-dos",
    "items",
    "things",
    "stuff",
    "reminders",
    "list",
    "agenda",
    "schedule",
];

const FILLERS: [&str; 50] = [
    "how",
    "many",
    "much",
    "your",
    "should",
    "we",
    "my",
    "me",
    "i",
    "do",
    "have",
    "got",
    "is",
    "are",
    "there",
    "the",
    "a",
    "of",
    "for",
    "with",
    "on",
    "in",
    "to",
    "what",
    "what's",
    "whats",
    "which",
    "show",
    "list",
    "display",
    "view",
    "see",
    "get",
    "give",
    "tell",
    "please",
    "that",
    "need",
    "you",
    "can",
    "it",
    "still",
    "yet",
    "now",
    "currently",
    "up",
    "any",
    "anything",
    "sorted",
    "ordered",
];

#[derive(Default)]
struct Filters {
    status: Option<&'static str>,
    window: Option<(DateTime<Utc>, DateTime<Utc>)>,
    overdue: bool,
    has_due_date: Option<bool>,
    is_recurring: Option<bool>,
    priorities: Vec<Priority>,
    tags: Vec<String>,
    search: Option<String>,
    sort: Option<(&'static str, Option<&'static str>)>,
    recognised: bool,
}

/// Does the message start like a list question ("show …", "what …")?
pub(crate) fn starts_like_a_question(words: &[Word]) -> bool {
    words
        .first()
        .is_some_and(|w| VERBS.contains(&w.norm.as_str()))
}

pub(crate) fn list_query(words: &[Word], context: &Context) -> Option<ToolCall> {
    let first = words.first()?.norm.as_str();
    let has_verb = VERBS.contains(&first);
    let searching = matches!(first, "find" | "search") || starts_with(words, "look for");
    let mut filters = Filters::default();
    let mut unknown: Vec<usize> = Vec::new();
    let mut has_noun = false;
    let mut i = usize::from(starts_with(words, "look for")) * 2;
    while i < words.len() {
        if let Some(len) = filter_at(words, i, context, &mut filters) {
            filters.recognised = true;
            i += len;
            continue;
        }
        let word = words[i].norm.as_str();
        if NOUNS.contains(&word) {
            has_noun = true;
            // Unknown words right before the noun are tags: "work tasks".
            let mut next = i;
            while let Some(&last) = unknown.last()
                && last + 1 == next
            {
                unknown.pop();
                filters.tags.push(words[last].norm.clone());
                next = last;
            }
        } else if !(FILLERS.contains(&word) || searching && i == 0) {
            unknown.push(i);
        }
        i += 1;
    }
    if searching && filters.search.is_none() && !unknown.is_empty() {
        let terms: Vec<Word> = unknown.iter().map(|&k| words[k].clone()).collect();
        filters.search = Some(raw_text(&terms));
        unknown.clear();
    }
    // "what's the weather" is not a list question; "what do I have" and "show work tasks" are.
    let about_tasks = has_noun || filters.recognised || filters.search.is_some();
    let is_list = if has_verb {
        about_tasks || unknown.is_empty()
    } else {
        about_tasks && unknown.is_empty()
    };
    if !is_list {
        return None;
    }
    if filters.window.is_some() || filters.overdue {
        // "due today" already says it has a due date.
        filters.has_due_date = filters.has_due_date.filter(|has| !has);
    }
    Some(ToolCall::ListTasks {
        query: arguments(filters),
    })
}

fn arguments(filters: Filters) -> Map<String, Value> {
    let instant = |t: DateTime<Utc>| json!(t.to_rfc3339_opts(SecondsFormat::Secs, true));
    let mut query = Map::new();
    query.insert(
        "status".to_owned(),
        json!(filters.status.unwrap_or("active")),
    );
    if let Some((after, before)) = filters.window {
        query.insert("due_after".to_owned(), instant(after));
        query.insert("due_before".to_owned(), instant(before));
    }
    if filters.overdue {
        query.insert("overdue".to_owned(), json!(true));
    }
    if let Some(has) = filters.has_due_date {
        query.insert("has_due_date".to_owned(), json!(has));
    }
    if let Some(recurring) = filters.is_recurring {
        query.insert("is_recurring".to_owned(), json!(recurring));
    }
    if !filters.priorities.is_empty() {
        let names: Vec<&str> = filters
            .priorities
            .iter()
            .map(|p| match p {
                Priority::Low => "low",
                Priority::Medium => "medium",
                Priority::High => "high",
            })
            .collect();
        query.insert("priority".to_owned(), json!(names));
    }
    if !filters.tags.is_empty() {
        let mut tags = filters.tags;
        tags.sort();
        tags.dedup();
        query.insert("tags".to_owned(), json!(tags));
    }
    if let Some(search) = filters.search.filter(|s| !s.is_empty()) {
        query.insert("search".to_owned(), json!(search));
    }
    let (sort, order) = filters.sort.unwrap_or(("due_date", None));
    query.insert("sort".to_owned(), json!(sort));
    if let Some(order) = order {
        query.insert("order".to_owned(), json!(order));
    }
    query
}

/// Local midnights `start` and `end` as (`due_after`, `due_before`).
fn window(context: &Context, start: NaiveDate, end: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
    let midnight = |day: NaiveDate| {
        local_to_utc(
            context.time_zone,
            day.and_hms_opt(0, 0, 0).unwrap_or_default(),
        )
    };
    (midnight(start) - Duration::seconds(1), midnight(end))
}

/// A filter phrase at `i`: its length, recorded in `filters`.
fn filter_at(words: &[Word], i: usize, context: &Context, filters: &mut Filters) -> Option<usize> {
    let w = |k: usize| words.get(i + k).map_or("", |w| w.norm.as_str());
    let today = today(context.now, context.time_zone);
    let monday = today - Days::new(today.weekday().num_days_from_monday().into());
    let first_of_month = today.with_day(1)?;
    let set_window = |filters: &mut Filters, start: NaiveDate, end: NaiveDate| {
        filters.window = Some(window(context, start, end));
    };
    let len = match (w(0), w(1), w(2)) {
        ("overdue" | "late", _, _) => {
            filters.overdue = true;
            1
        }
        ("past", "due", _) => {
            filters.overdue = true;
            2
        }
        ("today" | "today's" | "tonight", _, _) => {
            set_window(filters, today, today + Days::new(1));
            1
        }
        ("tomorrow" | "tomorrow's", _, _) => {
            set_window(filters, today + Days::new(1), today + Days::new(2));
            1
        }
        ("this" | "the", "week" | "week's", _) => {
            set_window(filters, monday, monday + Days::new(7));
            2
        }
        ("next", "week" | "week's", _) => {
            set_window(filters, monday + Days::new(7), monday + Days::new(14));
            2
        }
        ("this" | "the", "weekend", _) => {
            let saturday = monday + Days::new(5);
            set_window(filters, saturday, saturday + Days::new(2));
            2
        }
        ("this" | "the", "month" | "month's", _) => {
            set_window(filters, first_of_month, first_of_month + Months::new(1));
            2
        }
        ("next", "month", _) => {
            let next = first_of_month + Months::new(1);
            set_window(filters, next, next + Months::new(1));
            2
        }
        ("next", count, unit_word)
            if number(count).is_some() && unit(unit_word).and_then(Unit::minutes).is_some() =>
        {
            // "in the next 3 days"
            let minutes = number(count)? * unit(unit_word)?.minutes()?;
            let end = context.now + Duration::minutes(minutes.into());
            filters.window = Some((context.now, end));
            3
        }
        ("coming", "up", _) | ("upcoming" | "soon" | "next", _, _) => {
            filters.window = Some((context.now, context.now + Duration::days(7)));
            if w(0) == "coming" { 2 } else { 1 }
        }
        ("completed" | "done" | "finished" | "closed" | "complete", _, _) => {
            filters.status = Some("completed");
            1
        }
        ("all" | "everything" | "every", _, _) => {
            filters.status = filters.status.or(Some("all"));
            1
        }
        ("not", "done" | "completed" | "finished", _) => {
            filters.status = Some("active");
            2
        }
        (
            "open" | "active" | "pending" | "remaining" | "incomplete" | "unfinished"
            | "outstanding" | "left" | "uncompleted",
            _,
            _,
        ) => {
            filters.status = Some("active");
            1
        }
        ("in", "progress", _) => {
            filters.status = Some("in_progress");
            2
        }
        ("started" | "ongoing", _, _) => {
            filters.status = Some("in_progress");
            1
        }
        ("recurring" | "repeating" | "recurrent" | "repeat", _, _) => {
            filters.is_recurring = Some(true);
            1
        }
        ("one-off" | "non-recurring", _, _) => {
            filters.is_recurring = Some(false);
            1
        }
        ("without" | "with" | "no", "a" | "any" | "no", "due")
        | ("without" | "with" | "no", "due", _) => {
            filters.has_due_date = Some(w(0) == "with" && w(1) != "no");
            let due = if w(1) == "due" { 1 } else { 2 };
            due + 1 + usize::from(matches!(w(due + 1), "date" | "dates"))
        }
        ("undated" | "unscheduled" | "someday", _, _) => {
            filters.has_due_date = Some(false);
            1
        }
        ("due", _, _) => {
            if filters.window.is_none() && !filters.overdue {
                filters.has_due_date = Some(true);
            }
            1
        }
        ("by" | "sort" | "sorted" | "order" | "ordered", _, _) => {
            let by = usize::from(w(0) != "by" && w(1) == "by");
            let (len, sort) = match (w(by + 1), w(by + 2)) {
                ("due", "date" | "dates") => (2, ("due_date", None)),
                ("due" | "date" | "deadline", _) => (1, ("due_date", None)),
                ("priority", _) => (1, ("priority", None)),
                ("title" | "name", _) => (1, ("title", None)),
                ("newest" | "created", _) => (1, ("created_at", Some("desc"))),
                ("oldest", _) => (1, ("created_at", Some("asc"))),
                ("last", "update" | "updated" | "change") => (2, ("updated_at", None)),
                _ => return None,
            };
            filters.sort = Some(sort);
            by + 1 + len
        }
        ("alphabetically" | "a-z", _, _) => {
            filters.sort = Some(("title", None));
            1
        }
        ("newest" | "latest" | "recent", _, _) => {
            filters.sort = Some(("created_at", Some("desc")));
            1 + usize::from(w(1) == "first")
        }
        ("oldest", _, _) => {
            filters.sort = Some(("created_at", Some("asc")));
            1 + usize::from(w(1) == "first")
        }
        ("recently", "added" | "created", _) => {
            filters.sort = Some(("created_at", Some("desc")));
            2
        }
        ("recently", "updated" | "changed", _) => {
            filters.sort = Some(("updated_at", Some("desc")));
            2
        }
        (
            "about" | "containing" | "matching" | "mentioning" | "named" | "called" | "titled",
            _,
            _,
        ) => {
            filters.search = Some(raw_text(&words[i + 1..]));
            words.len() - i
        }
        ("search", "for", _) | ("look", "for", _) => {
            filters.search = Some(raw_text(&words[i + 2..]));
            words.len() - i
        }
        _ => {
            if let Some((len, priority)) = match_priority(words, i) {
                filters.priorities.push(priority);
                len
            } else if let Some((len, tag)) = match_tag(words, i) {
                filters.tags.push(tag);
                len
            } else {
                return None;
            }
        }
    };
    Some(len)
}
