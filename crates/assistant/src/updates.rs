//! Changing a task: "rename 2 to …", "move dentist to friday", "set priority of 1 to high",
//! "make it repeat every monday", "remind me 30 minutes before 2", "clear the due date of 3".
//!
//! A move to another day keeps the task's time of day, and a new time keeps its day, on the
//! user's wall clock. Making an undated task repeat gives it the rule's first occurrence.
use crate::dates::{self, Unit, When, duration, first_ahead};
use crate::details::{Details, extract, is_filler};
use crate::intents::{Command, Ref, act, after_prefix, instant, parse_ref, priority_name};
use crate::labels::{match_priority, match_reminder, priority_word};
use crate::repeats::Repeat;
use crate::words::{Word, raw_text, starts_with};
use crate::{Context, TaskSummary, Understood};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use todo_domain::Priority;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Changes {
    title: Option<String>,
    description: Option<String>,
    priority: Option<Priority>,
    add_tags: Vec<String>,
    when: Option<When>,
    clear_due: bool,
    reminder_minutes: Option<u32>,
    /// `Some(None)`: stop repeating.
    repeat: Option<Option<Repeat>>,
    /// "postpone 2 by 3 days": move the current due date.
    #[serde(default)]
    shift: Option<(u32, Unit)>,
}

impl Changes {
    fn from_details(details: Details) -> Self {
        Changes {
            priority: details.priority,
            add_tags: details.tags,
            when: (!details.when.is_empty()).then_some(details.when),
            reminder_minutes: details.reminder,
            repeat: details.repeat.map(Some),
            ..Changes::default()
        }
    }
}

pub(crate) fn update_arguments(
    task: &TaskSummary,
    changes: &Changes,
    context: &Context,
) -> Result<Map<String, Value>, String> {
    let (now, tz) = (context.now, context.time_zone);
    let mut out = Map::new();
    if let Some(title) = &changes.title {
        out.insert("title".to_owned(), json!(title));
    }
    if let Some(description) = &changes.description {
        out.insert("description".to_owned(), json!(description));
    }
    if let Some(priority) = changes.priority {
        out.insert("priority".to_owned(), json!(priority_name(priority)));
    }
    if !changes.add_tags.is_empty() {
        let mut tags = task.tags.clone();
        tags.extend(changes.add_tags.iter().map(|t| t.to_lowercase()));
        tags.sort();
        tags.dedup();
        out.insert("tags".to_owned(), json!(tags));
    }
    let mut due = None;
    if let Some((amount, unit)) = changes.shift {
        let Some(current) = task.due_date else {
            return Err(format!(
                "“{}” has no due date to move. Say when it is due, e.g. \"move it to friday 3pm\".",
                task.title
            ));
        };
        due = Some(dates::shift(current, amount, unit, tz));
    }
    if let Some(when) = &changes.when {
        // Moving to another day keeps the task's time of day; a new time keeps its day.
        let current = task.due_date.map(|d| d.with_timezone(&tz));
        let when = match (&when.date, when.time, current) {
            (Some(dates::DateRule::At(_)), _, _) | (_, _, None) => when.clone(),
            (Some(_), None, Some(current)) => When {
                date: when.date.clone(),
                time: Some(current.time()),
            },
            (None, Some(_), Some(current)) => When {
                date: Some(dates::DateRule::On(current.date_naive())),
                time: when.time,
            },
            (Some(_), Some(_), Some(_)) | (None, None, Some(_)) => when.clone(),
        };
        due = dates::resolve(&when, now, tz);
    }
    match &changes.repeat {
        Some(Some(repeat)) => {
            out.insert("recurrence_rule".to_owned(), json!(repeat.rule));
            let from = if repeat.from_completion {
                "completion"
            } else {
                "due_date"
            };
            out.insert("repeat_from".to_owned(), json!(from));
            if due.is_none() && task.due_date.is_none() {
                due = Some(first_ahead(&repeat.anchor, repeat.time, now, tz));
            }
        }
        Some(None) => {
            out.insert("recurrence_rule".to_owned(), Value::Null);
        }
        None => {}
    }
    if let Some(due) = due {
        out.insert("due_date".to_owned(), instant(due));
        out.insert("time_zone".to_owned(), json!(tz.name()));
    }
    if changes.clear_due {
        out.insert("due_date".to_owned(), Value::Null);
        out.insert("reminder_offset_minutes".to_owned(), Value::Null);
    }
    if let Some(minutes) = changes.reminder_minutes {
        if task.due_date.is_none() && due.is_none() {
            return Err(format!(
                "“{}” has no due date, so there is nothing to remind you before. Give it one first, e.g. \"move it to friday 3pm\".",
                task.title
            ));
        }
        out.insert("reminder_offset_minutes".to_owned(), json!(minutes));
    }
    if out.is_empty() {
        return Err(format!("What should I change about “{}”?", task.title));
    }
    Ok(out)
}

