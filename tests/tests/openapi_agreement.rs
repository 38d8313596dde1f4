//! `api/openapi.json` and chat-api agree, checked by generated requests.
//!
//! For every operation of the document, requests are generated from it with proptest and sent to
//! the shipped chat-api (`.wasm` in wasmtime, its own embedded sidecar):
//!
//! - **valid** requests are built from the operation's parameters and the component schemas of
//!   its request body: which optional members appear, types, `enum`s, ranges, lengths, `pattern`s
//!   (free text from a small alphabet of ASCII and a few non-ASCII letters) and the body's own
//!   cross-field rules (`allOf`), and every generated body is checked against its schema before it
//!   is sent. Rules the document states only in prose are honoured by construction: timestamps are
//!   far in the future (a reminder in the past is refused), `remind_at` is not after `due_date`,
//!   recurrence rules come from the semantic rules `RecurrenceRule`'s description lists, and a
//!   `cursor` is only valid when the API returned it (so valid requests carry none).
//! - **invalid** requests are a valid one with exactly one thing broken: a member of the wrong
//!   type, out of range, outside its enum, too long, empty, unknown, missing; a query parameter that
//!   is empty, unknown, nameless or outside its schema; a malformed `If-Match` or
//!   `Idempotency-Key`. Each broken body is checked to fail its schema.
//!
//! Every answer must have a status the operation documents and a body its documented schema
//! accepts; a valid request never gets 400 and an invalid one always gets `400
//! validation_failed` with `field` naming the culprit (none for a culprit without a name). No
//! answer is a 5xx. Run time: [`CASES`] valid and [`CASES`] invalid cases per operation.
use bytes::Bytes;
use dapr_sidecar::{Sidecar, SidecarConfig};
use proptest::prelude::*;
use proptest::sample::select;
use proptest::strategy::Union;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

/// Cases per operation and kind (valid, invalid).
const CASES: u32 = 64;
const SECRET: &str = "openapi-agreement-secret";
const USER: &str = "agreement-user";

/// The document and, by component title, the schema file each component copies.
struct Doc {
    openapi: Value,
    files_by_title: HashMap<String, &'static str>,
}

static DOC: LazyLock<Doc> = LazyLock::new(|| Doc {
    openapi: contract_schemas::openapi(),
    files_by_title: contract_schemas::SCHEMA_FILES
        .iter()
        .map(|(file, _)| {
            let schema = contract_schemas::schema(file).unwrap();
            (schema["title"].as_str().unwrap().to_owned(), *file)
        })
        .collect(),
});

/// `contract_schemas::validate`, with each schema compiled once per thread (the task schemas
/// carry the tz database and the recurrence pattern: compiling them per check would dominate).
fn validate(file: &'static str, value: &Value) -> Result<(), String> {
    type Check = Box<dyn Fn(&Value) -> bool>;
    thread_local! {
        static CHECKS: std::cell::RefCell<HashMap<&'static str, Check>> = Default::default();
    }
    let valid = CHECKS.with(|checks| {
        let mut checks = checks.borrow_mut();
        let check = checks.entry(file).or_insert_with(|| {
            let validator = contract_schemas::validator(file).unwrap();
            Box::new(move |value| validator.is_valid(value))
        });
        check(value)
    });
    if valid {
        Ok(())
    } else {
        contract_schemas::validate(file, value)
    }
}

/// The node a local `$ref` (`#/components/...`) points to, followed until it is not a `$ref`.
fn resolve(node: &'static Value) -> &'static Value {
    match node.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let pointer = reference.strip_prefix('#').expect("a local $ref");
            resolve(
                DOC.openapi
                    .pointer(pointer)
                    .unwrap_or_else(|| panic!("unresolved $ref {reference}")),
            )
        }
        None => node,
    }
}

/// The schema file a `#/components/schemas/<Title>` reference copies.
fn schema_file(reference: &str) -> &'static str {
    let title = reference
        .strip_prefix("#/components/schemas/")
        .unwrap_or_else(|| panic!("not a component schema: {reference}"));
    DOC.files_by_title
        .get(title)
        .unwrap_or_else(|| panic!("no schema file titled {title}"))
}

/// One documented operation.
struct Operation {
    id: &'static str,
    method: &'static str,
    path: &'static str,
    node: &'static Value,
    parameters: Vec<&'static Value>,
}

fn operation(id: &str) -> Operation {
    let paths = DOC.openapi["paths"].as_object().unwrap();
    for (path, item) in paths {
        for method in ["get", "post", "put", "patch", "delete"] {
            let Some(node) = item.get(method) else {
                continue;
            };
            if node["operationId"] != id {
                continue;
            }
            let mut parameters: Vec<&'static Value> = Vec::new();
            for list in [item.get("parameters"), node.get("parameters")]
                .into_iter()
                .flatten()
            {
                parameters.extend(list.as_array().unwrap().iter().map(resolve));
            }
            return Operation {
                id: node["operationId"].as_str().unwrap(),
                method: match method {
                    "get" => "GET",
                    "post" => "POST",
                    "put" => "PUT",
                    "patch" => "PATCH",
                    _ => "DELETE",
                },
                path: path.as_str(),
                node,
                parameters,
            };
        }
    }
    panic!("no operation {id} in api/openapi.json");
}

