//! The chat tools run through the task operations ([`crate::Tasks`]), so a change made by chat is
//! validated, versioned, evented and schedules or cancels reminders exactly as through REST; and
//! the tools' JSON Schemas for an LLM, derived from the embedded contract files.
use crate::chat::conversations::ToolCallRecord;
use crate::idempotency::Idempotency;
use crate::operations::Change;
use crate::{ApiError, Runtime, Tasks};
use assistant::ToolCall;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
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

const TASK_SCHEMA: &str = include_str!("../../../../schemas/task.schema.json");
const TASK_CREATE_SCHEMA: &str = include_str!("../../../../schemas/task-create.schema.json");
const TASK_PATCH_SCHEMA: &str = include_str!("../../../../schemas/task-patch.schema.json");
const OPENAPI: &str = include_str!("../../../../api/openapi.json");

/// Enumerations longer than this (the tz database's zone names) are left to their description:
/// sending 600 names with every request would cost more than it helps.
const MAX_ENUM_VALUES: usize = 50;
/// Patterns longer than this (the recurrence rule's) likewise.
const MAX_PATTERN_CHARS: usize = 200;

/// The chat tools in the OpenAI `tools` format: names and argument schemas of
/// docs/contracts.md, the schemas derived from `schemas/` and `api/openapi.json` (`$ref`s
/// inlined, long enums and patterns left to their descriptions).
pub fn definitions() -> Value {
    let files = SchemaFiles::load();
    let task_id = json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["task_id"],
        "properties": {"task_id": files.task_id()},
    });
    let mut update = files.inline(&files.patch, &files.patch);
    if let Some(properties) = update["properties"].as_object_mut() {
        properties.insert("task_id".to_owned(), files.task_id());
    }
    update["required"] = json!(["task_id"]);
    update
        .as_object_mut()
        .expect("an object schema")
        .remove("minProperties");
    let tools = [
        (
            "add_task",
            "Create a task. Arguments: the body of POST /api/tasks. Dates are RFC 3339 with an offset.",
            files.inline(&files.create, &files.create),
        ),
        (
            "list_tasks",
            "List, search or filter the user's tasks. Arguments: the query parameters of GET /api/tasks.",
            files.list_parameters(),
        ),
        ("complete_task", "Mark a task completed.", task_id.clone()),
        ("delete_task", "Delete a task.", task_id),
        (
            "update_task",
            "Change a task: task_id plus the fields to change (a PATCH body); reopen with {\"status\": \"pending\"}.",
            update,
        ),
    ];
    Value::Array(
        tools
            .into_iter()
            .map(|(name, description, parameters)| {
                json!({
                    "type": "function",
                    "function": {"name": name, "description": description, "parameters": parameters},
                })
            })
            .collect(),
    )
}

struct SchemaFiles {
    task: Value,
    create: Value,
    patch: Value,
    openapi: Value,
}

impl SchemaFiles {
    fn load() -> Self {
        let parse = |text: &str| serde_json::from_str(text).expect("embedded schemas are JSON");
        Self {
            task: parse(TASK_SCHEMA),
            create: parse(TASK_CREATE_SCHEMA),
            patch: parse(TASK_PATCH_SCHEMA),
            openapi: parse(OPENAPI),
        }
    }

    fn task_id(&self) -> Value {
        self.inline(&json!({"$ref": "task.schema.json#/$defs/Uuid"}), &self.task)
    }

    /// `node` with every `$ref` replaced by what it points to (`root` is the document `node` is
    /// in, for local references).
    fn inline(&self, node: &Value, root: &Value) -> Value {
        match node {
            Value::Object(object) => {
                if let Some(reference) = object.get("$ref").and_then(Value::as_str) {
                    let (file, pointer) = reference.split_once('#').unwrap_or((reference, ""));
                    let target_root = match file {
                        "" => root,
                        "task.schema.json" => &self.task,
                        "task-create.schema.json" => &self.create,
                        "task-patch.schema.json" => &self.patch,
                        other => panic!("unknown schema file {other}"),
                    };
                    let target = target_root
                        .pointer(pointer)
                        .unwrap_or_else(|| panic!("unresolved $ref {reference}"));
                    let mut inlined = self.inline(target, target_root);
                    // Members next to the `$ref` (a description) refine it.
                    if let Value::Object(inlined_object) = &mut inlined {
                        for (key, value) in object {
                            if key != "$ref" {
                                inlined_object.insert(key.clone(), self.inline(value, root));
                            }
                        }
                    }
                    return inlined;
                }
                let mut out = Map::new();
                for (key, value) in object {
                    let dropped = matches!(key.as_str(), "$schema" | "$id" | "$defs" | "title")
                        || (key == "enum"
                            && value.as_array().is_some_and(|v| v.len() > MAX_ENUM_VALUES))
                        || (key == "pattern"
                            && value.as_str().is_some_and(|p| p.len() > MAX_PATTERN_CHARS));
                    if !dropped {
                        out.insert(key.clone(), self.inline(value, root));
                    }
                }
                Value::Object(out)
            }
            Value::Array(items) => {
                Value::Array(items.iter().map(|i| self.inline(i, root)).collect())
            }
            other => other.clone(),
        }
    }

    /// `GET /api/tasks`'s documented query parameters as an object schema (components in the
    /// OpenAPI document resolved against it).
    fn list_parameters(&self) -> Value {
        let parameters = self.openapi["paths"]["/api/tasks"]["get"]["parameters"]
            .as_array()
            .expect("listTasks documents its parameters");
        let mut properties = Map::new();
        for parameter in parameters {
            let parameter = resolve_openapi(&self.openapi, parameter);
            if parameter["in"] != "query" {
                continue;
            }
            let name = parameter["name"].as_str().expect("named").to_owned();
            let mut schema = self.inline_openapi(&parameter["schema"]);
            if let (Some(description), Value::Object(schema)) =
                (parameter.get("description"), &mut schema)
            {
                schema
                    .entry("description")
                    .or_insert_with(|| description.clone());
            }
            properties.insert(name, schema);
        }
        json!({"type": "object", "additionalProperties": false, "properties": properties})
    }

    fn inline_openapi(&self, node: &Value) -> Value {
        let resolved = resolve_openapi(&self.openapi, node);
        self.inline(&strip_openapi_refs(&self.openapi, resolved), &self.openapi)
    }
}

fn resolve_openapi<'a>(openapi: &'a Value, node: &'a Value) -> &'a Value {
    match node.get("$ref").and_then(Value::as_str) {
        Some(reference) => resolve_openapi(
            openapi,
            openapi
                .pointer(reference.trim_start_matches('#'))
                .unwrap_or_else(|| panic!("unresolved $ref {reference}")),
        ),
        None => node,
    }
}

/// Local (`#/components/…`) references of the OpenAPI document replaced by their targets.
fn strip_openapi_refs(openapi: &Value, node: &Value) -> Value {
    match node {
        Value::Object(object) => {
            if object
                .get("$ref")
                .and_then(Value::as_str)
                .is_some_and(|r| r.starts_with("#/"))
            {
                return strip_openapi_refs(openapi, resolve_openapi(openapi, node));
            }
            Value::Object(
                object
                    .iter()
                    .map(|(k, v)| (k.clone(), strip_openapi_refs(openapi, v)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|i| strip_openapi_refs(openapi, i))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