/// Split `words` into a task reference and the details after it ("dentist" + "to friday 3pm").
fn split_ref_and_details(words: &[Word], context: &Context) -> Option<(Ref, Details)> {
    for j in 1..words.len() {
        let Ok(details) = extract(&words[j..], context) else {
            continue;
        };
        if details.is_empty() || !details.rest.iter().all(|w| is_filler(&w.norm)) {
            continue;
        }
        let mut reference = &words[..j];
        while let [rest @ .., last] = reference
            && !rest.is_empty()
            && is_filler(&last.norm)
        {
            reference = rest;
        }
        return Some((parse_ref(reference)?, details));
    }
    None
}

fn update_with(reference: Option<Ref>, changes: Changes, context: &Context) -> Option<Understood> {
    Some(act(reference?, Command::Update(Box::new(changes)), context))
}

pub(crate) fn update(words: &[Word], context: &Context) -> Option<Understood> {
    let first = words.first()?.norm.as_str();
    // "remind me 30 minutes before 2", "remind me an hour before it"
    if let Some((len, minutes)) = match_reminder(words, 0)
        && matches!(
            first,
            "remind" | "alert" | "notify" | "set" | "ping" | "reminder"
        )
    {
        let mut rest = &words[len..];
        if let [first, tail @ ..] = rest
            && matches!(first.norm.as_str(), "for" | "about" | "of" | "on")
        {
            rest = tail;
        }
        let reference = if rest.is_empty() {
            Some(Ref::Last)
        } else {
            parse_ref(rest)
        };
        let changes = Changes {
            reminder_minutes: Some(minutes),
            ..Changes::default()
        };
        return update_with(reference, changes, context);
    }
    // "remind me about the dentist 1 hour before"
    if let Some(rest) = after_prefix(
        words,
        &["remind me about", "remind me of", "set a reminder for"],
    ) && let Some(j) = (1..rest.len())
        .find(|j| match_reminder(rest, *j).is_some_and(|(len, _)| j + len == rest.len()))
    {
        let (_, minutes) = match_reminder(rest, j)?;
        let changes = Changes {
            reminder_minutes: Some(minutes),
            ..Changes::default()
        };
        return update_with(parse_ref(&rest[..j]), changes, context);
    }
    // "clear the due date of 2", "remove the due date from dentist"
    if let Some(rest) = after_prefix(words, &["clear", "remove", "delete", "drop", "unset"])
        && let Some(rest) = after_prefix(
            rest,
            &[
                "the due date",
                "due date",
                "the date",
                "the deadline",
                "deadline",
            ],
        )
    {
        let rest = after_prefix(rest, &["of", "from", "on", "for", "in"]).unwrap_or(rest);
        let changes = Changes {
            clear_due: true,
            ..Changes::default()
        };
        return update_with(parse_ref(rest), changes, context);
    }
    // "stop repeating 2", "don't repeat the dentist"
    if let Some(rest) = after_prefix(
        words,
        &[
            "stop repeating",
            "stop recurring",
            "don't repeat",
            "dont repeat",
            "do not repeat",
            "never repeat",
            "unrepeat",
        ],
    ) {
        let changes = Changes {
            repeat: Some(None),
            ..Changes::default()
        };
        return update_with(parse_ref(rest), changes, context);
    }
    // "make 2 not repeat"
    if let Some(rest) = after_prefix(words, &["make", "set"])
        && let Some(j) = rest.iter().position(|w| w.norm == "not")
        && j > 0
        && starts_with(&rest[j..], "not repeat")
    {
        let changes = Changes {
            repeat: Some(None),
            ..Changes::default()
        };
        return update_with(parse_ref(&rest[..j]), changes, context);
    }
    // "postpone 2 by 3 days", "snooze the report for an hour"
    if let Some(rest) = after_prefix(
        words,
        &[
            "snooze",
            "postpone",
            "push back",
            "push",
            "delay",
            "defer",
            "move",
            "bump",
            "shift",
        ],
    ) && let Some(by) = rest
        .iter()
        .position(|w| matches!(w.norm.as_str(), "by" | "for"))
        && by > 0
        && let Some((len, amount, unit)) = duration(rest, by + 1)
        && rest[by + 1 + len..]
            .iter()
            .all(|w| matches!(w.norm.as_str(), "back" | "later" | "more"))
    {
        let changes = Changes {
            shift: Some((amount, unit)),
            ..Changes::default()
        };
        return update_with(parse_ref(&rest[..by]), changes, context);
    }
    // "rename 2 to buy oat milk"
    if let Some(rest) = after_prefix(words, &["rename", "retitle"]) {
        let to = rest
            .iter()
            .skip(1)
            .position(|w| matches!(w.norm.as_str(), "to" | "as"))?
            + 1;
        let changes = Changes {
            title: Some(raw_text(&rest[to + 1..])).filter(|t| !t.is_empty()),
            ..Changes::default()
        };
        return update_with(parse_ref(&rest[..to]), changes, context);
    }
    // "add a note to 2: call first", "describe 2 as …"
    if let Some(rest) = after_prefix(
        words,
        &[
            "add a note to",
            "add note to",
            "add a description to",
            "add description to",
            "describe",
        ],
    ) {
        let split = rest
            .iter()
            .position(|w| w.raw.ends_with(':') || w.norm == "as")?;
        // "2:" names the task; the words after the colon (or "as") are the description.
        let reference_end = if rest[split].norm == "as" {
            split
        } else {
            split + 1
        };
        let changes = Changes {
            description: Some(raw_text(&rest[split + 1..])),
            ..Changes::default()
        };
        return update_with(parse_ref(&rest[..reference_end]), changes, context);
    }
    // "add tag #work to 2", "add #work to dentist", "tag 2 with #home"
    if let Some(rest) = after_prefix(
        words,
        &["add the tags", "add the tag", "add tags", "add tag", "add"],
    ) && let Some(to) = rest
        .iter()
        .position(|w| matches!(w.norm.as_str(), "to" | "on"))
        && to > 0
        && rest[..to]
            .iter()
            .all(|w| w.norm.starts_with('#') || w.norm == "and")
    {
        let tags = tag_words(&rest[..to]);
        let changes = Changes {
            add_tags: tags,
            ..Changes::default()
        };
        return update_with(parse_ref(&rest[to + 1..]), changes, context);
    }
    if let Some(rest) = after_prefix(words, &["tag"]) {
        let split = rest
            .iter()
            .position(|w| matches!(w.norm.as_str(), "with" | "as") || w.norm.starts_with('#'))?;
        let tags_from = split + usize::from(!rest[split].norm.starts_with('#'));
        let changes = Changes {
            add_tags: tag_words(&rest[tags_from..]),
            ..Changes::default()
        };
        if changes.add_tags.is_empty() {
            return None;
        }
        return update_with(parse_ref(&rest[..split]), changes, context);
    }
    if let Some(rest) = after_prefix(words, &["prioritize", "prioritise"]) {
        let changes = Changes {
            priority: Some(Priority::High),
            ..Changes::default()
        };
        return update_with(parse_ref(rest), changes, context);
    }
    if let Some(rest) = after_prefix(words, &["deprioritize", "deprioritise"]) {
        let changes = Changes {
            priority: Some(Priority::Low),
            ..Changes::default()
        };
        return update_with(parse_ref(rest), changes, context);
    }
    let verbs = [
        "set",
        "change",
        "update",
        "edit",
        "make",
        "move",
        "reschedule",
        "postpone",
        "push",
        "delay",
        "defer",
        "shift",
        "bump",
        "mark",
        "schedule",
        "repeat",
        "put",
    ];
    let rest = after_prefix(words, &verbs)?;
    if let Some(found) = field_form(first, rest, context) {
        return Some(found);
    }
    if let Some((reference, details)) = split_ref_and_details(rest, context) {
        // "schedule" also starts an add ("schedule dentist friday"): update only a numbered task.
        if first == "schedule" && matches!(reference, Ref::Title(_)) {
            return None;
        }
        return Some(act(
            reference,
            Command::Update(Box::new(Changes::from_details(details))),
            context,
        ));
    }
    // "move 3 to someday": say what was not understood rather than show the help.
    if matches!(
        first,
        "move" | "reschedule" | "postpone" | "push" | "delay" | "defer" | "shift" | "bump"
    ) && let Some(to) = rest
        .iter()
        .position(|w| matches!(w.norm.as_str(), "to" | "until" | "till" | "for"))
    {
        return Some(Understood::Reply(format!(
            "I didn't understand “{}” as a date or time. Try e.g. \"move it to friday 3pm\" or \"in 2 days\".",
            raw_text(&rest[to + 1..])
        )));
    }
    // "change 2 to buy oat milk": a new title.
    if matches!(first, "change" | "update" | "edit") {
        let to = rest.iter().skip(1).position(|w| w.norm == "to")? + 1;
        let changes = Changes {
            title: Some(raw_text(&rest[to + 1..])).filter(|t| !t.is_empty()),
            ..Changes::default()
        };
        return update_with(parse_ref(&rest[..to]), changes, context);
    }
    None
}

