//! `POST /api/chat` and `GET /api/chat/{conversation_id}` (docs/contracts.md "Chat").
//!
//! One message is one turn: the offline [`assistant`] (or, when configured, an LLM with the same
//! tools, falling back to the offline assistant: [`llm`]) turns it into calls of the task
//! operations ([`tools`]); the reply, the calls and the assistant's memory are appended to the
//! conversation ([`conversations`]). Relative dates are read in the request's `time_zone`, else
//! the one the user last sent, else UTC.
pub mod conversations;
pub mod llm;
// Run by build.rs; compiled here only for its tests.
#[cfg(test)]
mod tool_schemas;
pub mod tools;

use crate::http::idempotency_key;
use crate::idempotency::Idempotency;
use crate::{ApiError, App, Runtime, tasks};
use assistant::{Context, Memory, Understood};
use component_kit::log::{RequestLog, warn};
use component_kit::request::json_body;
use component_kit::{Request, Response, json_response};
use conversations::{Conversation, Conversations, Exchange, Message, Role, ToolCallRecord};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicU32, Ordering};
use todo_domain::{FieldError, TimeZone};
use uuid::Uuid;

/// Longest message, in Unicode characters (`chat-request.schema.json`).
pub const MAX_MESSAGE_CHARS: usize = 4000;

/// A parsed `POST /api/chat` body (`chat-request.schema.json`).
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    pub conversation_id: Option<Uuid>,
    pub message: String,
    pub time_zone: Option<TimeZone>,
}

impl ChatRequest {
    pub fn from_json(body: &Value) -> Result<Self, FieldError> {
        let object = body
            .as_object()
            .ok_or_else(|| FieldError::general("the body must be a JSON object"))?;
        if let Some(unknown) = object
            .keys()
            .find(|k| !matches!(k.as_str(), "conversation_id" | "message" | "time_zone"))
        {
            return Err(FieldError::new(unknown.clone(), "unknown field"));
        }
        let conversation_id = match object.get("conversation_id") {
            None | Some(Value::Null) => None,
            Some(value) => Some(
                value
                    .as_str()
                    .and_then(|raw| Uuid::parse_str(raw).ok().filter(|id| id.to_string() == raw))
                    .ok_or_else(|| {
                        FieldError::new(
                            "conversation_id",
                            "must be a conversation id (a lowercase UUID) or null",
                        )
                    })?,
            ),
        };
        let message = match object.get("message") {
            Some(Value::String(text))
                if (1..=MAX_MESSAGE_CHARS).contains(&text.chars().count())
                    && text.chars().any(|c| !c.is_whitespace()) =>
            {
                text.clone()
            }
            _ => {
                return Err(FieldError::new(
                    "message",
                    format!("must be a text of 1–{MAX_MESSAGE_CHARS} characters, not blank"),
                ));
            }
        };
        let time_zone = match object.get("time_zone") {
            None | Some(Value::Null) => None,
            Some(Value::String(raw)) => Some(TimeZone::parse(raw)?),
            Some(_) => {
                return Err(FieldError::new(
                    "time_zone",
                    "must be an IANA time zone name, e.g. Europe/Berlin",
                ));
            }
        };
        Ok(Self {
            conversation_id,
            message,
            time_zone,
        })
    }
}

/// What one turn said and did.
#[derive(Debug, Default)]
pub struct Turn {
    pub text: String,
    pub tool_calls: Vec<ToolCallRecord>,
    pub memory: Memory,
    pub published: Vec<String>,
}

