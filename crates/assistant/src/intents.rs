//! What a message asks for: add, list, complete, reopen, start, delete, update — or help.
//!
//! Each intent is recognised by its leading words ("add", "remind me to", "done with", "move …
//! to"), then the rest is read for a task reference (a number from the last list, "it", or title
//! words) and for details (dates, recurrence, priority, tags, reminder). Adding needs an explicit
//! verb: a bare "buy milk" gets the help text rather than a guess.
use crate::dates::{self, When, first_ahead};
use crate::details::extract;
use crate::lists::{list_query, starts_like_a_question};
use crate::references::{Prefer, Resolution, resolve};
use crate::replies::{HELP, describe_candidates};
use crate::tools::ToolCall;
use crate::updates::{Changes, update, update_arguments, verbless_update};
use crate::words::{QUOTED, Word, number, ordinal, raw_text, split, starts_with};
use crate::{Clarification, Context, Pending, TaskSummary, Understood};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use todo_domain::Priority;

/// What to do to a task once it is identified.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum Command {
    Complete,
    Reopen,
    Start,
    Delete,
    Update(Box<Changes>),
}

impl Command {
    fn prefers(&self) -> Prefer {
        match self {
            Self::Reopen => Prefer::Completed,
            _ => Prefer::Open,
        }
    }
}

/// How a message names a task.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Ref {
    Number(u32),
    LastInList,
    /// "it", "that": the task last added or changed.
    Last,
    Title(String),
}

/// One intent's reader: `None` when the message is not of its kind.
type Parser = fn(&[Word], &Context) -> Option<Understood>;

/// Read `text` against `context`.
pub fn understand(text: &str, context: &Context) -> Understood {
    let all = split(text);
    let words = strip_politeness(&all);
    if let Some(answer) = answer_to_question(words, context) {
        return answer;
    }
    if words.is_empty() || is_help(words) {
        return Understood::Reply(HELP.to_owned());
    }
    let text = crate::words::norm_text(words);
    if matches!(
        text.as_str(),
        "thanks" | "thank you" | "thx" | "ty" | "cheers" | "great" | "ok" | "okay" | "cool"
    ) {
        return Understood::Reply("You're welcome!".to_owned());
    }
    let parsers: [Parser; 8] = [
        update,
        complete,
        reopen,
        start,
        delete,
        add,
        |words, context| list_query(words, context).map(Understood::Call),
        verbless_update,
    ];
    parsers
        .iter()
        .find_map(|parse| parse(words, context))
        .unwrap_or_else(|| Understood::Reply(HELP.to_owned()))
}

fn strip_politeness(words: &[Word]) -> &[Word] {
    const LEADING: [&str; 20] = [
        "please",
        "pls",
        "plz",
        "can you",
        "could you",
        "would you",
        "will you",
        "can u",
        "hey",
        "ok",
        "okay",
        "so",
        "also",
        "now",
        "kindly",
        "i want you to",
        "i'd like you to",
        "assistant",
        "and",
        "then",
    ];
    const TRAILING: [&str; 5] = ["please", "pls", "thanks", "thank you", "thx"];
    let mut words = words;
    'strip: loop {
        for phrase in LEADING {
            let len = phrase.split(' ').count();
            if starts_with(words, phrase) && words.len() > len {
                words = &words[len..];
                continue 'strip;
            }
        }
        for phrase in TRAILING {
            let len = phrase.split(' ').count();
            if words.len() > len && starts_with(&words[words.len() - len..], phrase) {
                words = &words[..words.len() - len];
                continue 'strip;
            }
        }
        return words;
    }
}

fn is_help(words: &[Word]) -> bool {
    const HELP_PHRASES: [&str; 14] = [
        "help",
        "?",
        "what can you do",
        "what do you do",
        "how does this work",
        "how do i use this",
        "commands",
        "hi",
        "hello",
        "hey",
        "hi there",
        "hello there",
        "who are you",
        "menu",
    ];
    let text = crate::words::norm_text(words);
    HELP_PHRASES.contains(&text.as_str()) || starts_with(words, "help")
}

