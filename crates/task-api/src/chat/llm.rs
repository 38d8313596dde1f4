//! The optional LLM assistant: an OpenAI-compatible chat-completions provider calling the same
//! tools (docs/contracts.md "Chat"). Off unless `llm_base_url` and `llm_model` are set.
//!
//! A turn sends the system prompt, the conversation's recent messages and the new one with the
//! tools' JSON Schemas ([`tools::definitions`]), runs the tool calls the provider asks for through
//! the task operations and sends their results back, for at most [`MAX_ROUNDS`] rounds; each call
//! to the provider may take `llm_timeout_ms`. Every tool call is checked with
//! [`assistant::ToolCall::parse`] before anything of its round runs.
//!
//! When the provider fails (no connection, timeout, non-2xx, an answer that is not a completion,
//! an empty answer) or asks for a tool call that does not parse, the offline assistant answers
//! instead — unless tools already ran in this turn: then the answer is the offline assistant's
//! replies to what ran, so nothing is done twice.
use crate::chat::conversations::{Conversation, Role};
use crate::chat::tools;
use crate::chat::{CreateKeys, Turn};
use crate::{ApiError, App, Runtime, tasks};
use assistant::{Context, ToolCall};
use component_kit::log::warn;
use serde_json::{Value, json};
use std::time::Duration;

/// Provider rounds per message (each may run several tool calls).
pub const MAX_ROUNDS: usize = 4;
/// Earlier messages of the conversation sent along (user and assistant texts).
pub const HISTORY_MESSAGES: usize = 10;
/// `llm_timeout_ms` when unset.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);
const MAX_TIMEOUT_MS: u64 = 120_000;
/// List items a tool result sent to the provider keeps.
const MAX_LIST_ITEMS_SENT: usize = 50;

/// The `llm_*` Spin variables as given (`None` or empty = unset).
#[derive(Debug, Clone, Default)]
pub struct LlmSettings {
    pub base_url: Option<String>,
    pub model: Option<String>,
    pub api_key: Option<String>,
    pub timeout_ms: Option<String>,
}

/// A configured provider.
#[derive(Debug, Clone, PartialEq)]
pub struct Provider {
    /// `<llm_base_url>/chat/completions`.
    pub url: String,
    pub model: String,
    pub api_key: Option<String>,
    pub timeout: Duration,
}

fn set(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

impl LlmSettings {
    /// `Ok(None)`: not configured (neither URL nor model). `Err`: half or wrongly configured.
    pub fn provider(&self) -> Result<Option<Provider>, String> {
        let (url, model) = match (set(&self.base_url), set(&self.model)) {
            (None, None) => return Ok(None),
            (Some(url), Some(model)) => (url, model),
            _ => return Err("llm_base_url and llm_model must be set together".to_owned()),
        };
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(format!("llm_base_url {url:?} is not an http(s) URL"));
        }
        let timeout = match set(&self.timeout_ms) {
            None => DEFAULT_TIMEOUT,
            Some(raw) => match raw.parse::<u64>() {
                Ok(ms) if (1..=MAX_TIMEOUT_MS).contains(&ms) => Duration::from_millis(ms),
                _ => {
                    return Err(format!(
                        "llm_timeout_ms {raw:?} is not a whole number of milliseconds from 1 to {MAX_TIMEOUT_MS}"
                    ));
                }
            },
        };
        Ok(Some(Provider {
            url: format!("{}/chat/completions", url.trim_end_matches('/')),
            model: model.to_owned(),
            api_key: set(&self.api_key).map(str::to_owned),
            timeout,
        }))
    }
}

/// How a turn with the provider ended.
#[derive(Debug)]
pub enum Outcome {
    Answered(Turn),
    /// Nothing ran; the offline assistant should answer. The reason is logged.
    Fallback(String),
}

/// One tool call the provider asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestedCall {
    pub id: String,
    pub name: String,
    /// The arguments as sent: a JSON text (or, from some providers, an object).
    pub arguments: Value,
}

/// The provider's answer to one round.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    /// The assistant message as returned, sent back with the tool results.
    pub message: Value,
    pub content: Option<String>,
    pub calls: Vec<RequestedCall>,
}

/// Read a chat-completions response body.
pub fn parse_completion(body: &[u8]) -> Result<Completion, String> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("the answer is not JSON: {e}"))?;
    let message = value
        .pointer("/choices/0/message")
        .filter(|m| m.is_object())
        .ok_or("the answer has no choices[0].message")?
        .clone();
    let content = message
        .get("content")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_owned);
    let mut calls = Vec::new();
    if let Some(requested) = message.get("tool_calls").filter(|c| !c.is_null()) {
        for call in requested.as_array().ok_or("tool_calls is not an array")? {
            let function = call.get("function").ok_or("a tool call has no function")?;
            calls.push(RequestedCall {
                id: call
                    .get("id")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                name: function
                    .get("name")
                    .and_then(Value::as_str)
                    .ok_or("a tool call has no name")?
                    .to_owned(),
                arguments: function.get("arguments").cloned().unwrap_or(Value::Null),
            });
        }
    }
    Ok(Completion {
        message,
        content,
        calls,
    })
}