fn tag_words(words: &[Word]) -> Vec<String> {
    words
        .iter()
        .flat_map(|w| w.norm.split(','))
        .map(|t| t.trim().trim_start_matches('#'))
        .filter(|t| !t.is_empty() && !matches!(*t, "and" | "&"))
        .map(str::to_owned)
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Title,
    Due,
    Priority,
    Description,
    Tags,
    Reminder,
    Repeat,
}

fn field_at(words: &[Word], i: usize) -> Option<(usize, Field)> {
    let w = |k: usize| words.get(i + k).map_or("", |w| w.norm.as_str());
    let the = usize::from(w(0) == "the");
    let (len, field) = match (w(the), w(the + 1)) {
        ("due", "date" | "time") => (2, Field::Due),
        ("title" | "name", _) => (1, Field::Title),
        ("due" | "date" | "deadline" | "time", _) => (1, Field::Due),
        ("priority", _) => (1, Field::Priority),
        ("description" | "notes" | "note" | "details", _) => (1, Field::Description),
        ("tags" | "tag", _) => (1, Field::Tags),
        ("reminder", _) => (1, Field::Reminder),
        ("recurrence" | "repeat" | "schedule", _) => (1, Field::Repeat),
        _ => return None,
    };
    Some((the + len, field))
}