/// "2", "the second one" after "which one?".
fn answer_to_question(words: &[Word], context: &Context) -> Option<Understood> {
    let pending = context.memory.pending.as_ref()?;
    let text = crate::words::norm_text(words);
    if matches!(
        text.as_str(),
        "cancel" | "never mind" | "nevermind" | "forget it" | "no" | "none" | "neither" | "stop"
    ) {
        return Some(Understood::Reply(
            "OK, I left your tasks as they were.".to_owned(),
        ));
    }
    let task = match parse_ref(words)? {
        Ref::Number(n) => context.memory.last_list.get(n.checked_sub(1)? as usize)?,
        Ref::LastInList => context.memory.last_list.last()?,
        Ref::Last | Ref::Title(_) => return None,
    };
    Some(build(task, &pending.command, context))
}

// ---------------------------------------------------------------------------------------
// References
// ---------------------------------------------------------------------------------------

pub(crate) fn parse_ref(words: &[Word]) -> Option<Ref> {
    let mut words = words;
    while let [first, rest @ ..] = words
        && !rest.is_empty()
        && matches!(
            first.norm.as_str(),
            "the" | "my" | "task" | "todo" | "item" | "number" | "no" | "num" | "#"
        )
    {
        words = rest;
    }
    while let [rest @ .., last] = words
        && !rest.is_empty()
        && matches!(
            last.norm.as_str(),
            "task" | "todo" | "item" | "one" | "off" | "please" | "from" | "list"
        )
    {
        words = rest;
    }
    // "from my list", "on the list"
    if let [rest @ .., a, b] = words
        && !rest.is_empty()
        && matches!(a.norm.as_str(), "my" | "the")
        && b.norm == "list"
    {
        words = rest;
    }
    match words {
        [] => None,
        [one] => {
            let word = one.norm.trim_start_matches('#');
            if one.norm == QUOTED {
                return Some(Ref::Title(one.raw.clone()));
            }
            if let Some(n) = number(word).filter(|n| *n >= 1) {
                return Some(Ref::Number(n));
            }
            if let Some(n) = ordinal(word) {
                return Some(Ref::Number(n));
            }
            match word {
                "it" | "that" | "this" => Some(Ref::Last),
                "last" => Some(Ref::LastInList),
                _ => Some(Ref::Title(raw_text(words))),
            }
        }
        _ => Some(Ref::Title(raw_text(words))).filter(|r| *r != Ref::Title(String::new())),
    }
}

/// `command` on the task `words` name; with no words, ask which.
fn act_on(words: &[Word], command: Command, context: &Context) -> Understood {
    match parse_ref(words) {
        Some(reference) => act(reference, command, context),
        None => {
            Understood::Reply("Which task? Name it, or give its number from the list.".to_owned())
        }
    }
}

/// Carry out `command` on the task `reference` names.
pub(crate) fn act(reference: Ref, command: Command, context: &Context) -> Understood {
    let memory = &context.memory;
    let task = match reference {
        Ref::Number(n) => match memory.last_list.get(n as usize - 1) {
            Some(task) => task,
            None if memory.last_list.is_empty() => {
                return Understood::Reply(format!(
                    "I don't have a list to take number {n} from. Say \"show my tasks\" first, or name the task."
                ));
            }
            None => {
                return Understood::Reply(format!(
                    "The last list had {} task{}; there's no number {n}.",
                    memory.last_list.len(),
                    if memory.last_list.len() == 1 { "" } else { "s" }
                ));
            }
        },
        Ref::LastInList => match memory.last_list.last() {
            Some(task) => task,
            None => {
                return Understood::Reply(
                    "Which task? Name it, or say \"show my tasks\" first.".to_owned(),
                );
            }
        },
        Ref::Last => match &memory.last_task {
            Some(task) => task,
            None => {
                return Understood::Reply(
                    "Which task? Name it, or give its number from the list.".to_owned(),
                );
            }
        },
        Ref::Title(reference) => {
            let lower = reference.to_lowercase();
            if matches!(
                lower.as_str(),
                "all" | "everything" | "all tasks" | "all of them" | "them"
            ) {
                return Understood::Reply(
                    "I change one task at a time: name it, or give its number from the list."
                        .to_owned(),
                );
            }
            return Understood::NeedsTasks(Pending { reference, command });
        }
    };
    build(task, &command, context)
}