/// A requested call checked as the REST API checks a request.
pub fn parse_call(
    call: &RequestedCall,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<ToolCall, String> {
    let mut arguments = match &call.arguments {
        // As bytes: the one JSON reader the component already links (`from_str` is a second).
        Value::String(text) => serde_json::from_slice::<Value>(text.as_bytes())
            .map_err(|e| format!("{}: arguments are not JSON: {e}", call.name))?,
        other => other.clone(),
    };
    // Models often send `null` for a filter they do not use; leaving it out means the same.
    if call.name == "list_tasks"
        && let Value::Object(object) = &mut arguments
    {
        object.retain(|_, v| !v.is_null());
    }
    ToolCall::parse(&call.name, &arguments, now).map_err(|e| {
        format!(
            "{}({arguments}): {}{}",
            call.name,
            e.message,
            e.field.map(|f| format!(" (field {f})")).unwrap_or_default()
        )
    })
}

fn system_prompt(context: &Context) -> String {
    let zone = context.time_zone.name();
    let now = context.now.with_timezone(&context.time_zone).to_rfc3339();
    format!(
        "You are the assistant of a todo app. You manage the user's tasks only through the tools \
         add_task, list_tasks, complete_task, delete_task and update_task; never claim a change you \
         did not make with a tool. To change, complete or delete a task named by its title, call \
         list_tasks with `search` first to learn its task_id. Times are RFC 3339 with an offset. The \
         user's time zone is {zone} and it is now {now}; give new tasks with a date \"time_zone\": \
         \"{zone}\". If a tool answers an error, tell the user what it says. Answer briefly, in plain text."
    )
}

/// What a tool result looks like to the provider: long lists shortened.
fn sent_result(result: &Value) -> String {
    let mut result = result.clone();
    if let Some(items) = result.get_mut("items").and_then(Value::as_array_mut) {
        items.truncate(MAX_LIST_ITEMS_SENT);
    }
    result.to_string()
}

/// One message with the provider (see the module docs).
pub async fn turn<R: Runtime>(
    app: &App<R>,
    provider: &Provider,
    user: &str,
    conversation: &Conversation,
    message: &str,
    context: &Context,
    keys: &CreateKeys,
) -> Result<Outcome, ApiError> {
    let tasks = tasks(app);
    let definitions = tools::definitions();
    let mut messages = vec![json!({"role": "system", "content": system_prompt(context)})];
    let earlier = conversation.messages.len().saturating_sub(HISTORY_MESSAGES);
    for earlier in &conversation.messages[earlier..] {
        let role = match earlier.role {
            Role::User => "user",
            Role::Assistant => "assistant",
        };
        messages.push(json!({"role": role, "content": earlier.content}));
    }
    messages.push(json!({"role": "user", "content": message}));
    let mut turn = Turn {
        memory: context.memory.clone(),
        ..Turn::default()
    };
    let mut replies: Vec<String> = Vec::new();
    for _ in 0..MAX_ROUNDS {
        let completion = match ask(app, provider, &messages, &definitions).await {
            Ok(completion) => completion,
            Err(reason) => return Ok(give_up(turn, replies, reason)),
        };
        if completion.calls.is_empty() {
            return Ok(match completion.content {
                Some(text) => {
                    if turn.tool_calls.is_empty() {
                        turn.memory.after_text();
                    }
                    turn.text = text;
                    Outcome::Answered(turn)
                }
                None => give_up(turn, replies, "the provider answered nothing".to_owned()),
            });
        }
        let parsed: Result<Vec<ToolCall>, String> = completion
            .calls
            .iter()
            .map(|call| parse_call(call, context.now))
            .collect();
        let calls = match parsed {
            Ok(calls) => calls,
            Err(reason) => {
                return Ok(give_up(
                    turn,
                    replies,
                    format!("malformed tool call {reason}"),
                ));
            }
        };
        let mut assistant_message = completion.message.clone();
        assistant_message["role"] = json!("assistant");
        messages.push(assistant_message);
        for (requested, call) in completion.calls.iter().zip(&calls) {
            let ran = tools::run(&tasks, user, call, keys.next(call), context.now).await?;
            let reply = assistant::reply(call, &ran.record.result, context);
            turn.memory.after_reply(&reply);
            replies.push(reply.text);
            messages.push(json!({
                "role": "tool",
                "tool_call_id": requested.id,
                "content": sent_result(&ran.record.result),
            }));
            turn.tool_calls.push(ran.record);
            turn.published.extend(ran.published);
        }
    }
    Ok(give_up(
        turn,
        replies,
        format!("no answer after {MAX_ROUNDS} rounds of tool calls"),
    ))
}

/// Stop talking to the provider: fall back when nothing ran, else answer what ran.
fn give_up(mut turn: Turn, replies: Vec<String>, reason: String) -> Outcome {
    if turn.tool_calls.is_empty() {
        return Outcome::Fallback(reason);
    }
    warn(
        "the LLM assistant stopped after running tools; answering with what ran",
        &reason,
    );
    turn.text = replies.join("\n");
    Outcome::Answered(turn)
}

async fn ask<R: Runtime>(
    app: &App<R>,
    provider: &Provider,
    messages: &[Value],
    definitions: &Value,
) -> Result<Completion, String> {
    let body = json!({
        "model": provider.model,
        "messages": messages,
        "tools": definitions,
        "tool_choice": "auto",
        "temperature": 0,
    });
    let mut request = http::Request::post(&provider.url)
        .header("content-type", "application/json")
        .header("accept", "application/json");
    if let Some(key) = &provider.api_key {
        request = request.header("authorization", format!("Bearer {key}"));
    }
    let request = request
        .body(body.to_string().into_bytes())
        .map_err(|e| format!("cannot build the request: {e}"))?;
    let response = app
        .runtime()
        .send_within(request, provider.timeout)
        .await
        .map_err(|e| format!("no answer: {}", e.0))?;
    if !response.status().is_success() {
        let status = response.status();
        let text = String::from_utf8_lossy(response.body());
        return Err(format!(
            "the provider answered {status}: {}",
            text.chars().take(300).collect::<String>()
        ));
    }
    parse_completion(response.body())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_provider_needs_url_and_model_together() {
        let settings = |url: &str, model: &str, timeout: &str| LlmSettings {
            base_url: Some(url.to_owned()),
            model: Some(model.to_owned()),
            api_key: Some(String::new()),
            timeout_ms: Some(timeout.to_owned()),
        };
        assert_eq!(LlmSettings::default().provider(), Ok(None));
        assert_eq!(settings("", "", "").provider(), Ok(None));
        assert!(settings("http://x", "", "").provider().is_err());
        assert!(settings("", "m", "").provider().is_err());
        assert!(settings("ftp://x", "m", "").provider().is_err());
        assert!(settings("http://x", "m", "0").provider().is_err());
        assert!(settings("http://x", "m", "soon").provider().is_err());
        let provider = settings("https://llm.example/v1/", "m", "250")
            .provider()
            .unwrap()
            .unwrap();
        assert_eq!(provider.url, "https://llm.example/v1/chat/completions");
        assert_eq!(provider.timeout, Duration::from_millis(250));
        assert_eq!(provider.api_key, None);
        let default = settings("http://x", "m", "").provider().unwrap().unwrap();
        assert_eq!(default.timeout, DEFAULT_TIMEOUT);
    }

    #[test]
    fn completions_are_read_with_their_tool_calls() {
        let body = json!({"choices": [{"message": {"role": "assistant", "content": null,
            "tool_calls": [{"id": "c1", "type": "function",
                "function": {"name": "add_task", "arguments": "{\"title\":\"milk\"}"}}]}}]});
        let completion = parse_completion(body.to_string().as_bytes()).unwrap();
        assert_eq!(completion.content, None);
        assert_eq!(completion.calls.len(), 1);
        let now = "2026-03-01T10:00:00Z".parse().unwrap();
        let call = parse_call(&completion.calls[0], now).unwrap();
        assert_eq!(call.name(), "add_task");
        let text = json!({"choices": [{"message": {"role": "assistant", "content": " Hi "}}]});
        let completion = parse_completion(text.to_string().as_bytes()).unwrap();
        assert_eq!(completion.content.as_deref(), Some("Hi"));
        assert!(completion.calls.is_empty());
        for bad in [
            &b"<html>"[..],
            br#"{"choices": []}"#,
            br#"{"choices":[{"message":{"tool_calls":{}}}]}"#,
        ] {
            assert!(parse_completion(bad).is_err());
        }
    }

    #[test]
    fn malformed_tool_arguments_are_refused_and_null_filters_ignored() {
        let now = "2026-03-01T10:00:00Z".parse().unwrap();
        let call = |name: &str, arguments: Value| RequestedCall {
            id: "c".to_owned(),
            name: name.to_owned(),
            arguments,
        };
        assert!(parse_call(&call("add_task", json!("{\"title\":")), now).is_err());
        assert!(
            parse_call(
                &call("add_task", json!({"title": "x", "priority": "asap"})),
                now
            )
            .unwrap_err()
            .contains("priority")
        );
        assert!(parse_call(&call("get_weather", json!({})), now).is_err());
        let list = parse_call(
            &call("list_tasks", json!({"status": "active", "tags": null})),
            now,
        )
        .unwrap();
        assert_eq!(list.arguments(), json!({"status": "active"}));
    }
}
