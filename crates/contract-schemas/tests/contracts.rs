//! The published contracts hold together: every schema compiles, hand-written examples of each
//! shape pass, known-bad ones fail, and the OpenAPI document is a self-contained copy of them.
use contract_schemas::{SCHEMA_BASE_URI, SCHEMA_FILES, openapi, schema, validate, validator};
use serde_json::{Value, json};

const TASK_ID: &str = "0b9f3c62-5d1e-4c1a-9a59-8f0d2a7b6c11";
const EVENT_ID: &str = "7d444840-9dc0-11d1-b245-5ffdce74fad2";

fn task() -> Value {
    json!({
        "id": TASK_ID,
        "user_id": "user_42",
        "title": "Pay rent",
        "description": "Transfer to landlord",
        "status": "pending",
        "priority": "high",
        "tags": ["bills", "home"],
        "due_date": "2026-01-31T09:00:00Z",
        "time_zone": "Europe/Berlin",
        "reminder_offset_minutes": 60,
        "remind_at": "2026-01-31T08:00:00Z",
        "recurrence_rule": "FREQ=MONTHLY;BYMONTHDAY=-1",
        "repeat_from": "due_date",
        "is_recurring": true,
        "series_id": TASK_ID,
        "series_start": "2026-01-31T09:00:00Z",
        "occurrence_index": 0,
        "predecessor_id": null,
        "created_at": "2026-01-01T10:00:00.123Z",
        "updated_at": "2026-01-01T10:00:00.123Z",
        "completed_at": null,
        "version": 1,
        "schema_version": 1
    })
}

fn plain_task() -> Value {
    json!({
        "id": "5a0e8b1c-8a33-4f0e-b0d4-2b8f6f4d9e01",
        "user_id": "user_42",
        "title": "Read a book",
        "description": null,
        "status": "completed",
        "priority": "medium",
        "tags": [],
        "due_date": null,
        "time_zone": "UTC",
        "reminder_offset_minutes": null,
        "remind_at": null,
        "recurrence_rule": null,
        "repeat_from": "due_date",
        "is_recurring": false,
        "series_id": null,
        "series_start": null,
        "occurrence_index": 0,
        "predecessor_id": null,
        "created_at": "2026-01-01T10:00:00Z",
        "updated_at": "2026-01-02T10:00:00Z",
        "completed_at": "2026-01-02T10:00:00Z",
        "version": 2,
        "schema_version": 1
    })
}

fn task_event() -> Value {
    json!({
        "specversion": "1.0",
        "id": EVENT_ID,
        "source": "chat-api",
        "type": "task.completed",
        "subject": TASK_ID,
        "time": "2026-01-31T09:30:00Z",
        "datacontenttype": "application/json",
        "data": {
            "schema_version": 1,
            "user_id": "user_42",
            "task": task(),
            "changed_fields": ["status", "completed_at"]
        },
        // Added by Dapr on delivery: the envelope must admit them.
        "topic": "task-events",
        "pubsubname": "pubsub",
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    })
}

fn reminder_event() -> Value {
    json!({
        "specversion": "1.0",
        "id": EVENT_ID,
        "source": "chat-api",
        "type": "reminder.triggered",
        "subject": TASK_ID,
        "time": "2026-01-31T08:00:01Z",
        "datacontenttype": "application/json",
        "data": {
            "schema_version": 1,
            "user_id": "user_42",
            "task_id": TASK_ID,
            "task_title": "Pay rent",
            "due_date": "2026-01-31T09:00:00Z",
            "remind_at": "2026-01-31T08:00:00Z",
            "reminder_id": format!("{TASK_ID}:3")
        }
    })
}