/// `POST /api/chat`.
pub async fn post<R: Runtime>(
    app: &App<R>,
    user: &str,
    request: &Request,
    log: &mut RequestLog,
) -> Result<Response, ApiError> {
    let body = json_body(request)?;
    let chat = ChatRequest::from_json(&body)?;
    // The route is part of the fingerprint: a key first used for a create is not a chat's.
    let idempotency = idempotency_key(request)?
        .map(|key| Idempotency::new(key, &json!({"POST /api/chat": body})));
    let store = Conversations {
        dapr: &app.dapr,
        state_store: &app.config.state_store,
    };
    if let Some(idempotency) = &idempotency
        && let Some(first) = idempotency
            .replay_body(&app.dapr, &app.config.state_store, user)
            .await?
    {
        return Ok(replayed(&first));
    }
    let now = app.runtime().now();
    let (conversation, etag) = match chat.conversation_id {
        Some(id) => {
            let entry = store.load(user, id).await?.ok_or(ApiError::NotFound)?;
            (entry.value, entry.etag)
        }
        None => (Conversation::new(Uuid::new_v4(), user, now), None),
    };
    let stored_zone = store.settings(user).await?.map(|s| s.value.time_zone);
    let zone = chat.time_zone.or(stored_zone).unwrap_or_default();
    let context = Context {
        now,
        time_zone: zone.tz(),
        memory: conversation.memory(),
    };
    let turn = run_turn(
        app,
        user,
        &conversation,
        &chat.message,
        context,
        &idempotency,
    )
    .await?;
    log.event_ids.extend(turn.published.iter().cloned());
    let answer = json!({
        "conversation_id": conversation.conversation_id,
        "response": turn.text,
        "tool_calls": turn.tool_calls,
    });
    let messages = [
        Message {
            role: Role::User,
            content: chat.message.clone(),
            created_at: now,
            tool_calls: Vec::new(),
        },
        Message {
            role: Role::Assistant,
            content: turn.text.clone(),
            created_at: now,
            tool_calls: turn.tool_calls.clone(),
        },
    ];
    let exchange = Exchange {
        messages: &messages,
        memory: &turn.memory,
        time_zone: chat.time_zone.filter(|zone| Some(*zone) != stored_zone),
        idempotency: idempotency.as_ref().map(|i| (i, &answer)),
    };
    match store.save(user, conversation, etag, exchange, now).await? {
        Some(first) => Ok(replayed(&first)),
        None => Ok(json_response(200, &answer)),
    }
}

/// `GET /api/chat/{conversation_id}`: the conversation's messages, oldest first.
pub async fn get<R: Runtime>(app: &App<R>, user: &str, id: &str) -> Result<Response, ApiError> {
    let id = Uuid::parse_str(id).map_err(|_| ApiError::NotFound)?;
    let store = Conversations {
        dapr: &app.dapr,
        state_store: &app.config.state_store,
    };
    let conversation = store.load(user, id).await?.ok_or(ApiError::NotFound)?;
    Ok(json_response(200, &conversation.value.history()))
}

fn replayed(first: &Value) -> Response {
    let mut response = json_response(200, first);
    response.headers_mut().insert(
        "idempotency-replayed",
        http::HeaderValue::from_static("true"),
    );
    response
}

/// The LLM's turn when one is configured and answers usefully, else the offline assistant's.
async fn run_turn<R: Runtime>(
    app: &App<R>,
    user: &str,
    conversation: &Conversation,
    message: &str,
    context: Context,
    idempotency: &Option<Idempotency>,
) -> Result<Turn, ApiError> {
    let keys = CreateKeys::new(idempotency.as_ref());
    match app.config.llm.provider() {
        Ok(Some(provider)) => {
            match llm::turn(app, &provider, user, conversation, message, &context, &keys).await? {
                llm::Outcome::Answered(turn) => return Ok(turn),
                llm::Outcome::Fallback(reason) => {
                    warn(
                        "the LLM assistant failed; the offline assistant answers",
                        &reason,
                    );
                }
            }
        }
        Ok(None) => {}
        Err(reason) => warn(
            "the LLM assistant is misconfigured; the offline assistant answers",
            &reason,
        ),
    }
    offline_turn(app, user, message, context, &keys).await
}

/// The offline assistant's turn (`assistant` crate docs: understand, resolve, call, reply).
pub async fn offline_turn<R: Runtime>(
    app: &App<R>,
    user: &str,
    message: &str,
    context: Context,
    keys: &CreateKeys,
) -> Result<Turn, ApiError> {
    let tasks = tasks(app);
    let mut turn = Turn {
        memory: context.memory.clone(),
        ..Turn::default()
    };
    let understood = match assistant::understand(message, &context) {
        Understood::NeedsTasks(pending) => {
            let all = tools::all_tasks(&tasks, user, context.now, &mut turn.published).await?;
            pending.resolve(&all, &context)
        }
        understood => understood,
    };
    match understood {
        Understood::Call(call) => {
            let ran = tools::run(&tasks, user, &call, keys.next(&call), context.now).await?;
            let reply = assistant::reply(&call, &ran.record.result, &context);
            turn.memory.after_reply(&reply);
            turn.text = reply.text;
            turn.tool_calls.push(ran.record);
            turn.published.extend(ran.published);
        }
        Understood::Ask(question) => {
            turn.memory.after_question(&question);
            turn.text = question.question;
        }
        Understood::Reply(text) => {
            turn.memory.after_text();
            turn.text = text;
        }
        // `resolve` never asks for the tasks again.
        Understood::NeedsTasks(_) => {
            turn.memory.after_text();
            turn.text = assistant::HELP.to_owned();
        }
    }
    Ok(turn)
}

