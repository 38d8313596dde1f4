//! The published contracts of todo-chatbot (see `docs/contracts.md`): the JSON Schemas under
//! `schemas/` and chat-api's OpenAPI document `api/openapi.json`, embedded at compile time, plus a
//! validator that resolves the relative `$ref`s between the schema files without touching the
//! file system or the network.
use jsonschema::{Draft, Retrieve, Uri};
use serde_json::Value;

/// Base URI of every schema's `$id`; a relative `$ref` such as `task.schema.json` resolves here.
pub const SCHEMA_BASE_URI: &str = "https://todo-chatbot.dev/schemas/";

/// chat-api's OpenAPI 3.1 document, as served verbatim on `GET /api/openapi.json`.
pub const OPENAPI_JSON: &str = include_str!("../../../api/openapi.json");

macro_rules! schema_files {
    ($($name:literal),* $(,)?) => {
        /// Every schema file under `schemas/`, by file name, with its text.
        pub const SCHEMA_FILES: &[(&str, &str)] = &[
            $(($name, include_str!(concat!("../../../schemas/", $name))),)*
        ];
    };
}

schema_files!(
    "task.schema.json",
    "task-create.schema.json",
    "task-patch.schema.json",
    "task-list-response.schema.json",
    "error.schema.json",
    "task-event.schema.json",
    "reminder-event.schema.json",
    "task-bucket.schema.json",
    "idempotency-record.schema.json",
    "outbox-registry.schema.json",
    "reminder-index.schema.json",
    "chat-request.schema.json",
    "chat-response.schema.json",
    "chat-conversation.schema.json",
    "chat-conversation-record.schema.json",
    "chat-settings.schema.json",
    "audit-log-response.schema.json",
    "health.schema.json",
    "occurrence-request.schema.json",
    "notification-inbox-entry.schema.json",
    "notification-inbox-response.schema.json",
    "notification-webhook.schema.json",
);

/// The parsed schema file `name` (e.g. `"task.schema.json"`), if it exists.
pub fn schema(name: &str) -> Option<Value> {
    let (_, text) = SCHEMA_FILES.iter().find(|(file, _)| *file == name)?;
    serde_json::from_str(text).ok()
}

/// chat-api's OpenAPI document, parsed.
///
/// # Panics
/// Never in a built crate: the tests prove the embedded document is valid JSON.
pub fn openapi() -> Value {
    serde_json::from_str(OPENAPI_JSON).expect("api/openapi.json is valid JSON")
}

/// Serves the embedded schema files for `$ref`s under [`SCHEMA_BASE_URI`]; refuses anything else.
struct EmbeddedSchemas;

impl Retrieve for EmbeddedSchemas {
    fn retrieve(
        &self,
        uri: &Uri<String>,
    ) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        let uri = uri.as_str();
        let name = uri
            .strip_prefix(SCHEMA_BASE_URI)
            .ok_or_else(|| format!("refusing to fetch {uri}: not one of our schemas"))?;
        schema(name).ok_or_else(|| format!("no schema file {name} under schemas/").into())
    }
}

/// Compiles schema file `schema_file` (draft 2020-12, formats asserted).
///
/// # Errors
/// The schema file is unknown or does not compile (bad keyword, unresolvable `$ref`, …).
pub fn validator(schema_file: &str) -> Result<jsonschema::Validator, String> {
    let schema = schema(schema_file).ok_or_else(|| format!("unknown schema file {schema_file}"))?;
    jsonschema::options()
        .with_draft(Draft::Draft202012)
        .should_validate_formats(true)
        .with_retriever(EmbeddedSchemas)
        .build(&schema)
        .map_err(|e| format!("{schema_file} does not compile: {e}"))
}

/// Validates `instance` against schema file `schema_file` (e.g. `"task.schema.json"`).
///
/// # Errors
/// One line per violation, `<JSON pointer into the instance>: <message>` (the pointer is empty for
/// the root), or the reason the schema could not be compiled.
pub fn validate(schema_file: &str, instance: &Value) -> Result<(), String> {
    let validator = validator(schema_file)?;
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| format!("{}: {e}", e.instance_path))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("\n"))
    }
}