fn valid_examples() -> Vec<(&'static str, Value)> {
    let mut deleted = task_event();
    deleted["type"] = json!("task.deleted");
    deleted["data"]["changed_fields"] = json!([]);
    vec![
        ("task.schema.json", task()),
        ("task.schema.json", plain_task()),
        (
            "outbox-registry.schema.json",
            json!({"schema_version": 1, "users": {"alice": "2026-01-02T10:00:00Z", "auth0|42": "2026-01-02T10:05:00.123Z"}}),
        ),
        (
            "task.schema.json",
            with(task(), "/recurrence_rule", json!("every 14 days")),
        ),
        (
            "task.schema.json",
            with(task(), "/user_id", json!("auth0|65f0c0ffee")),
        ),
        (
            "task-create.schema.json",
            json!({
                "title": "  Pay rent ",
                "tags": ["Bills", "home", "bills"],
                "due_date": "2026-01-31T10:00:00+01:00",
                "time_zone": "Europe/Berlin",
                "reminder_offset_minutes": 60,
                "recurrence_rule": "monthly"
            }),
        ),
        (
            "task-create.schema.json",
            json!({"title": "x", "remind_at": "2026-01-31T08:00:00Z", "due_date": "2026-02-01T00:00:00Z"}),
        ),
        (
            "task-patch.schema.json",
            json!({"description": null, "priority": "low"}),
        ),
        (
            "task-patch.schema.json",
            json!({"due_date": null, "remind_at": null, "recurrence_rule": null}),
        ),
        (
            "task-list-response.schema.json",
            json!({"items": [task(), plain_task()], "next_cursor": "eyJrIjoxfQ"}),
        ),
        (
            "task-list-response.schema.json",
            json!({"items": [], "next_cursor": null}),
        ),
        (
            "error.schema.json",
            json!({"error": {"code": "validation_failed", "message": "must not be blank", "field": "title"}}),
        ),
        (
            "error.schema.json",
            json!({"error": {"code": "not_found", "message": "no such task"}}),
        ),
        ("task-event.schema.json", task_event()),
        ("task-event.schema.json", deleted),
        ("reminder-event.schema.json", reminder_event()),
        (
            "task-bucket.schema.json",
            json!({
                "schema_version": 1,
                "tasks": {TASK_ID: task()},
                "outbox": [task_event(), reminder_event()]
            }),
        ),
        (
            "task-bucket.schema.json",
            json!({"schema_version": 1, "tasks": {}, "outbox": []}),
        ),
        (
            "task-bucket.schema.json",
            json!({"schema_version": 1, "tasks": {TASK_ID: task()}, "outbox": [], "jobs": {
                TASK_ID: {"action": "schedule", "reminder_id": format!("{TASK_ID}:3"),
                          "remind_at": "2026-01-31T08:00:00Z"},
                "0b7e0f0e-5c39-4e55-8a6e-3c1b2a4d5e6f": {"action": "delete",
                          "reminder_id": "0b7e0f0e-5c39-4e55-8a6e-3c1b2a4d5e6f:1"}}}),
        ),
        (
            "reminder-index.schema.json",
            json!({"schema_version": 1, "reminders": {TASK_ID: {
                "reminder_id": format!("{TASK_ID}:3"), "remind_at": "2026-01-31T08:00:00Z"}}}),
        ),
        (
            "reminder-index.schema.json",
            json!({"schema_version": 1, "reminders": {}}),
        ),
        (
            "idempotency-record.schema.json",
            json!({
                "schema_version": 1,
                "fingerprint": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                "status": 201,
                "body": task(),
                "created_at": "2026-01-01T10:00:00Z"
            }),
        ),
        (
            "chat-request.schema.json",
            json!({"message": "remind me to pay rent monthly"}),
        ),
        (
            "occurrence-request.schema.json",
            json!({
                "user_id": "user_42",
                "series_id": TASK_ID,
                "series_start": "2026-01-31T09:00:00Z",
                "predecessor_id": TASK_ID,
                "predecessor_occurrence_index": 0,
                "occurrence_index": 1,
                "task": {"title": "Pay rent", "due_date": "2026-02-28T09:00:00Z",
                         "time_zone": "Europe/Berlin", "recurrence_rule": "monthly",
                         "repeat_from": "completion", "reminder_offset_minutes": 60}
            }),
        ),
        (
            "chat-request.schema.json",
            json!({"conversation_id": EVENT_ID, "message": "thanks"}),
        ),
        (
            "chat-request.schema.json",
            json!({"message": "add call mom tomorrow 5pm", "time_zone": "Europe/Berlin"}),
        ),
        (
            "chat-conversation.schema.json",
            json!({
                "conversation_id": EVENT_ID,
                "created_at": "2026-01-01T10:00:00Z",
                "updated_at": "2026-01-01T10:00:00Z",
                "messages": [
                    {"role": "user", "content": "add pay rent", "created_at": "2026-01-01T10:00:00Z", "tool_calls": []},
                    {"role": "assistant", "content": "Added \"Pay rent\".", "created_at": "2026-01-01T10:00:00Z",
                     "tool_calls": [{"name": "add_task", "arguments": {"title": "Pay rent"}, "result": task()}]}
                ]
            }),
        ),
        (
            "chat-conversation-record.schema.json",
            json!({
                "schema_version": 1,
                "conversation_id": EVENT_ID,
                "user_id": "user_42",
                "created_at": "2026-01-01T10:00:00Z",
                "updated_at": "2026-01-01T10:00:00Z",
                "messages": [],
                "memory": {"last_list": [], "last_task": null, "pending": null}
            }),
        ),
        (
            "chat-settings.schema.json",
            json!({"schema_version": 1, "time_zone": "Europe/Berlin", "updated_at": "2026-01-01T10:00:00Z"}),
        ),
        (
            "chat-response.schema.json",
            json!({
                "conversation_id": EVENT_ID,
                "response": "Added \"Pay rent\".",
                "tool_calls": [{"name": "add_task", "arguments": {"title": "Pay rent"}, "result": task()}]
            }),
        ),
        (
            "audit-log-response.schema.json",
            json!({
                "items": [{
                    "event_id": EVENT_ID, "event_type": "task.completed", "user_id": "user_42",
                    "task_id": TASK_ID, "time": "2026-01-31T09:30:00Z",
                    "recorded_at": "2026-01-31T09:30:01Z",
                    "changed_fields": ["status", "completed_at"], "task": task()
                }],
                "next_cursor": null
            }),
        ),
        (
            "health.schema.json",
            json!({"status": "ok", "app_id": "audit-service"}),
        ),
        ("notification-inbox-entry.schema.json", notification_entry()),
        (
            "notification-inbox-response.schema.json",
            json!({"items": [notification_entry()], "next_cursor": "eyJ4Ijox", "unread_count": 0}),
        ),
        (
            "notification-inbox-response.schema.json",
            json!({"items": [], "next_cursor": null, "unread_count": 0}),
        ),
        (
            "notification-webhook.schema.json",
            json!({
                "schema_version": 1, "type": "reminder.triggered",
                "reminder_id": format!("{TASK_ID}:3"), "user_id": "user_42", "task_id": TASK_ID,
                "task_title": "Pay rent", "due_date": "2026-01-31T09:00:00Z",
                "remind_at": "2026-01-31T08:00:00Z", "delivered_at": "2026-01-31T08:00:00.250Z"
            }),
        ),
    ]
}

