//! What the assistant says: the help text, the answer to a tool's result ("Added “pay rent” — due
//! Mon 1 Dec 09:00, repeats monthly on the 1st"), and the candidates of a "which one?".
use crate::tools::ToolCall;
use crate::{Context, TaskSummary};
use chrono::{DateTime, Datelike, Timelike, Utc};
use serde_json::Value;
use todo_domain::tz::Tz;

pub const HELP: &str = "I can add, list, complete, reopen, change and delete your tasks. Try:
• add pay rent on the 1st of every month at 9am
• remind me to call mom tomorrow 5pm, 30 minutes before
• add report friday #work urgent · water plants every! 3 days
• what's due today? · show my high priority work tasks · overdue · show completed
• done with 2 · reopen the dentist task · delete 3
• rename 2 to buy oat milk · move dentist to friday · set priority of 1 to high";

/// The answer to a tool's result, and what the conversation should remember of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub text: String,
    /// Tasks shown, numbered from 1 (a list result).
    pub listed: Option<Vec<TaskSummary>>,
    /// The task added or changed.
    pub task: Option<TaskSummary>,
}

impl Reply {
    fn text(text: String) -> Self {
        Self {
            text,
            listed: None,
            task: None,
        }
    }
}

/// The reply to `result`, the JSON the tool `call` returned (a Task, a TaskListResponse, or an
/// error body `{"error": {...}}`).
pub fn reply(call: &ToolCall, result: &Value, context: &Context) -> Reply {
    if let Some(error) = result.get("error") {
        let message = error
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("it failed");
        let text = match error.get("code").and_then(Value::as_str) {
            Some("not_found") => {
                "I couldn't find that task any more — it may have been deleted.".to_owned()
            }
            _ => format!("I couldn't do that: {message}."),
        };
        return Reply::text(text);
    }
    if let ToolCall::ListTasks { .. } = call {
        return list_reply(result, context);
    }
    let Some(task) = TaskSummary::from_json(result) else {
        let text = match call {
            ToolCall::DeleteTask { .. } => "Deleted the task.".to_owned(),
            _ => "Done.".to_owned(),
        };
        return Reply::text(text);
    };
    let title = &task.title;
    let zone = task_zone(result, context);
    let text = match call {
        ToolCall::AddTask { .. } => {
            let details = details(result, zone, context);
            if details.is_empty() {
                format!("Added “{title}”.")
            } else {
                format!("Added “{title}” — {}.", details.join(", "))
            }
        }
        ToolCall::CompleteTask { .. } => match repeats(result, zone) {
            Some(rule) => {
                format!("Done: “{title}”. It repeats {rule}, so the next one is on its way.")
            }
            None => format!("Done: “{title}”."),
        },
        ToolCall::DeleteTask { .. } => {
            return Reply {
                text: format!("Deleted “{title}”."),
                listed: None,
                task: None,
            };
        }
        ToolCall::UpdateTask { changes, .. } => {
            match changes.get("status").and_then(Value::as_str) {
                Some("pending") => format!("Reopened “{title}”."),
                Some("in_progress") => format!("Started “{title}”."),
                _ => {
                    let changed = changed(changes, result, zone, context);
                    format!("Updated “{title}”: {}.", changed.join(", "))
                }
            }
        }
        ToolCall::ListTasks { .. } => unreachable!("handled above"),
    };
    Reply {
        text,
        listed: None,
        task: Some(task),
    }
}

fn task_zone(task: &Value, context: &Context) -> Tz {
    task.get("time_zone")
        .and_then(Value::as_str)
        .and_then(|name| name.parse().ok())
        .unwrap_or(context.time_zone)
}

fn list_reply(result: &Value, context: &Context) -> Reply {
    let items: Vec<&Value> = result
        .get("items")
        .and_then(Value::as_array)
        .map(|items| items.iter().collect())
        .unwrap_or_default();
    let listed: Vec<TaskSummary> = items
        .iter()
        .filter_map(|t| TaskSummary::from_json(t))
        .collect();
    if listed.is_empty() {
        return Reply {
            text: "No tasks match.".to_owned(),
            listed: Some(listed),
            task: None,
        };
    }
    let lines: Vec<String> = items
        .iter()
        .enumerate()
        .map(|(n, task)| {
            let zone = task_zone(task, context);
            let mut line = format!("{}. {}", n + 1, task["title"].as_str().unwrap_or(""));
            let mut facts = Vec::new();
            if task["status"] == "completed" {
                facts.push("done".to_owned());
            }
            facts.extend(details(task, zone, context));
            if !facts.is_empty() {
                line.push_str(" — ");
                line.push_str(&facts.join(", "));
            }
            line
        })
        .collect();
    let more = if result.get("next_cursor").is_some_and(|c| !c.is_null()) {
        "\n(There are more; narrow it down, e.g. \"show my high priority tasks due this week\".)"
    } else {
        ""
    };
    Reply {
        text: format!("{}\n{}{more}", count(listed.len()), lines.join("\n")),
        listed: Some(listed),
        task: None,
    }
}