pub(crate) fn resolve_pending(
    pending: &Pending,
    tasks: &[TaskSummary],
    context: &Context,
) -> Understood {
    match resolve(&pending.reference, tasks, pending.command.prefers()) {
        Resolution::Found(task) => build(&task, &pending.command, context),
        Resolution::Ambiguous(candidates) => Understood::Ask(Clarification {
            question: format!(
                "Which one do you mean?\n{}\nAnswer with its number.",
                describe_candidates(&candidates, context.time_zone, context)
            ),
            candidates,
            pending: pending.clone(),
        }),
        Resolution::NotFound => Understood::Reply(format!(
            "I couldn't find a task matching “{}”. Say \"show my tasks\" to see them.",
            pending.reference
        )),
    }
}

pub(crate) fn instant(t: DateTime<Utc>) -> Value {
    json!(t.to_rfc3339_opts(SecondsFormat::Secs, true))
}

pub(crate) fn priority_name(priority: Priority) -> &'static str {
    match priority {
        Priority::Low => "low",
        Priority::Medium => "medium",
        Priority::High => "high",
    }
}

/// The tool call for `command` on a known task.
pub(crate) fn build(task: &TaskSummary, command: &Command, context: &Context) -> Understood {
    let status = |status: &str| {
        let mut changes = Map::new();
        changes.insert("status".to_owned(), json!(status));
        ToolCall::UpdateTask {
            task_id: task.id,
            changes,
        }
    };
    let call = match command {
        Command::Complete => ToolCall::CompleteTask { task_id: task.id },
        Command::Delete => ToolCall::DeleteTask { task_id: task.id },
        Command::Reopen => status("pending"),
        Command::Start => status("in_progress"),
        Command::Update(changes) => match update_arguments(task, changes, context) {
            Ok(changes) => ToolCall::UpdateTask {
                task_id: task.id,
                changes,
            },
            Err(reply) => return Understood::Reply(reply),
        },
    };
    Understood::Call(call)
}

// ---------------------------------------------------------------------------------------
// Intents
// ---------------------------------------------------------------------------------------

/// The words after the first of `prefixes` that `words` starts with.
pub(crate) fn after_prefix<'a>(words: &'a [Word], prefixes: &[&str]) -> Option<&'a [Word]> {
    prefixes
        .iter()
        .find(|p| starts_with(words, p))
        .map(|p| &words[p.split(' ').count()..])
}

fn complete(words: &[Word], context: &Context) -> Option<Understood> {
    const PREFIXES: [&str; 25] = [
        "i'm done with",
        "im done with",
        "i am done with",
        "i'm finished with",
        "i've finished",
        "i have finished",
        "i finished",
        "i've completed",
        "i have completed",
        "i completed",
        "i've done",
        "i have done",
        "i did",
        "done with",
        "finished with",
        "complete",
        "completed",
        "finish",
        "finished",
        "done",
        "check off",
        "tick off",
        "cross off",
        "check",
        "tick",
    ];
    if let Some(rest) = after_prefix(words, &PREFIXES) {
        return Some(act_on(rest, Command::Complete, context));
    }
    if let Some(rest) = after_prefix(words, &["mark", "set"]) {
        let (reference, status) = mark_status(rest)?;
        return Some(act(parse_ref(reference)?, status, context));
    }
    // "2 is done", "pay rent done" (but "show done" is a list question)
    if starts_like_a_question(words) {
        return None;
    }
    const SUFFIXES: [&str; 8] = [
        "is done",
        "is complete",
        "is completed",
        "is finished",
        "done",
        "complete",
        "completed",
        "finished",
    ];
    for suffix in SUFFIXES {
        let len = suffix.split(' ').count();
        if words.len() > len && starts_with(&words[words.len() - len..], suffix) {
            return Some(act(
                parse_ref(&words[..words.len() - len])?,
                Command::Complete,
                context,
            ));
        }
    }
    None
}