/// A read notification-service inbox entry.
fn notification_entry() -> Value {
    json!({
        "id": format!("{TASK_ID}:3"), "task_id": TASK_ID, "task_title": "Pay rent",
        "due_date": "2026-01-31T09:00:00Z", "remind_at": "2026-01-31T08:00:00Z",
        "delivered_at": "2026-01-31T08:00:01Z", "read_at": "2026-01-31T10:00:00Z"
    })
}

#[test]
fn schema_list_matches_the_schemas_folder() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../schemas");
    let mut on_disk: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".json"))
        .collect();
    on_disk.sort();
    let mut embedded: Vec<String> = SCHEMA_FILES.iter().map(|(n, _)| (*n).to_owned()).collect();
    embedded.sort();
    assert_eq!(
        on_disk, embedded,
        "add new schema files to schema_files! in src/lib.rs"
    );
}

#[test]
fn every_schema_compiles_and_names_itself() {
    for (name, _) in SCHEMA_FILES {
        let s = schema(name).unwrap_or_else(|| panic!("{name} is not valid JSON"));
        assert_eq!(
            s["$schema"], "https://json-schema.org/draft/2020-12/schema",
            "{name}"
        );
        assert_eq!(s["$id"], format!("{SCHEMA_BASE_URI}{name}"), "{name}");
        assert!(s["title"].is_string(), "{name} has no title");
        if let Err(e) = validator(name) {
            panic!("{e}");
        }
    }
}