fn count(n: usize) -> String {
    if n == 1 {
        "1 task:".to_owned()
    } else {
        format!("{n} tasks:")
    }
}

const WEEKDAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];
const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

fn weekday_name(day: impl Datelike) -> &'static str {
    WEEKDAYS[day.weekday().num_days_from_monday() as usize]
}

fn month_name(day: impl Datelike) -> &'static str {
    MONTHS[day.month0() as usize]
}

/// "Mon 1 Dec 09:00" (with the year when it is not this year's). Written out by hand: chrono's
/// `format` would add its strftime machinery to every component that links the assistant.
pub(crate) fn format_when(t: DateTime<Utc>, zone: Tz, context: &Context) -> String {
    let local = t.with_timezone(&zone);
    let this_year = context.now.with_timezone(&zone).year();
    let year = if local.year() == this_year {
        String::new()
    } else {
        format!(" {}", local.year())
    };
    format!(
        "{} {} {}{year} {:02}:{:02}",
        &weekday_name(local)[..3],
        local.day(),
        &month_name(local)[..3],
        local.hour(),
        local.minute()
    )
}

fn due(task: &Value) -> Option<DateTime<Utc>> {
    let raw = task.get("due_date")?.as_str()?;
    DateTime::parse_from_rfc3339(raw)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Due date, recurrence, reminder, priority and tags of a task, in words.
fn details(task: &Value, zone: Tz, context: &Context) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(due) = due(task) {
        out.push(format!("due {}", format_when(due, zone, context)));
    }
    if let Some(rule) = repeats(task, zone) {
        out.push(format!("repeats {rule}"));
    }
    if let Some(minutes) = task.get("reminder_offset_minutes").and_then(Value::as_u64) {
        out.push(reminder(minutes));
    }
    if let Some(priority) = task.get("priority").and_then(Value::as_str)
        && priority != "medium"
    {
        out.push(format!("{priority} priority"));
    }
    let tags: Vec<String> = task
        .get("tags")
        .and_then(Value::as_array)
        .map(|tags| {
            tags.iter()
                .filter_map(Value::as_str)
                .map(|t| format!("#{t}"))
                .collect()
        })
        .unwrap_or_default();
    if !tags.is_empty() {
        out.push(tags.join(" "));
    }
    out
}

fn reminder(minutes: u64) -> String {
    if minutes == 0 {
        return "reminder at the due time".to_owned();
    }
    let (amount, unit) = match minutes {
        m if m % 10080 == 0 => (m / 10080, "week"),
        m if m % 1440 == 0 => (m / 1440, "day"),
        m if m % 60 == 0 => (m / 60, "hour"),
        m => (m, "minute"),
    };
    let plural = if amount == 1 { "" } else { "s" };
    format!("reminder {amount} {unit}{plural} before")
}

fn changed(
    changes: &serde_json::Map<String, Value>,
    task: &Value,
    zone: Tz,
    context: &Context,
) -> Vec<String> {
    let mut out = Vec::new();
    for (field, value) in changes {
        let text = match (field.as_str(), value) {
            ("title", _) => "renamed".to_owned(),
            ("description", _) => "description set".to_owned(),
            ("priority", Value::String(p)) => format!("{p} priority"),
            ("tags", _) => {
                let tags: Vec<String> = task["tags"]
                    .as_array()
                    .map(|t| {
                        t.iter()
                            .filter_map(Value::as_str)
                            .map(|t| format!("#{t}"))
                            .collect()
                    })
                    .unwrap_or_default();
                format!("tags {}", tags.join(" "))
            }
            ("due_date", Value::Null) => "no due date".to_owned(),
            ("due_date", _) => match due(task) {
                Some(due) => format!("due {}", format_when(due, zone, context)),
                None => continue,
            },
            ("reminder_offset_minutes", Value::Null) => "no reminder".to_owned(),
            ("reminder_offset_minutes", v) => reminder(v.as_u64().unwrap_or(0)),
            ("recurrence_rule", Value::Null) => "no longer repeats".to_owned(),
            ("recurrence_rule", _) => match repeats(task, zone) {
                Some(rule) => format!("repeats {rule}"),
                None => continue,
            },
            _ => continue,
        };
        if field == "reminder_offset_minutes" && changes.get("due_date") == Some(&Value::Null) {
            continue;
        }
        out.push(text);
    }
    if out.is_empty() {
        out.push("saved".to_owned());
    }
    out
}