impl Operation {
    fn parameter(&self, name: &str, location: &str) -> Option<&'static Value> {
        self.parameters
            .iter()
            .copied()
            .find(|p| p["name"] == name && p["in"] == location)
    }

    fn query_parameters(&self) -> Vec<&'static Value> {
        self.parameters
            .iter()
            .copied()
            .filter(|p| p["in"] == "query")
            .collect()
    }

    /// The `$ref` of the JSON request body's schema, if the operation takes one.
    fn body_schema(&self) -> Option<&'static str> {
        self.node
            .pointer("/requestBody/content/application~1json/schema/$ref")
            .and_then(Value::as_str)
    }

    /// Check `status` and `body` against the documented responses.
    fn check_response(&self, status: u16, body: &Bytes) -> Result<(), String> {
        let Some(response) = self.node["responses"].get(status.to_string()) else {
            let documented: Vec<&String> =
                self.node["responses"].as_object().unwrap().keys().collect();
            return Err(format!(
                "{}: status {status} is not documented (documented: {documented:?}); body {}",
                self.id,
                String::from_utf8_lossy(body)
            ));
        };
        let response = resolve(response);
        let Some(schema) = response.pointer("/content/application~1json/schema") else {
            return if body.is_empty() {
                Ok(())
            } else {
                Err(format!("{}: {status} documents no body", self.id))
            };
        };
        let value: Value = serde_json::from_slice(body).map_err(|e| {
            format!(
                "{}: {status} body is not JSON ({e}): {}",
                self.id,
                String::from_utf8_lossy(body)
            )
        })?;
        match schema.get("$ref").and_then(Value::as_str) {
            Some(reference) => validate(schema_file(reference), &value)
                .map_err(|e| format!("{}: {status} body breaks its schema: {e}\n{value}", self.id)),
            None if schema["type"] == "object" => value
                .is_object()
                .then_some(())
                .ok_or_else(|| format!("{}: {status} body is not an object", self.id)),
            None => panic!("{}: unsupported inline schema {schema}", self.id),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Values from schemas
// ---------------------------------------------------------------------------------------------

const SAFE: &str = "[a-zA-Z0-9éß日]";
const SAFE_OR_SPACE: &str = "[a-zA-Z0-9 éß日]";

/// A `pattern` with its open-ended character classes narrowed to [`SAFE`] characters, as a regex
/// proptest can generate from (no anchors).
fn generable(pattern: &str) -> String {
    let mut out = String::new();
    let mut rest = pattern;
    while let Some(start) = rest.find("[^") {
        out.push_str(&rest[..start]);
        let class_end = start + rest[start..].find(']').expect("closed class") + 1;
        let class = &rest[start..class_end];
        out.push_str(if class.contains("\\s") {
            SAFE
        } else {
            SAFE_OR_SPACE
        });
        rest = &rest[class_end..];
    }
    out.push_str(rest);
    let out = out.replace("\\s", "[ ]").replace("\\S", SAFE);
    let out = out.strip_prefix('^').unwrap_or(&out).to_owned();
    out.strip_suffix('$').unwrap_or(&out).to_owned()
}

fn text(min: usize, max: usize) -> BoxedStrategy<String> {
    let max = max.min(min + 40).max(min);
    proptest::string::string_regex(&format!("{SAFE_OR_SPACE}{{{min},{max}}}"))
        .unwrap()
        .boxed()
}

/// An instant in 2090–2099 with a `Z` or numeric offset: valid, and far enough ahead for any
/// reminder a year before it.
fn future_timestamp() -> BoxedStrategy<String> {
    (
        2090u32..2100,
        1u32..=12,
        1u32..=28,
        0u32..24,
        0u32..60,
        select(vec!["Z", "+02:00", "-05:30", "+00:00"]),
    )
        .prop_map(|(y, mo, d, h, mi, offset)| {
            format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:00{offset}")
        })
        .boxed()
}

/// Recurrence rules the server honours, built from `RecurrenceRule`'s documented rules: a part
/// at most once, `BYMONTHDAY` never with WEEKLY, `BYDAY` ordinals only with MONTHLY/YEARLY
/// within ±4, `BYMONTH` with days every month has, `COUNT` or `UNTIL`; any letter case.
fn recurrence_rule() -> BoxedStrategy<String> {
    let shorthand = prop_oneof![
        select(vec![
            "daily", "weekly", "monthly", "yearly", " Daily ", "WEEKLY"
        ])
        .prop_map(str::to_owned),
        (1u32..=30, select(vec!["day", "days", "week", "weeks"]))
            .prop_map(|(n, unit)| format!("every {n} {unit}")),
    ];
    let days = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"];
    let rrule = (
        select(vec!["DAILY", "WEEKLY", "MONTHLY", "YEARLY"]),
        proptest::option::of(1u16..=12),
        proptest::option::of(proptest::sample::subsequence(days.to_vec(), 1..=3)),
        proptest::option::of(prop_oneof![1i8..=28, Just(-1)]),
        proptest::option::of(1u8..=12),
        proptest::option::of(prop_oneof![
            (1u32..=50).prop_map(|n| format!("COUNT={n}")),
            Just("UNTIL=21010101T000000Z".to_owned()),
        ]),
        (any::<bool>(), any::<bool>(), any::<bool>()),
    )
        .prop_map(
            |(freq, interval, by_day, month_day, month, end, (prefix, ordinal, lower))| {
                let mut parts = vec![format!("FREQ={freq}")];
                if let Some(n) = interval {
                    parts.push(format!("INTERVAL={n}"));
                }
                if let Some(days) = by_day {
                    let monthly = matches!(freq, "MONTHLY" | "YEARLY");
                    let days: Vec<String> = days
                        .iter()
                        .map(|d| {
                            if monthly && ordinal {
                                format!("-1{d}")
                            } else {
                                (*d).to_owned()
                            }
                        })
                        .collect();
                    parts.push(format!("BYDAY={}", days.join(",")));
                }
                if freq != "WEEKLY"
                    && let Some(day) = month_day
                {
                    parts.push(format!("BYMONTHDAY={day}"));
                }
                if let Some(m) = month {
                    parts.push(format!("BYMONTH={m}"));
                }
                parts.extend(end);
                // Any order: FREQ need not come first.
                let turn = usize::from(ordinal && parts.len() > 1);
                parts.rotate_left(turn);
                let rule = format!("{}{}", if prefix { "RRULE:" } else { "" }, parts.join(";"));
                if lower { rule.to_lowercase() } else { rule }
            },
        );
    prop_oneof![shorthand, rrule].boxed()
}

/// Values `schema` accepts. `field` names the member (for the two the document describes in
/// prose: recurrence rules and cursors).
fn valid_value(schema: &'static Value, field: &str) -> BoxedStrategy<Value> {
    let schema = resolve(schema);
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if field == "recurrence_rule" {
        let rule = recurrence_rule().prop_map(Value::String);
        return if types.contains(&"null") {
            prop_oneof![1 => Just(Value::Null), 3 => rule].boxed()
        } else {
            rule.boxed()
        };
    }
    if let Some(branches) = schema.get("anyOf").and_then(Value::as_array) {
        return Union::new(branches.iter().map(|b| valid_value(b, field))).boxed();
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        return select(values.clone()).boxed();
    }
    let mut choices: Vec<BoxedStrategy<Value>> = Vec::new();
    for t in &types {
        choices.push(match *t {
            "null" => Just(Value::Null).boxed(),
            "boolean" => any::<bool>().prop_map(Value::Bool).boxed(),
            "integer" => {
                let min = schema["minimum"].as_i64().unwrap_or(0);
                let max = schema["maximum"].as_i64().unwrap_or(1_000_000);
                prop_oneof![Just(min), Just(max), min..=max]
                    .prop_map(|n| json!(n))
                    .boxed()
            }
            "string" => string_value(schema).prop_map(Value::String).boxed(),
            "array" => {
                let max_items = schema["maxItems"].as_u64().unwrap_or(4).min(4) as usize;
                let unique = schema["uniqueItems"] == true;
                proptest::collection::vec(valid_value(&schema["items"], field), 0..=max_items)
                    .prop_map(move |mut items| {
                        if unique {
                            let mut seen = Vec::new();
                            items.retain(|i| {
                                let new = !seen.contains(i);
                                seen.push(i.clone());
                                new
                            });
                        }
                        Value::Array(items)
                    })
                    .boxed()
            }
            "object" => object_value(schema),
            other => panic!("{field}: unsupported type {other}"),
        });
    }
    assert!(!choices.is_empty(), "{field}: no type in {schema}");
    Union::new(choices).boxed()
}

fn string_value(schema: &'static Value) -> BoxedStrategy<String> {
    let min = schema["minLength"].as_u64().unwrap_or(0) as usize;
    let max = schema["maxLength"].as_u64().map(|n| n as usize);
    match (schema["format"].as_str(), schema["pattern"].as_str()) {
        (Some("date-time"), _) => future_timestamp(),
        (Some("uuid"), _) => any::<u128>()
            .prop_map(|n| uuid::Uuid::from_u128(n).to_string())
            .boxed(),
        (_, Some(pattern)) => proptest::string::string_regex(&generable(pattern))
            .unwrap_or_else(|e| panic!("cannot generate from {pattern}: {e}"))
            .prop_filter("within the length bounds", move |s| {
                let n = s.chars().count();
                n >= min && max.is_none_or(|max| n <= max)
            })
            .boxed(),
        _ => text(min, max.unwrap_or(min + 40)),
    }
}

fn object_value(schema: &'static Value) -> BoxedStrategy<Value> {
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let members: Vec<BoxedStrategy<Option<(String, Value)>>> = schema["properties"]
        .as_object()
        .expect("an object schema lists its properties")
        .iter()
        .map(|(name, member)| {
            let name = name.clone();
            let value = valid_value(member, &name);
            if required.contains(&name.as_str()) {
                value.prop_map(move |v| Some((name.clone(), v))).boxed()
            } else {
                proptest::option::of(value.prop_map(move |v| (name.clone(), v))).boxed()
            }
        })
        .collect();
    members
        .prop_map(|members| Value::Object(members.into_iter().flatten().collect()))
        .boxed()
}

/// A task body the schema at `reference` accepts, with the cross-field rules honoured.
fn valid_body(reference: &'static str) -> BoxedStrategy<Value> {
    let file = schema_file(reference);
    let schema = DOC
        .openapi
        .pointer(reference.strip_prefix('#').unwrap())
        .unwrap();
    (object_value(schema), future_timestamp())
        .prop_map(|(mut body, due)| {
            let object = body.as_object_mut().unwrap();
            let set = |o: &Map<String, Value>, k: &str| o.get(k).is_some_and(|v| !v.is_null());
            if set(object, "reminder_offset_minutes") && set(object, "remind_at") {
                object.remove("remind_at");
            }
            let needs_due = ["reminder_offset_minutes", "remind_at", "recurrence_rule"]
                .iter()
                .any(|k| set(object, k));
            if needs_due && !set(object, "due_date") {
                object.insert("due_date".into(), json!(due));
            }
            // `remind_at` is never after `due_date`.
            if let (Some(Value::String(at)), Some(Value::String(due))) =
                (object.get("remind_at"), object.get("due_date"))
            {
                let instant = |t: &str| chrono::DateTime::parse_from_rfc3339(t).unwrap();
                if instant(at) > instant(due) {
                    let (at, due) = (at.clone(), due.clone());
                    object.insert("remind_at".into(), json!(due));
                    object.insert("due_date".into(), json!(at));
                }
            }
            body
        })
        .prop_filter("valid by the schema", move |body| {
            validate(file, body).is_ok()
        })
        .boxed()
}

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

/// Which task a `/api/tasks/{id}…` request names.
#[derive(Debug, Clone)]
enum Target {
    /// A task created for this case (version 1).
    Fresh,
    /// An id no task has.
    Missing(uuid::Uuid),
}

/// One pair of a query string; `None` as name = a pair without one (`=x`).
type QueryPair = (Option<String>, String);

#[derive(Debug, Clone)]
struct Case {
    target: Target,
    /// Pairs of the query string, encoded when sent; `None` as name = a pair without one.
    query: Vec<QueryPair>,
    headers: Vec<(String, String)>,
    body: Option<Value>,
    /// `None`: valid. `Some(field)`: invalid, the answer's `field` (if any) naming the culprit.
    broken: Option<Option<String>>,
}

impl Case {
    fn valid(
        target: Target,
        query: Vec<QueryPair>,
        headers: Vec<(String, String)>,
        body: Option<Value>,
    ) -> Self {
        Self {
            target,
            query,
            headers,
            body,
            broken: None,
        }
    }

    fn broken(mut self, field: Option<&str>) -> Self {
        self.broken = Some(field.map(str::to_owned));
        self
    }
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

fn query_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Valid query pairs for `op`: each documented parameter (but the opaque `cursor`) or not.
fn valid_query(op: &Operation) -> BoxedStrategy<Vec<QueryPair>> {
    let params: Vec<BoxedStrategy<Option<QueryPair>>> = op
        .query_parameters()
        .into_iter()
        .filter(|p| p["name"] != "cursor")
        .map(|p| {
            let name = p["name"].as_str().unwrap().to_owned();
            proptest::option::weighted(
                0.3,
                valid_value(&p["schema"], &name)
                    .prop_map(move |v| (Some(name.clone()), query_text(&v))),
            )
            .boxed()
        })
        .collect();
    params
        .prop_map(|pairs| pairs.into_iter().flatten().collect())
        .boxed()
}

/// One query parameter broken (replacing a valid value of it, if any), with the field named.
fn broken_query(op: &Operation) -> BoxedStrategy<(Option<String>, String, Option<String>)> {
    let names: Vec<String> = op
        .query_parameters()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect();
    let enum_params: Vec<(String, Vec<Value>)> = op
        .query_parameters()
        .iter()
        .filter_map(|p| {
            let values = p["schema"]["enum"].as_array()?;
            Some((p["name"].as_str()?.to_owned(), values.clone()))
        })
        .collect();
    let named = |name: &str, value: String| (Some(name.to_owned()), value, Some(name.to_owned()));
    let known = names.clone();
    prop_oneof![
        select(names).prop_map(move |n| named(&n, String::new())),
        (select(enum_params), "[a-z_]{1,10}")
            .prop_filter("outside the enum", |((_, values), word)| !values
                .contains(&json!(word)))
            .prop_map(move |((n, _), word)| named(&n, word)),
        "[a-z]{256,300}".prop_map(move |s| named("search", s)),
        select(vec!["0", "501", "abc", "1.5", "-1", "+5", " 5"])
            .prop_map(move |v| named("limit", v.to_owned())),
        (select(vec!["due_before", "due_after"]), "[a-z]{1,10}")
            .prop_map(move |(n, v)| named(n, v)),
        select(vec!["urgent", "low,,high", "high,", "High", "low, high"])
            .prop_map(move |v| named("priority", v.to_owned())),
        select(vec!["a,,b", ",a", "a,"])
            .prop_map(move |v| named("tags", v.to_owned()))
            .boxed()
            .prop_union("x{51,60}".prop_map(move |v| named("tags", v)).boxed()),
        "[A-Za-z0-9_-]{1,30}".prop_map(move |v| named("cursor", v)),
        "[a-z_]{1,12}"
            .prop_filter("unknown", move |n| !known.contains(n))
            .prop_map(|n| (Some(n.clone()), "x".to_owned(), Some(n))),
        "[a-z]{0,5}".prop_map(|v| (None, v, None)),
    ]
    .boxed()
}

/// A member of `reference`'s body broken in one way, with the field to blame.
fn broken_member(reference: &'static str) -> BoxedStrategy<(String, Option<Value>)> {
    let schema = DOC
        .openapi
        .pointer(reference.strip_prefix('#').unwrap())
        .unwrap();
    let properties: Vec<String> = schema["properties"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let known = properties.clone();
    let set = |field: &'static str, value: Value| (field.to_owned(), Some(value));
    prop_oneof![
        // Wrong type.
        select(properties).prop_map(|field| {
            let wrong = match field.as_str() {
                "reminder_offset_minutes" => json!("ten"),
                "tags" => json!("home"),
                _ => json!(42),
            };
            (field, Some(wrong))
        }),
        // Out of range.
        select(vec![-1i64, 525_601, 10_000_000])
            .prop_map(move |n| set("reminder_offset_minutes", json!(n))),
        Just(set("reminder_offset_minutes", json!(1.5))),
        // Outside the enum.
        (
            select(vec!["status", "priority", "repeat_from"]),
            "[a-z]{1,10}"
        )
            .prop_filter("outside the enum", |(_, w)| ![
                "pending",
                "in_progress",
                "completed",
                "low",
                "medium",
                "high",
                "due_date",
                "completion"
            ]
            .contains(&w.as_str()))
            .prop_map(|(f, w)| (f.to_owned(), Some(json!(w)))),
        select(vec!["0", "Mars/Olympus", " UTC", "utc", "Europe/Nowhere"])
            .prop_map(move |z| set("time_zone", json!(z))),
        select(vec![
            "0",
            "every 0 days",
            "FREQ=HOURLY",
            "sometimes",
            "FREQ=DAILY;COUNT=0"
        ])
        .prop_map(move |r| set("recurrence_rule", json!(r))),
        (select(vec!["due_date", "remind_at"]), "[a-z0-9]{1,12}")
            .prop_map(|(f, v)| (f.to_owned(), Some(json!(v)))),
        // Too long.
        "[a-z]{256,300}".prop_map(move |t| set("title", json!(t))),
        "[a-z]{2001,2010}".prop_map(move |t| set("description", json!(t))),
        "[a-z]{51,60}".prop_map(move |t| set("tags", json!([t]))),
        (21usize..=25).prop_map(move |n| set(
            "tags",
            json!((0..n).map(|i| format!("t{i}")).collect::<Vec<_>>())
        )),
        "[a-z]{501,520}".prop_map(move |r| set("recurrence_rule", json!(r))),
        // Empty.
        select(vec!["title", "time_zone", "recurrence_rule"])
            .prop_map(|f| (f.to_owned(), Some(json!("")))),
        Just(set("tags", json!([""]))),
        Just(set("title", json!("   "))),
        // Unknown or read-only.
        "[a-z_]{1,12}"
            .prop_filter("unknown", move |n| !known.contains(n))
            .prop_map(|n| (n, Some(json!("x")))),
        select(vec!["id", "version", "user_id", "created_at"])
            .prop_map(|f| (f.to_owned(), Some(json!("x")))),
    ]
    .boxed()
}

fn if_match_cases() -> BoxedStrategy<(String, String)> {
    select(vec![
        "",
        "1",
        "\"\"",
        "\"1\", \"2\"",
        "W/1",
        "\"one\"",
        "**",
        "\"1",
    ])
    .prop_map(|v| ("if-match".to_owned(), v.to_owned()))
    .boxed()
}

/// A valid `If-Match` for a fresh task (version 1): none, `*`, its ETag, or a stale one (412).
fn valid_if_match() -> BoxedStrategy<Vec<(String, String)>> {
    proptest::option::of(select(vec!["*", "\"1\"", "W/\"1\"", "\"7\""]))
        .prop_map(|v| {
            v.map(|v| vec![("if-match".to_owned(), v.to_owned())])
                .unwrap_or_default()
        })
        .boxed()
}

fn target() -> BoxedStrategy<Target> {
    prop_oneof![
        4 => Just(Target::Fresh),
        1 => any::<u128>().prop_map(|n| Target::Missing(uuid::Uuid::from_u128(n))),
    ]
    .boxed()
}

fn valid_cases(op: &Operation) -> BoxedStrategy<Case> {
    match op.id {
        "listTasks" => valid_query(op)
            .prop_map(|query| Case::valid(Target::Fresh, query, Vec::new(), None))
            .boxed(),
        "createTask" => {
            let key = generable(
                op.parameter("Idempotency-Key", "header").unwrap()["schema"]["pattern"]
                    .as_str()
                    .unwrap(),
            );
            (
                valid_body(op.body_schema().unwrap()),
                proptest::option::of(proptest::string::string_regex(&key).unwrap()),
            )
                .prop_map(|(body, key)| {
                    let headers = key
                        .map(|k| vec![("idempotency-key".to_owned(), k)])
                        .unwrap_or_default();
                    Case::valid(Target::Fresh, Vec::new(), headers, Some(body))
                })
                .boxed()
        }
        "getTask" => target()
            .prop_map(|t| Case::valid(t, Vec::new(), Vec::new(), None))
            .boxed(),
        "replaceTask" | "updateTask" => (
            target(),
            valid_if_match(),
            valid_body(op.body_schema().unwrap()),
        )
            .prop_map(|(t, headers, body)| Case::valid(t, Vec::new(), headers, Some(body)))
            .boxed(),
        "deleteTask" | "completeTask" | "reopenTask" => (target(), valid_if_match())
            .prop_map(|(t, headers)| Case::valid(t, Vec::new(), headers, None))
            .boxed(),
        "chat" => {
            let key = generable(
                op.parameter("Idempotency-Key", "header").unwrap()["schema"]["pattern"]
                    .as_str()
                    .unwrap(),
            );
            (
                target(),
                chat_body(op),
                proptest::option::of(proptest::string::string_regex(&key).unwrap()),
            )
                .prop_map(|(t, body, key)| {
                    let headers = key
                        .map(|k| vec![("idempotency-key".to_owned(), k)])
                        .unwrap_or_default();
                    Case::valid(t, Vec::new(), headers, Some(body))
                })
                .boxed()
        }
        "getConversation" => target()
            .prop_map(|t| Case::valid(t, Vec::new(), Vec::new(), None))
            .boxed(),
        other => panic!("no generator for {other}"),
    }
}

fn invalid_cases(op: &Operation) -> BoxedStrategy<Case> {
    let fresh = |headers, body| Case::valid(Target::Fresh, Vec::new(), headers, body);
    match op.id {
        "listTasks" => (valid_query(op), broken_query(op))
            .prop_map(|(mut query, (name, value, field))| {
                query.retain(|(n, _)| *n != name);
                query.push((name, value));
                Case::valid(Target::Fresh, query, Vec::new(), None).broken(field.as_deref())
            })
            .boxed(),
        "createTask" | "replaceTask" | "updateTask" => {
            let reference = op.body_schema().unwrap();
            let file = schema_file(reference);
            let create = op.id != "updateTask";
            let body = (valid_body(reference), broken_member(reference))
                .prop_map(move |(mut body, (field, value))| {
                    let object = body.as_object_mut().unwrap();
                    match value {
                        Some(value) => object.insert(field.clone(), value),
                        None => object.remove(&field),
                    };
                    (body, Some(field))
                })
                .boxed();
            let special = if create {
                valid_body(reference)
                    .prop_map(|mut body| {
                        body.as_object_mut().unwrap().remove("title");
                        (body, Some("title".to_owned()))
                    })
                    .boxed()
            } else {
                Just((json!({}), None)).boxed()
            };
            let bodies = prop_oneof![6 => body, 1 => special]
                .prop_filter("invalid by the schema", move |(body, _)| {
                    validate(file, body).is_err()
                })
                .prop_map(move |(body, field)| {
                    fresh(Vec::new(), Some(body)).broken(field.as_deref())
                });
            let header = if create && op.id == "createTask" {
                valid_body(reference)
                    .prop_flat_map(move |body| {
                        select(vec!["", "a|b", "é", "with space"])
                            .prop_map(|k| k.to_owned())
                            .boxed()
                            .prop_union("k{256,260}".boxed())
                            .prop_map(move |key| {
                                fresh(vec![("idempotency-key".into(), key)], Some(body.clone()))
                                    .broken(Some("Idempotency-Key"))
                            })
                    })
                    .boxed()
            } else {
                (valid_body(reference), if_match_cases())
                    .prop_map(move |(body, header)| {
                        fresh(vec![header], Some(body)).broken(Some("If-Match"))
                    })
                    .boxed()
            };
            prop_oneof![4 => bodies, 1 => header].boxed()
        }
        "deleteTask" | "completeTask" | "reopenTask" => if_match_cases()
            .prop_map(move |header| fresh(vec![header], None).broken(Some("If-Match")))
            .boxed(),
        "chat" => {
            let file = schema_file(op.body_schema().unwrap());
            let bodies = (chat_body(op), broken_chat_member())
                .prop_map(|(mut body, (field, value))| {
                    let object = body.as_object_mut().unwrap();
                    match value {
                        Some(value) => object.insert(field.clone(), value),
                        None => object.remove(&field),
                    };
                    (body, field)
                })
                .prop_filter("invalid by the schema", move |(body, _)| {
                    validate(file, body).is_err()
                })
                .prop_map(move |(body, field)| fresh(Vec::new(), Some(body)).broken(Some(&field)));
            let header = (
                chat_body(op),
                select(vec!["", "a|b", "é", "with space"])
                    .prop_map(|k| k.to_owned())
                    .boxed()
                    .prop_union("k{256,260}".boxed()),
            )
                .prop_map(move |(body, key)| {
                    fresh(vec![("idempotency-key".into(), key)], Some(body))
                        .broken(Some("Idempotency-Key"))
                });
            prop_oneof![4 => bodies, 1 => header].boxed()
        }
        other => panic!("no invalid generator for {other}"),
    }
}

/// A `ChatRequest` its schema accepts. A `conversation_id` is a placeholder: [`Api::run`] puts a
/// fresh conversation's id there (or leaves an unknown one for a missing target).
fn chat_body(op: &Operation) -> BoxedStrategy<Value> {
    let reference = op.body_schema().unwrap();
    let file = schema_file(reference);
    let schema = DOC
        .openapi
        .pointer(reference.strip_prefix('#').unwrap())
        .unwrap();
    let message = prop_oneof![
        select(vec![
            "help",
            "add buy milk",
            "add pay rent tomorrow 9am #home",
            "show my tasks",
            "what's due today?",
            "done with 1",
            "delete buy milk",
        ])
        .prop_map(str::to_owned),
        text(1, 60).prop_filter("not blank", |t| !t.trim().is_empty()),
    ];
    (object_value(schema), message)
        .prop_map(|(mut body, message)| {
            body["message"] = json!(message);
            body
        })
        .prop_filter("valid by the schema", move |body| {
            validate(file, body).is_ok()
        })
        .boxed()
}

/// One member of a chat request broken: `(member, Some(value))` sets it, `None` removes it.
fn broken_chat_member() -> BoxedStrategy<(String, Option<Value>)> {
    let set = |field: &str, value: Value| (field.to_owned(), Some(value));
    prop_oneof![
        select(vec![
            json!(""),
            json!("   "),
            json!(5),
            json!(null),
            json!(["hi"])
        ])
        .prop_map(move |v| set("message", v)),
        "[a-z]{4001,4010}".prop_map(move |t| set("message", json!(t))),
        Just(("message".to_owned(), None)),
        select(vec![
            json!("nope"),
            json!(5),
            json!("0B9F3C62-5D1E-4C1A-9A59-8F0D2A7B6C11"),
            json!("0b9f3c625d1e4c1a9a598f0d2a7b6c11"),
        ])
        .prop_map(move |v| set("conversation_id", v)),
        select(vec![
            json!("Mars/Base"),
            json!(" UTC"),
            json!("utc"),
            json!(1)
        ])
        .prop_map(move |v| set("time_zone", v)),
        "[a-z_]{1,12}"
            .prop_filter("unknown", |n| !["message", "conversation_id", "time_zone"]
                .contains(&n.as_str()))
            .prop_map(|n| (n, Some(json!("x")))),
    ]
    .boxed()
}

// ---------------------------------------------------------------------------------------------
// Running
// ---------------------------------------------------------------------------------------------

struct Api {
    _sidecar: Sidecar,
    component: todo_tests::TestComponent,
    token: String,
}

impl Api {
    fn start() -> Self {
        let sidecar = Sidecar::new(SidecarConfig::default());
        let component = todo_tests::component_with(
            "chat-api",
            Arc::new(todo_tests::SidecarOutbound(sidecar.clone())),
            &[("jwt_secret", SECRET), ("app_api_token", "agreement-token")],
        );
        let now = chrono::Utc::now().timestamp() as u64;
        let token = todo_domain::auth::issue_token(SECRET.as_bytes(), USER, now, 3600);
        Self {
            _sidecar: sidecar,
            component,
            token,
        }
    }

    async fn send(
        &self,
        method: &str,
        uri: &str,
        headers: &[(String, String)],
        body: Option<&Value>,
    ) -> (u16, Bytes) {
        let mut request = http::Request::builder()
            .method(method)
            .uri(format!("http://localhost:3000{uri}"))
            .header("authorization", format!("Bearer {}", self.token));
        if body.is_some() {
            request = request.header("content-type", "application/json");
        }
        for (name, value) in headers {
            request = request.header(name, http::HeaderValue::from_str(value).unwrap());
        }
        let body = body
            .map(|b| Bytes::from(serde_json::to_vec(b).unwrap()))
            .unwrap_or_default();
        let response = self.component.send(request.body(body).unwrap()).await;
        (response.status().as_u16(), response.body().clone())
    }

    async fn run(&self, op: &Operation, case: &Case) -> Result<(), TestCaseError> {
        let conversations = op.path.starts_with("/api/chat");
        let id = match &case.target {
            Target::Missing(id) => id.to_string(),
            Target::Fresh if conversations => {
                let (status, body) = self
                    .send("POST", "/api/chat", &[], Some(&json!({"message": "help"})))
                    .await;
                prop_assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
                let answer: Value = serde_json::from_slice(&body).unwrap();
                answer["conversation_id"].as_str().unwrap().to_owned()
            }
            Target::Fresh => {
                let (status, body) = self
                    .send("POST", "/api/tasks", &[], Some(&json!({"title": "target"})))
                    .await;
                prop_assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
                let task: Value = serde_json::from_slice(&body).unwrap();
                task["id"].as_str().unwrap().to_owned()
            }
        };
        let mut uri = op
            .path
            .replace("{id}", &id)
            .replace("{conversation_id}", &id);
        let mut body = case.body.clone();
        // A valid chat message names the case's conversation (fresh, or an unknown id).
        if conversations
            && case.broken.is_none()
            && let Some(Value::Object(object)) = &mut body
            && object.get("conversation_id").is_some_and(Value::is_string)
        {
            object.insert("conversation_id".to_owned(), json!(id));
        }
        if !case.query.is_empty() {
            let pairs: Vec<String> = case
                .query
                .iter()
                .map(|(name, value)| {
                    format!(
                        "{}={}",
                        name.as_deref().map(encode).unwrap_or_default(),
                        encode(value)
                    )
                })
                .collect();
            uri = format!("{uri}?{}", pairs.join("&"));
        }
        let sent = body;
        let (status, body) = self
            .send(op.method, &uri, &case.headers, sent.as_ref())
            .await;
        let shown = || {
            format!(
                "{} {uri} {:?} {}\n→ {status} {}",
                op.method,
                case.headers,
                sent.as_ref().map(Value::to_string).unwrap_or_default(),
                String::from_utf8_lossy(&body)
            )
        };
        op.check_response(status, &body)
            .map_err(|e| TestCaseError::fail(format!("{e}\n{}", shown())))?;
        prop_assert!(status < 500, "5xx: {}", shown());
        match &case.broken {
            None => prop_assert_ne!(status, 400, "a valid request was refused: {}", shown()),
            Some(field) => {
                prop_assert_eq!(status, 400, "an invalid request was accepted: {}", shown());
                let error: Value = serde_json::from_slice(&body).unwrap();
                prop_assert_eq!(&error["error"]["code"], "validation_failed", "{}", shown());
                prop_assert_eq!(
                    error["error"]["field"].as_str(),
                    field.as_deref(),
                    "{}",
                    shown()
                );
            }
        }
        Ok(())
    }
}

fn agree(operation_id: &str) {
    let op = operation(operation_id);
    let api = Api::start();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let config = Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    };
    for (kind, cases) in [("valid", valid_cases(&op)), ("invalid", invalid_cases(&op))] {
        let mut runner = TestRunner::new(config.clone());
        if let Err(e) = runner.run(&cases, |case| runtime.block_on(api.run(&op, &case))) {
            panic!("{operation_id} ({kind} requests): {e}");
        }
    }
}

#[test]
fn list_tasks_agrees() {
    agree("listTasks");
}

#[test]
fn create_task_agrees() {
    agree("createTask");
}

#[test]
fn get_task_agrees() {
    let op = operation("getTask");
    let api = Api::start();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut runner = TestRunner::new(Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&valid_cases(&op), |case| {
        runtime.block_on(api.run(&op, &case))
    });
    if let Err(e) = result {
        panic!("getTask: {e}");
    }
}

#[test]
fn replace_task_agrees() {
    agree("replaceTask");
}

#[test]
fn update_task_agrees() {
    agree("updateTask");
}

#[test]
fn delete_task_agrees() {
    agree("deleteTask");
}

#[test]
fn complete_task_agrees() {
    agree("completeTask");
}

#[test]
fn reopen_task_agrees() {
    agree("reopenTask");
}

#[test]
fn chat_agrees() {
    agree("chat");
}

#[test]
fn get_conversation_agrees() {
    let op = operation("getConversation");
    let api = Api::start();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut runner = TestRunner::new(Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&valid_cases(&op), |case| {
        runtime.block_on(api.run(&op, &case))
    });
    if let Err(e) = result {
        panic!("getConversation: {e}");
    }
}

#[test]
fn every_operation_of_the_document_is_covered() {
    let mut ids: Vec<&str> = DOC.openapi["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|item| item.as_object().unwrap().values())
        .filter_map(|node| node.get("operationId").and_then(Value::as_str))
        .collect();
    ids.sort_unstable();
    assert_eq!(
        ids,
        [
            "chat",
            "completeTask",
            "createTask",
            "deleteTask",
            "getConversation",
            "getTask",
            "health",
            "listTasks",
            "openapi",
            "reopenTask",
            "replaceTask",
            "updateTask",
        ],
        "a new operation needs its generators here"
    );
}

#[tokio::test]
async fn the_unauthenticated_operations_agree() {
    let api = Api::start();
    for id in ["health", "openapi"] {
        let op = operation(id);
        let (status, body) = api.send(op.method, op.path, &[], None).await;
        assert_eq!(status, 200, "{id}");
        op.check_response(status, &body).unwrap();
    }
}

#[test]
fn generable_patterns_keep_their_structure() {
    assert_eq!(
        generable("^[^,\\s]x[^,]$"),
        format!("{SAFE}x{SAFE_OR_SPACE}")
    );
    assert_eq!(generable("\\s*\\S"), format!("[ ]*{SAFE}"));
}
