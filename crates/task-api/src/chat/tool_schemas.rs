//! Derives the chat tools' definitions for an LLM (OpenAI-compatible `tools`) from the contract
//! files. It runs at build time (`build.rs` includes this file), so the component embeds the
//! small derived JSON rather than the schema files and a second copy of the OpenAPI document.
use serde_json::{Map, Value, json};

/// The contract files the definitions come from, as text.
pub struct ContractFiles<'a> {
    pub task: &'a str,
    pub task_create: &'a str,
    pub task_patch: &'a str,
    pub openapi: &'a str,
}

/// Enumerations longer than this (the tz database's zone names) are left to their description:
/// sending 600 names with every request would cost more than it helps.
const MAX_ENUM_VALUES: usize = 50;
/// Patterns longer than this (the recurrence rule's) likewise.
const MAX_PATTERN_CHARS: usize = 200;

/// The chat tools in the OpenAI `tools` format: names and argument schemas of
/// docs/contracts.md, the schemas derived from `schemas/` and `api/openapi.json` (`$ref`s
/// inlined, long enums and patterns left to their descriptions).
pub fn definitions(contract: &ContractFiles<'_>) -> Value {
    let files = SchemaFiles::load(contract);
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
    fn load(contract: &ContractFiles<'_>) -> Self {
        let parse = |text: &str| serde_json::from_str(text).expect("contract files are JSON");
        Self {
            task: parse(contract.task),
            create: parse(contract.task_create),
            patch: parse(contract.task_patch),
            openapi: parse(contract.openapi),
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

/// `json` without the whitespace between its tokens (strings untouched), so the member order and
/// every string stay exactly as written.
pub fn minify_json(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in json.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !matches!(c, ' ' | '\t' | '\n' | '\r') {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPENAPI: &str = include_str!("../../../../api/openapi.json");

    #[test]
    fn minifying_drops_only_whitespace_between_tokens() {
        let pretty = "{\n  \"a b\": [1, 2.5e3, true, null],\n\t\"q\\\" \\\\\": \" x\\n \"\r\n}";
        let minified = minify_json(pretty);
        assert_eq!(minified, r#"{"a b":[1,2.5e3,true,null],"q\" \\":" x\n "}"#);
        let parse = |text: &str| serde_json::from_str::<Value>(text).unwrap();
        assert_eq!(parse(&minified), parse(pretty));
        let openapi = minify_json(OPENAPI);
        assert_eq!(parse(&openapi), parse(OPENAPI));
        assert!(openapi.len() < OPENAPI.len() * 3 / 4, "{}", openapi.len());
    }

    #[test]
    fn the_embedded_definitions_are_the_derived_ones() {
        let derived = definitions(&ContractFiles {
            task: include_str!("../../../../schemas/task.schema.json"),
            task_create: include_str!("../../../../schemas/task-create.schema.json"),
            task_patch: include_str!("../../../../schemas/task-patch.schema.json"),
            openapi: OPENAPI,
        });
        assert_eq!(super::super::tools::definitions(), derived);
    }
}