/// "2 as done", "dentist as not done", "3 in progress".
fn mark_status(rest: &[Word]) -> Option<(&[Word], Command)> {
    const STATUSES: [(&str, bool); 16] = [
        ("not done", false),
        ("undone", false),
        ("not complete", false),
        ("not completed", false),
        ("incomplete", false),
        ("uncompleted", false),
        ("open", false),
        ("pending", false),
        ("todo", false),
        ("to do", false),
        ("active", false),
        ("done", true),
        ("complete", true),
        ("completed", true),
        ("finished", true),
        ("in progress", true),
    ];
    for k in 1..rest.len() {
        let tail = &rest[k..];
        let tail = after_prefix(tail, &["as"]).unwrap_or(tail);
        for (status, _) in STATUSES {
            if status.split(' ').count() == tail.len() && starts_with(tail, status) {
                let command = match status {
                    "done" | "complete" | "completed" | "finished" => Command::Complete,
                    "in progress" => Command::Start,
                    _ => Command::Reopen,
                };
                return Some((&rest[..k], command));
            }
        }
        if starts_with(tail, "started") && tail.len() == 1 {
            return Some((&rest[..k], Command::Start));
        }
    }
    None
}

fn reopen(words: &[Word], context: &Context) -> Option<Understood> {
    const PREFIXES: [&str; 10] = [
        "reopen",
        "re-open",
        "uncomplete",
        "un-complete",
        "undo",
        "unmark",
        "unfinish",
        "restore",
        "reactivate",
        "uncheck",
    ];
    if let Some(rest) = after_prefix(words, &PREFIXES) {
        return Some(act_on(rest, Command::Reopen, context));
    }
    const SUFFIXES: [&str; 5] = [
        "is not done",
        "isn't done",
        "is not finished",
        "isn't finished",
        "is not complete",
    ];
    for suffix in SUFFIXES {
        let len = suffix.split(' ').count();
        if words.len() > len && starts_with(&words[words.len() - len..], suffix) {
            return Some(act(
                parse_ref(&words[..words.len() - len])?,
                Command::Reopen,
                context,
            ));
        }
    }
    None
}

fn start(words: &[Word], context: &Context) -> Option<Understood> {
    const PREFIXES: [&str; 11] = [
        "i'm working on",
        "im working on",
        "i am working on",
        "i'm starting",
        "i started",
        "i've started",
        "start working on",
        "working on",
        "start on",
        "start",
        "begin",
    ];
    let rest = after_prefix(words, &PREFIXES)?;
    Some(act_on(rest, Command::Start, context))
}

fn delete(words: &[Word], context: &Context) -> Option<Understood> {
    const PREFIXES: [&str; 14] = [
        "get rid of",
        "forget about",
        "delete",
        "remove",
        "del",
        "cancel",
        "drop",
        "trash",
        "erase",
        "discard",
        "scrap",
        "forget",
        "bin",
        "rm",
    ];
    let rest = after_prefix(words, &PREFIXES)?;
    Some(act_on(rest, Command::Delete, context))
}

const ADD_PREFIXES: [&str; 42] = [
    "add a new task to",
    "add a task to",
    "add task to",
    "add a reminder to",
    "add reminder to",
    "add a new task",
    "add a task",
    "add task",
    "add a todo",
    "add todo",
    "add",
    "create a task to",
    "create a new task",
    "create a task",
    "create task",
    "create",
    "new task",
    "new todo",
    "new",
    "todo",
    "to do",
    "to-do",
    "task",
    "remind me that i need to",
    "remind me that i have to",
    "remind me that",
    "remind me to",
    "remind me about",
    "remind me of",
    "remind me",
    "remember to",
    "i need to",
    "i have to",
    "i must",
    "i should",
    "i gotta",
    "i've got to",
    "don't forget to",
    "dont forget to",
    "do not forget to",
    "note to self",
    "schedule",
];