/// The task's recurrence in words ("monthly on the 1st", "every weekday"), if it repeats.
fn repeats(task: &Value, zone: Tz) -> Option<String> {
    let rule = task.get("recurrence_rule")?.as_str()?;
    let local = due(task).map(|d| d.with_timezone(&zone));
    let weekday = local.map(weekday_name);
    let mut text = match rule {
        "daily" => "daily".to_owned(),
        "weekly" => match &weekday {
            Some(day) => format!("weekly on {day}"),
            None => "weekly".to_owned(),
        },
        "monthly" => match local {
            Some(d) => format!("monthly on the {}", ordinal(d.day())),
            None => "monthly".to_owned(),
        },
        "yearly" => match local {
            Some(d) => format!("yearly on {} {}", d.day(), month_name(d)),
            None => "yearly".to_owned(),
        },
        "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR" => "every weekday".to_owned(),
        "FREQ=WEEKLY;BYDAY=SA,SU" => "every weekend".to_owned(),
        "FREQ=MONTHLY;BYMONTHDAY=-1" => "on the last day of every month".to_owned(),
        rule if rule.starts_with("every ") => rule.to_owned(),
        rule => describe_rrule(rule).unwrap_or_else(|| format!("by the rule {rule}")),
    };
    if task.get("repeat_from").and_then(Value::as_str) == Some("completion") {
        text.push_str(" (counted from completion)");
    }
    Some(text)
}

fn describe_rrule(rule: &str) -> Option<String> {
    let parts: Vec<(&str, &str)> = rule.split(';').filter_map(|p| p.split_once('=')).collect();
    let get = |key: &str| parts.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
    if parts
        .iter()
        .any(|(k, _)| !matches!(*k, "FREQ" | "INTERVAL" | "BYDAY"))
    {
        return None;
    }
    let interval: u32 = get("INTERVAL").map_or(Some(1), |i| i.parse().ok())?;
    let unit = match get("FREQ")? {
        "DAILY" => "day",
        "WEEKLY" => "week",
        "MONTHLY" => "month",
        "YEARLY" => "year",
        _ => return None,
    };
    let every = if interval == 1 {
        format!("every {unit}")
    } else {
        format!("every {interval} {unit}s")
    };
    let Some(days) = get("BYDAY") else {
        return Some(every);
    };
    let names: Option<Vec<&str>> = days
        .split(',')
        .map(|d| match d {
            "MO" => Some("Monday"),
            "TU" => Some("Tuesday"),
            "WE" => Some("Wednesday"),
            "TH" => Some("Thursday"),
            "FR" => Some("Friday"),
            "SA" => Some("Saturday"),
            "SU" => Some("Sunday"),
            _ => None,
        })
        .collect();
    let names = join_and(&names?);
    if unit == "week" && interval == 1 {
        Some(format!("every {names}"))
    } else {
        Some(format!("{every} on {names}"))
    }
}

fn join_and(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

fn ordinal(n: u32) -> String {
    let suffix = match (n % 100, n % 10) {
        (11..=13, _) => "th",
        (_, 1) => "st",
        (_, 2) => "nd",
        (_, 3) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// "1. Call the dentist — due Fri 5 Dec 15:00" lines for a "which one?".
pub(crate) fn describe_candidates(
    candidates: &[TaskSummary],
    zone: Tz,
    context: &Context,
) -> String {
    candidates
        .iter()
        .enumerate()
        .map(|(n, task)| {
            let mut line = format!("{}. {}", n + 1, task.title);
            if task.completed {
                line.push_str(" — done");
            } else if let Some(due) = task.due_date {
                line.push_str(&format!(" — due {}", format_when(due, zone, context)));
            }
            line
        })
        .collect::<Vec<_>>()
        .join("\n")
}