/// `Idempotency-Key`s for the creates of one chat request: a retry of the request (same key)
/// replays its `add_task`s instead of adding the tasks again, even when the first attempt died
/// before the conversation was saved.
pub struct CreateKeys {
    base: Option<Idempotency>,
    made: AtomicU32,
}

impl CreateKeys {
    pub fn new(request: Option<&Idempotency>) -> Self {
        Self {
            base: request.cloned(),
            made: AtomicU32::new(0),
        }
    }

    /// The key of the next `add_task` of this request (`None` for other tools or without a
    /// request key).
    pub fn next(&self, call: &assistant::ToolCall) -> Option<Idempotency> {
        let base = self.base.as_ref()?;
        let assistant::ToolCall::AddTask { task } = call else {
            return None;
        };
        let n = self.made.fetch_add(1, Ordering::Relaxed);
        let digest = Sha256::digest(format!("chat|{}|{n}", base.key.as_str()).as_bytes());
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        let key = crate::idempotency::IdempotencyKey::parse(&format!("chat-{}", &hex[..40]))
            .expect("a valid key");
        Some(Idempotency::new(key, &Value::Object(task.clone())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_requests_are_parsed_naming_the_bad_field() {
        let ok =
            ChatRequest::from_json(&json!({"message": "add milk", "time_zone": "Europe/Berlin"}))
                .unwrap();
        assert_eq!(ok.message, "add milk");
        assert_eq!(ok.time_zone.unwrap().name(), "Europe/Berlin");
        assert!(ok.conversation_id.is_none());
        let id = Uuid::from_u128(0xabcdef);
        let with_id =
            ChatRequest::from_json(&json!({"message": "x", "conversation_id": id})).unwrap();
        assert_eq!(with_id.conversation_id, Some(id));
        let field = |body: Value| ChatRequest::from_json(&body).unwrap_err().field;
        for (body, expected) in [
            (json!({}), "message"),
            (json!({"message": "   "}), "message"),
            (json!({"message": 5}), "message"),
            (json!({"message": "é".repeat(4001)}), "message"),
            (
                json!({"message": "x", "conversation_id": "7"}),
                "conversation_id",
            ),
            (
                json!({"message": "x", "conversation_id": id.to_string().to_uppercase()}),
                "conversation_id",
            ),
            (
                json!({"message": "x", "time_zone": "Mars/Base"}),
                "time_zone",
            ),
            (json!({"message": "x", "time_zone": 1}), "time_zone"),
            (json!({"message": "x", "mood": "good"}), "mood"),
        ] {
            assert_eq!(field(body.clone()).as_deref(), Some(expected), "{body}");
        }
        assert!(ChatRequest::from_json(&json!({"message": "é".repeat(4000)})).is_ok());
    }

    #[test]
    fn creates_of_one_request_get_distinct_stable_keys() {
        let key = crate::idempotency::IdempotencyKey::parse("k-1").unwrap();
        let request = Idempotency::new(key, &json!({}));
        let add = assistant::ToolCall::AddTask {
            task: json!({"title": "milk"}).as_object().unwrap().clone(),
        };
        let first = CreateKeys::new(Some(&request));
        let (a, b) = (first.next(&add).unwrap(), first.next(&add).unwrap());
        assert_ne!(a.key, b.key);
        let retry = CreateKeys::new(Some(&request));
        assert_eq!(retry.next(&add).unwrap(), a);
        let list = assistant::ToolCall::ListTasks {
            query: serde_json::Map::new(),
        };
        assert!(retry.next(&list).is_none());
        assert!(CreateKeys::new(None).next(&add).is_none());
    }
}