fn add(words: &[Word], context: &Context) -> Option<Understood> {
    let prefix = ADD_PREFIXES.iter().find(|p| starts_with(words, p))?;
    let reminds = prefix.starts_with("remind me") || prefix.contains("reminder");
    let mut rest = &words[prefix.split(' ').count()..];
    while let [first, tail @ ..] = rest
        && matches!(first.norm.as_str(), "to" | ":" | "-" | "that")
    {
        rest = tail;
    }
    let rest = strip_list_suffix(rest);
    let details = match extract(rest, context) {
        Ok(details) => details,
        Err(reply) => return Some(Understood::Reply(reply)),
    };
    let title = clean_title(&details.rest);
    if title.is_empty() {
        return Some(Understood::Reply(
            "What's the task? For example: \"add pay rent on the 1st of every month at 9am\"."
                .to_owned(),
        ));
    }
    let (now, tz) = (context.now, context.time_zone);
    let due = match &details.repeat {
        Some(repeat) if details.when.date.is_none() => Some(first_ahead(
            &repeat.anchor,
            details.when.time.or(repeat.time),
            now,
            tz,
        )),
        Some(repeat) => dates::resolve(
            &When {
                date: details.when.date.clone(),
                time: details.when.time.or(repeat.time),
            },
            now,
            tz,
        ),
        None => dates::resolve(&details.when, now, tz),
    };
    let mut task = Map::new();
    task.insert("title".to_owned(), json!(title));
    if let Some(due) = due {
        task.insert("due_date".to_owned(), instant(due));
    }
    task.insert("time_zone".to_owned(), json!(tz.name()));
    if let Some(priority) = details.priority {
        task.insert("priority".to_owned(), json!(priority_name(priority)));
    }
    if !details.tags.is_empty() {
        let mut tags: Vec<String> = details.tags.iter().map(|t| t.to_lowercase()).collect();
        tags.sort();
        tags.dedup();
        task.insert("tags".to_owned(), json!(tags));
    }
    match (details.reminder, due) {
        (Some(_), None) => {
            return Some(Understood::Reply(format!(
                "A reminder needs a due date. Say when “{title}” is due, e.g. \"add {title} friday 3pm, remind me 30 minutes before\"."
            )));
        }
        (Some(minutes), Some(_)) => {
            task.insert("reminder_offset_minutes".to_owned(), json!(minutes));
        }
        // "remind me to …" with a time: remind at the due time.
        (None, Some(_)) if reminds => {
            task.insert("reminder_offset_minutes".to_owned(), json!(0));
        }
        _ => {}
    }
    if let Some(repeat) = &details.repeat {
        task.insert("recurrence_rule".to_owned(), json!(repeat.rule));
        if repeat.from_completion {
            task.insert("repeat_from".to_owned(), json!("completion"));
        }
    }
    Some(Understood::Call(ToolCall::AddTask { task }))
}

/// Drop "to my list", "to my todo list", "on the list" at the end.
fn strip_list_suffix(words: &[Word]) -> &[Word] {
    for len in [4, 3] {
        if words.len() > len {
            let tail = &words[words.len() - len..];
            let fits = matches!(tail[0].norm.as_str(), "to" | "on" | "in")
                && matches!(tail[1].norm.as_str(), "my" | "the")
                && tail
                    .last()
                    .is_some_and(|w| matches!(w.norm.as_str(), "list" | "tasks" | "todos"))
                && (len == 3 || matches!(tail[2].norm.as_str(), "todo" | "to-do" | "task"));
            if fits {
                return &words[..words.len() - len];
            }
        }
    }
    words
}

/// The title from the words no detail claimed, without dangling connectors.
fn clean_title(words: &[Word]) -> String {
    if let Some(quoted) = words.iter().find(|w| w.norm == QUOTED) {
        return quoted.raw.clone();
    }
    let dangling = |w: &Word| {
        matches!(
            w.norm.as_str(),
            "and"
                | "on"
                | "at"
                | "by"
                | "due"
                | "for"
                | "with"
                | "every"
                | "in"
                | "then"
                | "-"
                | "please"
                | "starting"
                | "from"
                | "repeat"
                | "repeating"
                | "recurring"
                | "to"
                | "a"
                | "reminder"
                | "priority"
                | "it"
                | "is"
                | "that"
        )
    };
    let mut words = words;
    while let [rest @ .., last] = words
        && dangling(last)
    {
        words = rest;
    }
    while let [first, rest @ ..] = words
        && matches!(first.norm.as_str(), "to" | "-" | "that")
    {
        words = rest;
    }
    raw_text(words)
}
