//! The chat tools of docs/contracts.md (`add_task`, `list_tasks`, `complete_task`, `delete_task`,
//! `update_task`) with their argument objects:
//!
//! | tool | arguments |
//! |---|---|
//! | `add_task` | a `POST /api/tasks` body (`task-create.schema.json`) |
//! | `list_tasks` | `GET /api/tasks` parameters as JSON: strings, `true`/`false` for the boolean ones, and `priority` / `tags` as a string array or a comma list |
//! | `complete_task`, `delete_task` | `{"task_id": UUID}` |
//! | `update_task` | `{"task_id": UUID, …}` plus a non-empty `PATCH /api/tasks/{id}` body (`task-patch.schema.json`); reopening is `{"status": "pending"}` |
//!
//! [`ToolCall::parse`] checks arguments with the same parsers as the REST API, so an LLM's tool
//! call and the offline assistant's are accepted or refused alike.
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use todo_domain::{FieldError, ListQuery, TaskDraft, TaskPatch};
use uuid::Uuid;

pub const TOOL_NAMES: [&str; 5] = [
    "add_task",
    "list_tasks",
    "complete_task",
    "delete_task",
    "update_task",
];

/// One call of a chat tool; each variant is one tool, `arguments()` its JSON.
#[derive(Debug, Clone, PartialEq)]
pub enum ToolCall {
    AddTask {
        task: Map<String, Value>,
    },
    ListTasks {
        query: Map<String, Value>,
    },
    CompleteTask {
        task_id: Uuid,
    },
    DeleteTask {
        task_id: Uuid,
    },
    UpdateTask {
        task_id: Uuid,
        changes: Map<String, Value>,
    },
}

impl ToolCall {
    pub fn name(&self) -> &'static str {
        match self {
            Self::AddTask { .. } => "add_task",
            Self::ListTasks { .. } => "list_tasks",
            Self::CompleteTask { .. } => "complete_task",
            Self::DeleteTask { .. } => "delete_task",
            Self::UpdateTask { .. } => "update_task",
        }
    }

    /// The tool's argument object, as stored in a chat response's `tool_calls`.
    pub fn arguments(&self) -> Value {
        match self {
            Self::AddTask { task } => Value::Object(task.clone()),
            Self::ListTasks { query } => Value::Object(query.clone()),
            Self::CompleteTask { task_id } | Self::DeleteTask { task_id } => {
                json!({ "task_id": task_id })
            }
            Self::UpdateTask { task_id, changes } => {
                let mut arguments = Map::new();
                arguments.insert("task_id".to_owned(), json!(task_id));
                arguments.extend(changes.clone());
                Value::Object(arguments)
            }
        }
    }

    /// Read a tool call (e.g. an LLM's), checking its arguments as the REST API checks a body or
    /// query. `now` is only needed to check list parameters.
    pub fn parse(name: &str, arguments: &Value, now: DateTime<Utc>) -> Result<Self, FieldError> {
        let Value::Object(object) = arguments else {
            return Err(FieldError::general("tool arguments must be a JSON object"));
        };
        let call = match name {
            "add_task" => {
                TaskDraft::from_json(arguments)?;
                Self::AddTask {
                    task: object.clone(),
                }
            }
            "list_tasks" => {
                let call = Self::ListTasks {
                    query: object.clone(),
                };
                let pairs = call.query_pairs().unwrap_or_default();
                ListQuery::parse(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())), now)?;
                call
            }
            "complete_task" | "delete_task" => {
                let task_id = task_id(object)?;
                if let Some(other) = object.keys().find(|k| *k != "task_id") {
                    return Err(FieldError::new(other.clone(), "unknown argument"));
                }
                if name == "complete_task" {
                    Self::CompleteTask { task_id }
                } else {
                    Self::DeleteTask { task_id }
                }
            }
            "update_task" => {
                let task_id = task_id(object)?;
                let mut changes = object.clone();
                changes.remove("task_id");
                if changes.is_empty() {
                    return Err(FieldError::general(
                        "update_task needs at least one field to change",
                    ));
                }
                TaskPatch::from_json(&Value::Object(changes.clone()))?;
                Self::UpdateTask { task_id, changes }
            }
            other => return Err(FieldError::general(format!("unknown tool {other:?}"))),
        };
        Ok(call)
    }

    /// `list_tasks` arguments as `GET /api/tasks` query pairs (for `ListQuery::parse`).
    pub fn query_pairs(&self) -> Option<Vec<(String, String)>> {
        let Self::ListTasks { query } = self else {
            return None;
        };
        let pairs = query
            .iter()
            .map(|(name, value)| {
                let text = match value {
                    Value::String(s) => s.clone(),
                    Value::Array(items) => items
                        .iter()
                        .map(|item| match item {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        })
                        .collect::<Vec<_>>()
                        .join(","),
                    Value::Null => String::new(),
                    other => other.to_string(),
                };
                (name.clone(), text)
            })
            .collect();
        Some(pairs)
    }
}

fn task_id(object: &Map<String, Value>) -> Result<Uuid, FieldError> {
    object
        .get("task_id")
        .and_then(Value::as_str)
        .and_then(|raw| Uuid::parse_str(raw).ok())
        .ok_or_else(|| FieldError::new("task_id", "must be the task's id (a UUID)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-11-29T10:00:00Z".parse().unwrap()
    }

    #[test]
    fn calls_round_trip_through_their_arguments() {
        let id = Uuid::from_u128(7);
        let calls = [
            ToolCall::AddTask {
                task: json!({"title": "pay rent"}).as_object().unwrap().clone(),
            },
            ToolCall::ListTasks {
                query: json!({"status": "active", "tags": ["work"], "overdue": true})
                    .as_object()
                    .unwrap()
                    .clone(),
            },
            ToolCall::CompleteTask { task_id: id },
            ToolCall::DeleteTask { task_id: id },
            ToolCall::UpdateTask {
                task_id: id,
                changes: json!({"priority": "high"}).as_object().unwrap().clone(),
            },
        ];
        for call in calls {
            assert!(TOOL_NAMES.contains(&call.name()));
            let parsed = ToolCall::parse(call.name(), &call.arguments(), now()).unwrap();
            assert_eq!(parsed, call);
        }
    }

    #[test]
    fn bad_arguments_are_refused_naming_the_field() {
        let err = |name: &str, args: Value| ToolCall::parse(name, &args, now()).unwrap_err();
        assert_eq!(err("add_task", json!({})).field.as_deref(), Some("title"));
        assert_eq!(
            err("add_task", json!({"title": "x", "priority": "urgent"}))
                .field
                .as_deref(),
            Some("priority")
        );
        assert_eq!(
            err("complete_task", json!({"task_id": "7"}))
                .field
                .as_deref(),
            Some("task_id")
        );
        assert_eq!(
            err("list_tasks", json!({"overdue": "maybe"}))
                .field
                .as_deref(),
            Some("overdue")
        );
        assert!(
            err("update_task", json!({"task_id": Uuid::nil()}))
                .field
                .is_none()
        );
        assert!(err("get_weather", json!({})).field.is_none());
        assert!(err("add_task", json!("pay rent")).field.is_none());
    }
}
