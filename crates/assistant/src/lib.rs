//! The offline chat assistant: one English message plus its context in, one task tool call (or a
//! question back, or help) out — deterministic, no network, no I/O.
//!
//! How chat-api drives it, per message:
//! 1. [`understand`] the text with a [`Context`] (now, the user's zone, the conversation's
//!    [`Memory`]).
//! 2. [`Understood::NeedsTasks`]: the message names a task by title; list the user's tasks and
//!    call [`Pending::resolve`], which answers one of the other three.
//! 3. [`Understood::Call`]: run the tool through the task operations, then [`reply`] to its JSON
//!    result and [`Memory::after_reply`]. [`Understood::Ask`]: send the question and
//!    [`Memory::after_question`]. [`Understood::Reply`]: send the text and [`Memory::after_text`].
mod dates;
mod details;
mod intents;
mod labels;
mod lists;
mod references;
mod repeats;
mod replies;
mod tools;
mod updates;
mod words;

pub use intents::understand;
pub use references::{Prefer, Resolution, resolve};
pub use replies::{HELP, Reply, reply};
pub use tools::{TOOL_NAMES, ToolCall};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use todo_domain::tz::Tz;
use uuid::Uuid;

/// What a message is read against.
#[derive(Debug, Clone)]
pub struct Context {
    pub now: DateTime<Utc>,
    /// The user's zone: relative dates ("tomorrow 9am") are read on its wall clock.
    pub time_zone: Tz,
    pub memory: Memory,
}

/// What the conversation remembers between messages (chat-api stores it with the conversation).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Memory {
    /// The tasks last shown, numbered from 1 in this order ("done with 2").
    #[serde(default)]
    pub last_list: Vec<TaskSummary>,
    /// The task last added or changed ("remind me 30 minutes before", "delete it").
    #[serde(default)]
    pub last_task: Option<TaskSummary>,
    /// A command waiting for the answer to "which one?".
    #[serde(default)]
    pub pending: Option<Pending>,
}

impl Memory {
    pub fn after_reply(&mut self, reply: &Reply) {
        self.pending = None;
        if let Some(listed) = &reply.listed {
            self.last_list = listed.clone();
        }
        if let Some(task) = &reply.task {
            self.last_task = Some(task.clone());
        }
    }

    pub fn after_question(&mut self, question: &Clarification) {
        self.pending = Some(question.pending.clone());
        self.last_list = question.candidates.clone();
    }

    pub fn after_text(&mut self) {
        self.pending = None;
    }
}

/// What the assistant needs to know of a task to name it and change it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskSummary {
    pub id: Uuid,
    pub title: String,
    #[serde(default)]
    pub completed: bool,
    #[serde(default)]
    pub due_date: Option<DateTime<Utc>>,
    #[serde(default)]
    pub tags: Vec<String>,
}

impl TaskSummary {
    /// From a task's JSON (`task.schema.json`), e.g. a tool result; `None` if it is not a task.
    pub fn from_json(task: &Value) -> Option<Self> {
        Some(Self {
            id: Uuid::parse_str(task.get("id")?.as_str()?).ok()?,
            title: task.get("title")?.as_str()?.to_owned(),
            completed: task.get("status").and_then(Value::as_str) == Some("completed"),
            due_date: task
                .get("due_date")
                .and_then(Value::as_str)
                .and_then(|raw| DateTime::parse_from_rfc3339(raw).ok())
                .map(|t| t.with_timezone(&Utc)),
            tags: task
                .get("tags")
                .and_then(Value::as_array)
                .map(|tags| {
                    tags.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
        })
    }
}

impl From<&todo_domain::Task> for TaskSummary {
    fn from(task: &todo_domain::Task) -> Self {
        Self {
            id: task.id,
            title: task.title.as_str().to_owned(),
            completed: task.status == todo_domain::Status::Completed,
            due_date: task.due_date,
            tags: task.tags.as_slice().to_vec(),
        }
    }
}

/// What a message means.
#[derive(Debug, Clone, PartialEq)]
pub enum Understood {
    /// Run this tool.
    Call(ToolCall),
    /// The message names a task by (part of) its title: resolve it against the user's tasks.
    NeedsTasks(Pending),
    /// Ask back (e.g. which of several tasks was meant).
    Ask(Clarification),
    /// Answer with this text and do nothing (help, or why nothing can be done).
    Reply(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Clarification {
    pub question: String,
    /// The tasks the question lists, numbered from 1.
    pub candidates: Vec<TaskSummary>,
    pub pending: Pending,
}

/// A command on a task not yet identified.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pending {
    /// The words naming the task.
    pub reference: String,
    command: intents::Command,
}

impl Pending {
    /// Finish the command against the user's tasks (all of them, completed included).
    pub fn resolve(&self, tasks: &[TaskSummary], context: &Context) -> Understood {
        intents::resolve_pending(self, tasks, context)
    }
}
