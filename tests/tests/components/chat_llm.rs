//! The optional LLM assistant against a scripted fake provider (hyper on 127.0.0.1 answering
//! chat completions from a script): its tool calls run through the task operations; malformed
//! arguments, a provider error and a timeout fall back to the offline assistant; unconfigured, the
//! provider is never called.
use super::chat::{Chat, only_call};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;

const API_KEY: &str = "fake-provider-key";

/// One scripted answer of the provider.
#[derive(Debug, Clone)]
enum Scripted {
    /// 200 with this chat-completions body.
    Completion(Value),
    /// This status, an error body.
    Status(u16),
    /// Never answer.
    Hang,
}

#[derive(Debug, Clone)]
struct Received {
    path: String,
    authorization: Option<String>,
    body: Value,
}

/// A local chat-completions endpoint answering from a script (then 500).
struct Provider {
    addr: SocketAddr,
    script: Arc<Mutex<VecDeque<Scripted>>>,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Provider {
    async fn start(script: Vec<Scripted>) -> Provider {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let script = Arc::new(Mutex::new(VecDeque::from(script)));
        let received = Arc::new(Mutex::new(Vec::new()));
        let (s, r) = (script.clone(), received.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (script, received) = (s.clone(), r.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(
                        move |request: http::Request<hyper::body::Incoming>| {
                            let (script, received) = (script.clone(), received.clone());
                            async move {
                                let (parts, body) = request.into_parts();
                                let body = body.collect().await?.to_bytes();
                                received.lock().unwrap().push(Received {
                                    path: parts.uri.path().to_owned(),
                                    authorization: parts
                                        .headers
                                        .get("authorization")
                                        .map(|v| v.to_str().unwrap().to_owned()),
                                    body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                                });
                                let next = script
                                    .lock()
                                    .unwrap()
                                    .pop_front()
                                    .unwrap_or(Scripted::Status(500));
                                let (status, body) = match next {
                                    Scripted::Completion(body) => (200, body.to_string()),
                                    Scripted::Status(status) => {
                                        (status, r#"{"error":{"message":"scripted"}}"#.to_owned())
                                    }
                                    Scripted::Hang => {
                                        std::future::pending::<()>().await;
                                        unreachable!()
                                    }
                                };
                                Ok::<_, hyper::Error>(
                                    http::Response::builder()
                                        .status(status)
                                        .header("content-type", "application/json")
                                        .body(Full::new(Bytes::from(body)))
                                        .unwrap(),
                                )
                            }
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Provider {
            addr,
            script,
            received,
        }
    }

    fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    fn left(&self) -> usize {
        self.script.lock().unwrap().len()
    }
}

/// A completion asking for tool calls `(name, arguments as sent)`.
fn tool_calls(calls: &[(&str, Value)]) -> Scripted {
    let calls: Vec<Value> = calls
        .iter()
        .enumerate()
        .map(|(n, (name, arguments))| {
            json!({"id": format!("call_{n}"), "type": "function",
                   "function": {"name": name, "arguments": arguments}})
        })
        .collect();
    Scripted::Completion(json!({
        "id": "chatcmpl-1", "object": "chat.completion",
        "choices": [{"index": 0, "finish_reason": "tool_calls",
                     "message": {"role": "assistant", "content": null, "tool_calls": calls}}]
    }))
}

fn text(content: &str) -> Scripted {
    Scripted::Completion(json!({
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": content}}]
    }))
}

/// chat-api configured for `provider`, with `extra` variables.
fn chat_with(provider: &Provider, extra: &[(&str, &str)]) -> Chat {
    let base = provider.base_url();
    let mut variables = vec![
        ("llm_base_url", base.as_str()),
        ("llm_model", "fake-model"),
        ("llm_api_key", API_KEY),
    ];
    variables.extend_from_slice(extra);
    Chat::with(true, &variables)
}

#[tokio::test]
async fn the_providers_tool_calls_run_through_the_task_operations() {
    let provider = Provider::start(vec![
        tool_calls(&[(
            "add_task",
            json!(r#"{"title": "Buy oat milk", "priority": "high", "tags": ["shop"]}"#),
        )]),
        text("Added Buy oat milk, high priority."),
    ])
    .await;
    let chat = chat_with(&provider, &[]);
    let answer = chat
        .say(
            "alice",
            json!({"message": "please add buy oat milk, it's important", "time_zone": "Europe/Berlin"}),
        )
        .await;
    assert_eq!(answer["response"], "Added Buy oat milk, high priority.");
    let task = &only_call(&answer, "add_task")["result"];
    assert_eq!(task["title"], "Buy oat milk");
    assert_eq!(task["priority"], "high");
    assert_eq!(chat.event_types(), ["task.created"]);
    assert_eq!(chat.tasks("alice").await.len(), 1);

    let received = provider.received();
    assert_eq!(received.len(), 2);
    let first = &received[0];
    assert_eq!(first.path, "/v1/chat/completions");
    assert_eq!(
        first.authorization.as_deref(),
        Some("Bearer fake-provider-key")
    );
    assert_eq!(first.body["model"], "fake-model");
    let tools: Vec<&str> = first.body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        tools,
        [
            "add_task",
            "list_tasks",
            "complete_task",
            "delete_task",
            "update_task"
        ]
    );
    // The add_task schema is task-create.schema.json's.
    let create = contract_schemas::schema("task-create.schema.json").unwrap();
    assert_eq!(
        first.body["tools"][0]["function"]["parameters"]["required"],
        create["required"]
    );
    let system = first.body["messages"][0]["content"].as_str().unwrap();
    assert!(system.contains("Europe/Berlin"), "{system}");
    // The second round carries the tool's result for its call id.
    let messages = received[1].body["messages"].as_array().unwrap();
    let tool = messages.last().unwrap();
    assert_eq!(tool["role"], "tool");
    assert_eq!(tool["tool_call_id"], "call_0");
    let sent: Value = serde_json::from_str(tool["content"].as_str().unwrap()).unwrap();
    assert_eq!(sent["id"], task["id"]);
}

#[tokio::test]
async fn a_refused_call_is_reported_to_the_provider_as_the_rest_error() {
    let missing = uuid::Uuid::new_v4();
    let provider = Provider::start(vec![
        tool_calls(&[(
            "complete_task",
            json!({"task_id": missing}).to_string().into(),
        )]),
        text("That task does not exist."),
    ])
    .await;
    let chat = chat_with(&provider, &[]);
    let answer = chat
        .say("alice", json!({"message": "complete the thing"}))
        .await;
    let call = only_call(&answer, "complete_task");
    assert_eq!(call["result"]["error"]["code"], "not_found");
    let tool = provider.received()[1].body["messages"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert!(
        tool["content"].as_str().unwrap().contains("not_found"),
        "{tool}"
    );
    assert!(chat.sidecar.published().is_empty());
}

#[tokio::test]
async fn malformed_tool_arguments_fall_back_to_the_offline_assistant() {
    for arguments in [
        json!(r#"{"title": "#),                                 // not JSON
        json!(r#"{"title": "buy bread", "priority": "asap"}"#), // refused by the REST parsers
        json!(r#"{"name": "buy bread"}"#),                      // unknown field, no title
    ] {
        let provider = Provider::start(vec![tool_calls(&[("add_task", arguments.clone())])]).await;
        let chat = chat_with(&provider, &[]);
        let answer = chat.say("alice", json!({"message": "add buy bread"})).await;
        // The offline assistant understood the message itself.
        let task = &only_call(&answer, "add_task")["result"];
        assert_eq!(task["title"], "buy bread", "{arguments}");
        assert_eq!(task["priority"], "medium");
        assert_eq!(provider.received().len(), 1);
        assert_eq!(chat.event_types(), ["task.created"]);
        assert!(
            chat.component.logs().contains("malformed tool call"),
            "{}",
            chat.component.logs()
        );
    }
}

#[tokio::test]
async fn a_provider_that_fails_or_does_not_answer_in_time_falls_back() {
    let provider = Provider::start(vec![Scripted::Status(503), Scripted::Hang]).await;
    let chat = chat_with(&provider, &[("llm_timeout_ms", "300")]);
    let failed = chat.say("alice", json!({"message": "add buy bread"})).await;
    assert_eq!(
        only_call(&failed, "add_task")["result"]["title"],
        "buy bread"
    );
    let started = std::time::Instant::now();
    let late = chat.say("alice", json!({"message": "add buy jam"})).await;
    assert_eq!(only_call(&late, "add_task")["result"]["title"], "buy jam");
    // chat-api's own timeout, not the host's default.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(provider.received().len(), 2);
    assert_eq!(provider.left(), 0);
    assert_eq!(chat.event_types(), ["task.created", "task.created"]);
}

#[tokio::test]
async fn tools_that_ran_before_the_provider_failed_are_not_run_again() {
    let provider = Provider::start(vec![
        tool_calls(&[("add_task", json!(r#"{"title": "Call the plumber"}"#))]),
        Scripted::Status(500),
    ])
    .await;
    let chat = chat_with(&provider, &[]);
    let answer = chat
        .say("alice", json!({"message": "add call the plumber"}))
        .await;
    assert_eq!(
        only_call(&answer, "add_task")["result"]["title"],
        "Call the plumber"
    );
    // The answer is the offline assistant's reply to what ran.
    assert!(
        answer["response"]
            .as_str()
            .unwrap()
            .contains("Call the plumber"),
        "{answer:#}"
    );
    assert_eq!(chat.tasks("alice").await.len(), 1);
    assert_eq!(chat.event_types(), ["task.created"]);
}

#[tokio::test]
async fn tool_rounds_are_bounded() {
    let list = || tool_calls(&[("list_tasks", json!(r#"{"status": "active", "tags": null}"#))]);
    let provider = Provider::start((0..6).map(|_| list()).collect()).await;
    let chat = chat_with(&provider, &[]);
    let answer = chat.say("alice", json!({"message": "what's open?"})).await;
    assert_eq!(provider.received().len(), 4);
    assert_eq!(answer["tool_calls"].as_array().unwrap().len(), 4);
    assert_eq!(
        answer["tool_calls"][0]["arguments"],
        json!({"status": "active"})
    );
}

#[tokio::test]
async fn without_configuration_the_provider_is_never_called() {
    let provider = Provider::start(vec![text("never sent")]).await;
    // The provider's origin is allowed, but no URL or model is set.
    let chat = Chat::with(true, &[]);
    let answer = chat.say("alice", json!({"message": "add buy bread"})).await;
    assert_eq!(
        only_call(&answer, "add_task")["result"]["title"],
        "buy bread"
    );
    // Half a configuration is not one either.
    let half = Chat::with(true, &[("llm_base_url", &provider.base_url())]);
    half.say("alice", json!({"message": "add buy jam"})).await;
    assert!(provider.received().is_empty());
    assert!(
        half.component.logs().contains("misconfigured"),
        "{}",
        half.component.logs()
    );
}

#[tokio::test]
async fn the_default_origin_allows_no_provider() {
    let provider = Provider::start(vec![text("never sent")]).await;
    let base = provider.base_url();
    // spin.toml's `llm_origin` default: the host refuses the call, the offline assistant answers.
    let chat = Chat::with(
        false,
        &[("llm_base_url", base.as_str()), ("llm_model", "fake-model")],
    );
    let answer = chat.say("alice", json!({"message": "add buy bread"})).await;
    assert_eq!(
        only_call(&answer, "add_task")["result"]["title"],
        "buy bread"
    );
    assert!(provider.received().is_empty());
    assert!(
        chat.component
            .logs()
            .contains("not in allowed_outbound_hosts"),
        "{}",
        chat.component.logs()
    );
}