/// "set the priority of 1 to high", "change dentist's due date to friday", "set 2 title to X".
fn field_form(verb: &str, rest: &[Word], context: &Context) -> Option<Understood> {
    if !matches!(verb, "set" | "change" | "update" | "edit" | "make") {
        return None;
    }
    let to = rest
        .iter()
        .position(|w| matches!(w.norm.as_str(), "to" | "=" | "as"))?;
    let value = &rest[to + 1..];
    let (reference, field) = if let Some((len, field)) = field_at(rest, 0) {
        // field first: "priority of 1 to high"
        let of = usize::from(matches!(
            rest.get(len).map(|w| w.norm.as_str()),
            Some("of" | "for" | "on" | "in")
        ));
        (&rest[len + of..to], field)
    } else {
        // reference first: "2's priority to high", "dentist due date to friday"
        let start = (1..to).find(|k| field_at(rest, *k).is_some_and(|(len, _)| k + len == to))?;
        let (_, field) = field_at(rest, start)?;
        let mut reference = rest[..start].to_vec();
        let last = reference.last_mut()?;
        for suffix in ["'s", "’s"] {
            if let Some(stem) = last.norm.strip_suffix(suffix) {
                last.norm = stem.to_owned();
                last.raw = last.raw[..last.raw.len() - suffix.len()].to_owned();
            }
        }
        return field_change(field, &reference, value, context);
    };
    field_change(field, reference, value, context)
}