#[test]
fn every_schema_has_a_passing_example() {
    let examples = valid_examples();
    for (name, _) in SCHEMA_FILES {
        assert!(
            examples.iter().any(|(n, _)| n == name),
            "no valid example for {name}"
        );
    }
    for (name, example) in &examples {
        if let Err(e) = validate(name, example) {
            panic!("valid example for {name} rejected:\n{e}\n{example:#}");
        }
    }
}

/// `base` with the member at `pointer` set (added if missing) to `value`.
fn with(mut base: Value, pointer: &str, value: Value) -> Value {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let parent = base
        .pointer_mut(parent)
        .unwrap_or_else(|| panic!("no {parent}"));
    parent
        .as_object_mut()
        .unwrap()
        .insert(key.to_owned(), value);
    base
}

fn without(mut base: Value, field: &str) -> Value {
    base.as_object_mut().unwrap().remove(field);
    base
}

#[test]
fn invalid_examples_are_rejected_with_their_pointer() {
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "task.schema.json",
            with(task(), "/status", json!("done")),
            "/status",
        ),
        (
            "task.schema.json",
            with(task(), "/priority", json!("urgent")),
            "/priority",
        ),
        (
            "task.schema.json",
            with(task(), "/title", json!("a".repeat(256))),
            "/title",
        ),
        (
            "task.schema.json",
            with(task(), "/title", json!("   ")),
            "/title",
        ),
        (
            "task.schema.json",
            with(task(), "/title", json!(" padded")),
            "/title",
        ),
        (
            "task.schema.json",
            with(task(), "/title", json!("bell\u{7}")),
            "/title",
        ),
        (
            "task.schema.json",
            with(task(), "/description", json!("d".repeat(2001))),
            "/description",
        ),
        ("task.schema.json", without(task(), "version"), ""),
        (
            "task.schema.json",
            with(task(), "/colour", json!("red")),
            "",
        ),
        (
            "task.schema.json",
            with(task(), "/due_date", json!("2026-01-01T10:00:00+00:00Z")),
            "/due_date",
        ),
        (
            "task.schema.json",
            with(task(), "/due_date", json!("2026-01-01T10:00:00+02:00")),
            "/due_date",
        ),
        (
            "task.schema.json",
            with(task(), "/created_at", json!("2026-01-01 10:00:00")),
            "/created_at",
        ),
        (
            "task.schema.json",
            with(task(), "/id", json!("not-a-uuid")),
            "/id",
        ),
        (
            "task.schema.json",
            with(task(), "/tags", json!(["a", "a"])),
            "/tags",
        ),
        (
            "task.schema.json",
            with(task(), "/tags", json!(["a,b"])),
            "/tags/0",
        ),
        (
            "task.schema.json",
            with(task(), "/tags", json!(["t".repeat(51)])),
            "/tags/0",
        ),
        (
            "task.schema.json",
            with(
                task(),
                "/tags",
                json!((0..21).map(|i| format!("t{i:02}")).collect::<Vec<_>>()),
            ),
            "/tags",
        ),
        (
            "task.schema.json",
            with(task(), "/reminder_offset_minutes", json!(525_601)),
            "/reminder_offset_minutes",
        ),
        (
            "task.schema.json",
            with(task(), "/version", json!(0)),
            "/version",
        ),
        (
            "task.schema.json",
            with(task(), "/schema_version", json!(2)),
            "/schema_version",
        ),
        (
            "task.schema.json",
            with(task(), "/user_id", json!("")),
            "/user_id",
        ),
        (
            "task.schema.json",
            with(task(), "/recurrence_rule", json!("RRULE:FREQ=DAILY")),
            "/recurrence_rule",
        ),
        (
            "task.schema.json",
            with(task(), "/is_recurring", json!(false)),
            "/is_recurring",
        ),
        (
            "task.schema.json",
            with(task(), "/due_date", Value::Null),
            "/due_date",
        ),
        (
            "task.schema.json",
            with(task(), "/completed_at", json!("2026-01-02T10:00:00Z")),
            "/completed_at",
        ),
        (
            "task.schema.json",
            with(plain_task(), "/completed_at", Value::Null),
            "/completed_at",
        ),
        (
            "task-create.schema.json",
            json!({"description": "no title"}),
            "",
        ),
        (
            "task-create.schema.json",
            json!({"title": "x", "id": TASK_ID}),
            "",
        ),
        (
            "task-create.schema.json",
            json!({"title": "x", "created_at": "2026-01-01T10:00:00Z"}),
            "",
        ),
        ("task-create.schema.json", json!({"title": "  "}), "/title"),
        (
            "task-create.schema.json",
            json!({"title": "x", "due_date": "2026-01-01T10:00:00"}),
            "/due_date",
        ),
        (
            "task-create.schema.json",
            json!({"title": "x", "due_date": "2026-01-01T10:00:00+00:00Z"}),
            "/due_date",
        ),
        (
            "task-create.schema.json",
            json!({"title": "x", "reminder_offset_minutes": 5, "remind_at": "2026-01-01T10:00:00Z"}),
            "",
        ),
        ("task-patch.schema.json", json!({}), ""),
        ("task-patch.schema.json", json!({"title": null}), "/title"),
        (
            "task-patch.schema.json",
            json!({"status": "archived"}),
            "/status",
        ),
        ("task-patch.schema.json", json!({"version": 3}), ""),
        ("task-list-response.schema.json", json!({"items": []}), ""),
        (
            "task-list-response.schema.json",
            json!({"items": [with(task(), "/status", json!("x"))], "next_cursor": null}),
            "/items/0/status",
        ),
        (
            "error.schema.json",
            json!({"error": {"code": "teapot", "message": "x"}}),
            "/error/code",
        ),
        (
            "error.schema.json",
            json!({"error": {"code": "internal"}}),
            "/error",
        ),
        ("error.schema.json", json!({"detail": "x"}), ""),
        (
            "task-event.schema.json",
            with(task_event(), "/type", json!("com.dapr.event.sent")),
            "/type",
        ),
        (
            "task-event.schema.json",
            with(task_event(), "/time", json!("2026-01-01T10:00:00+00:00Z")),
            "/time",
        ),
        (
            "task-event.schema.json",
            with(task_event(), "/data/task/title", json!("a".repeat(256))),
            "/data/task/title",
        ),
        (
            "task-event.schema.json",
            with(task_event(), "/data/changed_fields", json!(["colour"])),
            "/data/changed_fields/0",
        ),
        (
            "task-event.schema.json",
            with(task_event(), "/data/changed_fields", json!([])),
            "/data/changed_fields",
        ),
        (
            "task-event.schema.json",
            with(task_event(), "/data/extra", json!(1)),
            "/data",
        ),
        ("task-event.schema.json", without(task_event(), "id"), ""),
        (
            "task-event.schema.json",
            with(task_event(), "/source", json!("Dapr")),
            "/source",
        ),
        (
            "reminder-event.schema.json",
            with(reminder_event(), "/data/reminder_id", json!(TASK_ID)),
            "/data/reminder_id",
        ),
        (
            "reminder-event.schema.json",
            with(reminder_event(), "/type", json!("task.created")),
            "/type",
        ),
        (
            "task-bucket.schema.json",
            json!({"schema_version": 1, "tasks": {"nope": task()}, "outbox": []}),
            "/tasks",
        ),
        (
            "task-bucket.schema.json",
            json!({"schema_version": 1, "tasks": {}, "outbox": [{"type": "x"}]}),
            "/outbox/0",
        ),
        (
            "task-bucket.schema.json",
            json!({"schema_version": 1, "tasks": {}, "outbox": [], "jobs": {
                TASK_ID: {"action": "schedule", "reminder_id": format!("{TASK_ID}:1")}}}),
            "/jobs/0b9f3c62-5d1e-4c1a-9a59-8f0d2a7b6c11",
        ),
        (
            "reminder-index.schema.json",
            json!({"schema_version": 1, "reminders": {TASK_ID: {
                "reminder_id": TASK_ID, "remind_at": "2026-01-31T08:00:00Z"}}}),
            "/reminders/0b9f3c62-5d1e-4c1a-9a59-8f0d2a7b6c11/reminder_id",
        ),
        (
            "idempotency-record.schema.json",
            json!({"schema_version": 1, "fingerprint": "abc", "status": 201, "body": {}, "created_at": "2026-01-01T10:00:00Z"}),
            "/fingerprint",
        ),
        (
            "chat-request.schema.json",
            json!({"message": ""}),
            "/message",
        ),
        (
            "chat-request.schema.json",
            json!({"message": "hi", "time_zone": "Mars/Base"}),
            "/time_zone",
        ),
        (
            "chat-settings.schema.json",
            json!({"schema_version": 1, "time_zone": "utc", "updated_at": "2026-01-01T10:00:00Z"}),
            "/time_zone",
        ),
        ("health.schema.json", json!({"status": "ok"}), ""),
    ];
    for (name, instance, pointer) in cases {
        let err = match validate(name, &instance) {
            Ok(()) => panic!("{name} accepted an invalid instance:\n{instance:#}"),
            Err(e) => e,
        };
        assert!(
            err.lines().any(|l| l.starts_with(&format!("{pointer}: "))),
            "{name}: expected a violation at {pointer:?}, got:\n{err}"
        );
    }
}

