//! The chat tools run through the task operations ([`crate::Tasks`]), so a change made by chat is
//! validated, versioned, evented and schedules or cancels reminders exactly as through REST; and
//! the tools' JSON Schemas for an LLM, derived from the contract files at build time.
use crate::chat::conversations::ToolCallRecord;
use crate::idempotency::Idempotency;
use crate::operations::Change;
use crate::{ApiError, Runtime, Tasks};
use assistant::ToolCall;
use chrono::{DateTime, Utc};
use serde_json::Value;
use todo_domain::{ListQuery, TaskDraft, TaskPatch};

/// A tool call that ran: what the chat answers and stores, and the events it published.
#[derive(Debug)]
pub struct Ran {
    pub record: ToolCallRecord,
    pub published: Vec<String>,
}

/// Run `call` as `user`. Its result is the task, the list page, or — when the operation refused —
/// the error body the REST API would answer (`{"error": {...}}`), for the assistant to show. An
/// error of the service itself (5xx: the store unreachable, a bug) fails the whole chat request.
/// `create_key` makes an `add_task` idempotent (a retried chat request replays its create).
pub async fn run<R: Runtime>(
    tasks: &Tasks<'_, R>,
    user: &str,
    call: &ToolCall,
    create_key: Option<Idempotency>,
    now: DateTime<Utc>,
) -> Result<Ran, ApiError> {
    let mut published = Vec::new();
    let outcome = execute(tasks, user, call, create_key, now, &mut published).await;
    let result = match outcome {
        Ok(result) => result,
        Err(error) if error.status() >= 500 => return Err(error),
        Err(error) => error_body(error),
    };
    Ok(Ran {
        record: ToolCallRecord {
            name: call.name().to_owned(),
            arguments: call.arguments(),
            result,
        },
        published,
    })
}

async fn execute<R: Runtime>(
    tasks: &Tasks<'_, R>,
    user: &str,
    call: &ToolCall,
    create_key: Option<Idempotency>,
    now: DateTime<Utc>,
    published: &mut Vec<String>,
) -> Result<Value, ApiError> {
    let value = match call {
        ToolCall::AddTask { task } => {
            let draft = TaskDraft::from_json(&Value::Object(task.clone()))?;
            let created = logged_task(published, tasks.create(user, draft, create_key).await?);
            to_json(&created.task)
        }
        ToolCall::ListTasks { .. } => {
            let pairs = call.query_pairs().unwrap_or_default();
            let query = ListQuery::parse(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())), now)?;
            let page = tasks.list(user, &query).await?;
            published.extend(page.published);
            to_json(&page.answer)
        }
        ToolCall::CompleteTask { task_id } => to_json(&logged_task(
            published,
            tasks.complete(user, *task_id, None).await?,
        )),
        ToolCall::DeleteTask { task_id } => {
            // The result is the task as it was: what the assistant names in its reply.
            let before = tasks.get(user, *task_id).await?;
            published.extend(before.published);
            let deleted = tasks.delete(user, *task_id, None).await?;
            published.extend(deleted.published);
            to_json(&before.answer)
        }
        ToolCall::UpdateTask { task_id, changes } => {
            let patch = TaskPatch::from_json(&Value::Object(changes.clone()))?;
            let updated = tasks
                .update(user, *task_id, Change::Patch(patch), None)
                .await?;
            to_json(&logged_task(published, updated))
        }
    };
    Ok(value)
}

fn logged_task<T>(published: &mut Vec<String>, written: crate::store::Written<T>) -> T {
    published.extend(written.published);
    written.answer
}

fn to_json(value: &impl serde::Serialize) -> Value {
    serde_json::to_value(value).expect("serialisable")
}

/// The body the REST API answers for `error` (`error.schema.json`).
pub fn error_body(error: ApiError) -> Value {
    serde_json::from_slice(error.into_response().body()).expect("error bodies are JSON")
}

/// Every task of `user` (completed included), for resolving a title the assistant was given.
pub async fn all_tasks<R: Runtime>(
    tasks: &Tasks<'_, R>,
    user: &str,
    now: DateTime<Utc>,
    published: &mut Vec<String>,
) -> Result<Vec<assistant::TaskSummary>, ApiError> {
    let query = ListQuery::parse([("status", "all"), ("limit", "500")], now)?;
    let page = tasks.list(user, &query).await?;
    published.extend(page.published);
    Ok(page
        .answer
        .items
        .iter()
        .map(assistant::TaskSummary::from)
        .collect())
}

// ---------------------------------------------------------------------------------------------
// Tool definitions for an LLM (OpenAI-compatible `tools`)

/// The chat tools in the OpenAI `tools` format: names and argument schemas of
/// docs/contracts.md, the schemas derived from `schemas/` and `api/openapi.json` (`$ref`s
/// inlined, long enums and patterns left to their descriptions) at build time
/// ([`super::tool_schemas`], run by `build.rs`).
pub fn definitions() -> Value {
    serde_json::from_slice(&crate::embedded::tool_definitions_json()).expect("build.rs wrote JSON")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn refs(node: &Value) -> usize {
        match node {
            Value::Object(o) => {
                usize::from(o.contains_key("$ref")) + o.values().map(refs).sum::<usize>()
            }
            Value::Array(items) => items.iter().map(refs).sum(),
            _ => 0,
        }
    }

    #[test]
    fn tool_definitions_are_the_contract_schemas_inlined() {
        let tools = definitions();
        let names: Vec<&str> = tools
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["function"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, assistant::TOOL_NAMES);
        assert_eq!(refs(&tools), 0, "{tools:#}");
        let add = &tools[0]["function"]["parameters"];
        assert_eq!(add["required"], json!(["title"]));
        assert_eq!(
            add["properties"]["priority"]["enum"],
            json!(["low", "medium", "high"])
        );
        // The zone list is left to its description.
        assert!(add["properties"]["time_zone"].get("enum").is_none());
        let list = &tools[1]["function"]["parameters"]["properties"];
        for parameter in [
            "status", "priority", "tags", "overdue", "sort", "limit", "search",
        ] {
            assert!(list.get(parameter).is_some(), "{parameter}: {list:#}");
        }
        let update = &tools[4]["function"]["parameters"];
        assert_eq!(update["required"], json!(["task_id"]));
        assert_eq!(update["properties"]["task_id"]["format"], "uuid");
        assert!(update["properties"].get("status").is_some());
        let text = tools.to_string();
        assert!(text.len() < 40_000, "{} bytes", text.len());
    }

    #[test]
    fn refused_operations_answer_the_rest_error_body() {
        let body = error_body(ApiError::NotFound);
        assert_eq!(body["error"]["code"], "not_found");
        let body = error_body(todo_domain::FieldError::new("title", "must not be blank").into());
        assert_eq!(body["error"]["field"], "title");
    }
}