fn field_change(
    field: Field,
    reference: &[Word],
    value: &[Word],
    context: &Context,
) -> Option<Understood> {
    let reference = parse_ref(reference);
    let none =
        value.len() == 1 && matches!(value[0].norm.as_str(), "none" | "nothing" | "never" | "no");
    let mut changes = Changes::default();
    match field {
        Field::Title => changes.title = Some(raw_text(value)).filter(|t| !t.is_empty()),
        Field::Description => changes.description = Some(raw_text(value)),
        Field::Tags => changes.add_tags = tag_words(value),
        Field::Priority => {
            let word = value.first()?.norm.as_str();
            changes.priority = priority_word(word)
                .or_else(|| match_priority(value, 0).map(|(_, p)| p))
                .or_else(|| matches!(word, "urgent" | "important").then_some(Priority::High));
            if changes.priority.is_none() {
                return Some(Understood::Reply(
                    "Priorities are low, medium or high.".to_owned(),
                ));
            }
        }
        Field::Due if none => changes.clear_due = true,
        Field::Repeat if none => changes.repeat = Some(None),
        Field::Due | Field::Repeat | Field::Reminder => {
            let mut value = value.to_vec();
            if field == Field::Reminder && !value.iter().any(|w| w.norm == "before") {
                value.push(Word {
                    raw: "before".to_owned(),
                    norm: "before".to_owned(),
                });
            }
            let details = match extract(&value, context) {
                Ok(details) => details,
                Err(reply) => return Some(Understood::Reply(reply)),
            };
            if details.is_empty() || !details.rest.iter().all(|w| is_filler(&w.norm)) {
                return Some(Understood::Reply(format!(
                    "I didn't understand “{}” as a {}.",
                    raw_text(&value),
                    match field {
                        Field::Due => "date or time",
                        Field::Repeat => "recurrence (e.g. every monday, monthly on the 1st)",
                        _ => "reminder (e.g. 30 minutes before)",
                    }
                )));
            }
            changes = Changes::from_details(details);
        }
    }
    update_with(reference, changes, context)
}

/// "dentist is due friday", "pay rent repeats monthly".
pub(crate) fn verbless_update(words: &[Word], context: &Context) -> Option<Understood> {
    let j = words.iter().position(|w| {
        matches!(
            w.norm.as_str(),
            "is" | "due" | "repeats" | "recurs" | "should"
        )
    })?;
    if j == 0 {
        return None;
    }
    let (reference, details) = split_ref_and_details(words, context)?;
    Some(act(
        reference,
        Command::Update(Box::new(Changes::from_details(details))),
        context,
    ))
}