#[test]
fn every_violation_is_reported() {
    let bad = with(
        with(task(), "/status", json!("done")),
        "/priority",
        json!("urgent"),
    );
    let err = validate("task.schema.json", &bad).unwrap_err();
    assert!(err.lines().any(|l| l.starts_with("/status: ")), "{err}");
    assert!(err.lines().any(|l| l.starts_with("/priority: ")), "{err}");
    assert!(validate("nope.schema.json", &bad).is_err());
}

fn collect_refs<'a>(node: &'a Value, out: &mut Vec<&'a str>) {
    match node {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => out.push(r),
                    _ => collect_refs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

#[test]
fn openapi_is_3_1_and_self_contained() {
    let doc = openapi();
    let version = doc["openapi"].as_str().unwrap();
    assert!(version.starts_with("3.1."), "openapi {version}");
    assert!(doc["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer");
    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    assert!(!refs.is_empty());
    for r in refs {
        let pointer = r
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("external $ref {r}"));
        assert!(doc.pointer(pointer).is_some(), "dangling $ref {r}");
    }
    for path in [
        "/api/healthz",
        "/api/openapi.json",
        "/api/tasks",
        "/api/tasks/{id}",
        "/api/tasks/{id}/complete",
        "/api/tasks/{id}/reopen",
        "/api/chat",
        "/api/chat/{conversation_id}",
    ] {
        assert!(doc["paths"][path].is_object(), "missing path {path}");
    }
    // Every error response carries the Error schema.
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let Some(responses) = operation.get("responses").and_then(Value::as_object) else {
                continue;
            };
            for (status, response) in responses {
                if status.starts_with('4') || status.starts_with('5') {
                    let target = response["$ref"].as_str().unwrap_or_default();
                    let resolved = doc
                        .pointer(target.trim_start_matches('#'))
                        .unwrap_or(response);
                    assert_eq!(
                        resolved["content"]["application/json"]["schema"]["$ref"],
                        "#/components/schemas/Error",
                        "{method} {path} {status}"
                    );
                }
            }
        }
    }
}

/// The schema file with `$id`/`$schema` dropped and its `$ref`s pointed into `components/schemas`.
fn as_component(node: &Value, own: &str, titles: &[(String, String)]) -> Value {
    match node {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| *k != "$id" && *k != "$schema")
                .map(|(k, v)| {
                    let v = match (k.as_str(), v) {
                        ("$ref", Value::String(r)) => {
                            let (file, fragment) = r.split_once('#').unwrap_or((r, ""));
                            let target = if file.is_empty() {
                                own
                            } else {
                                &titles.iter().find(|(f, _)| f == file).unwrap().1
                            };
                            json!(format!("#/components/schemas/{target}{fragment}"))
                        }
                        _ => as_component(v, own, titles),
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| as_component(v, own, titles)).collect())
        }
        other => other.clone(),
    }
}

#[test]
fn openapi_components_are_copies_of_the_schema_files() {
    let doc = openapi();
    let titles: Vec<(String, String)> = SCHEMA_FILES
        .iter()
        .map(|(f, _)| {
            (
                (*f).to_owned(),
                schema(f).unwrap()["title"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for (file, title) in &titles {
        let expected = as_component(&schema(file).unwrap(), title, &titles);
        assert_eq!(
            doc["components"]["schemas"][title], expected,
            "components/schemas/{title} drifted from schemas/{file}"
        );
    }
}
