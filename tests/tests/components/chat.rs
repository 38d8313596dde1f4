//! `POST /api/chat` and `GET /api/chat/{conversation_id}` on the shipped chat-api: the offline
//! assistant's calls go through the task operations (one event per change, REST sees the same
//! tasks), conversations are stored per user, `Idempotency-Key` replays, the user's zone is
//! remembered. Guest and sidecar share one fixed clock: Saturday 2026-03-28 10:00 UTC, the day
//! before Berlin moves to summer time.
use bytes::Bytes;
use chrono::{DateTime, Utc};
use dapr_sidecar::{Sidecar, SidecarConfig};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use spin_host::{
    ComponentConfig, LoadedComponent, OutboundHandler, Overrides, SharedClock, VariableResolver,
};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::net::TcpStream;

const SECRET: &str = "chat-test-secret";
const NOW: &str = "2026-03-28T10:00:00Z";

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

/// Dapr calls (port 3500) to the sidecar as the calling app; anything else (the LLM provider)
/// over TCP, as todo-dev does once the host has checked `allowed_outbound_hosts`.
pub struct Outbound(pub OnceLock<Sidecar>);

impl OutboundHandler for Outbound {
    fn handle(
        &self,
        app_id: &str,
        req: http::Request<Bytes>,
    ) -> Pin<Box<dyn Future<Output = anyhow::Result<http::Response<Bytes>>> + Send + '_>> {
        let app_id = app_id.to_owned();
        Box::pin(async move {
            if req.uri().port_u16() == Some(3500) {
                let sidecar = self.0.get().expect("sidecar set");
                return Ok(spin_host::send_to_sidecar(sidecar, &app_id, req).await);
            }
            over_tcp(req).await
        })
    }
}

/// One HTTP/1 request on a fresh connection.
async fn over_tcp(req: http::Request<Bytes>) -> anyhow::Result<http::Response<Bytes>> {
    let authority = req.uri().authority().unwrap().to_string();
    let stream = TcpStream::connect(&authority).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let (mut parts, body) = req.into_parts();
    parts.headers.insert(http::header::HOST, authority.parse()?);
    parts.uri = parts.uri.path_and_query().unwrap().as_str().parse()?;
    let response = sender
        .send_request(http::Request::from_parts(parts, Full::new(body)))
        .await?;
    let (parts, body) = response.into_parts();
    Ok(http::Response::from_parts(
        parts,
        body.collect().await?.to_bytes(),
    ))
}

/// The origin the LLM tests allow: the fake provider's port is not known in advance.
pub const LOOSE_ORIGIN: &str = "http://127.0.0.1:*";

/// chat-api compiled once per test binary with `llm_origin` = [`LOOSE_ORIGIN`] (or spin.toml's
/// default for `loose = false`), and its test variables.
fn compiled(loose: bool) -> (LoadedComponent, std::collections::HashMap<String, String>) {
    type Compiled = (LoadedComponent, std::collections::HashMap<String, String>);
    static LOOSE: OnceLock<Compiled> = OnceLock::new();
    static DEFAULT: OnceLock<Compiled> = OnceLock::new();
    let cell = if loose { &LOOSE } else { &DEFAULT };
    cell.get_or_init(|| {
        if !loose {
            let component = todo_tests::app().compiled("chat-api");
            let variables = todo_tests::app().config("chat-api").unwrap().variables;
            return (component, variables);
        }
        let manifest = todo_tests::app().manifest();
        let mut resolver = VariableResolver::with_env(manifest, |_| None);
        resolver.set_override("jwt_secret", SECRET);
        resolver.set_override("llm_origin", LOOSE_ORIGIN);
        let config = ComponentConfig::from_manifest(manifest, "chat-api", &resolver).unwrap();
        let variables = config.variables.clone();
        (todo_tests::host().load(config).unwrap(), variables)
    })
    .clone()
}

/// One chat-api with its own sidecar on a fixed clock.
pub struct Chat {
    pub sidecar: Sidecar,
    pub clock: SharedClock,
    pub component: LoadedComponent,
}

impl Drop for Chat {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "----- chat-api guest output -----\n{}",
                self.component.logs()
            );
        }
    }
}

/// A chat answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Value,
}

impl Chat {
    pub fn start() -> Self {
        Self::with(false, &[])
    }

    /// `loose`: the provider origin allowed; `variables`: more chat-api variables.
    pub fn with(loose: bool, variables: &[(&str, &str)]) -> Self {
        let clock = SharedClock::fixed_at(at(NOW));
        let sidecar = Sidecar::new(SidecarConfig {
            clock: clock.sidecar_clock(),
            ..SidecarConfig::default()
        });
        let (component, mut vars) = compiled(loose);
        vars.insert("jwt_secret".into(), SECRET.into());
        vars.insert("app_api_token".into(), "chat-test-app-token".into());
        for (name, value) in variables {
            vars.insert((*name).into(), (*value).into());
        }
        let outbound = Outbound(OnceLock::new());
        assert!(outbound.0.set(sidecar.clone()).is_ok());
        let component = component.with_overrides(Overrides {
            outbound: Some(Arc::new(outbound)),
            variables: Some(vars),
            wall_clock: Some(clock.wall_clock()),
            ..Overrides::default()
        });
        Self {
            sidecar,
            clock,
            component,
        }
    }

    fn token(&self, user: &str) -> String {
        let now = self.clock.now_utc().timestamp() as u64;
        todo_domain::auth::issue_token(SECRET.as_bytes(), user, now, 3600)
    }

    pub async fn call(
        &self,
        method: &str,
        path: &str,
        user: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut request = http::Request::builder()
            .method(method)
            .uri(format!("http://localhost:3000{path}"));
        if let Some(user) = user {
            request = request.header("authorization", format!("Bearer {}", self.token(user)));
        }
        if body.is_some() {
            request = request.header("content-type", "application/json");
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let body = body.map(|b| Bytes::from(b.to_string())).unwrap_or_default();
        let response = tokio::time::timeout(
            Duration::from_secs(60),
            self.component.handle(request.body(body).unwrap()),
        )
        .await
        .expect("answered within 60 s")
        .unwrap_or_else(|e| panic!("{e:#}"));
        let (parts, body) = response.into_parts();
        Answer {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        }
    }

    /// A chat message that must succeed; its answer checked against the response schema.
    pub async fn say(&self, user: &str, body: Value) -> Value {
        let answer = self
            .call("POST", "/api/chat", Some(user), Some(body.clone()), &[])
            .await;
        assert_eq!(answer.status, 200, "{body} → {:#}", answer.body);
        contract_schemas::validate("chat-response.schema.json", &answer.body)
            .unwrap_or_else(|e| panic!("{e}\n{:#}", answer.body));
        answer.body
    }

    /// Every CloudEvent published on `task-events`, in order.
    pub fn task_events(&self) -> Vec<Value> {
        self.sidecar
            .published()
            .into_iter()
            .filter(|m| m.topic == "task-events")
            .map(|m| m.event.expect("task events are CloudEvents"))
            .collect()
    }

    pub fn event_types(&self) -> Vec<String> {
        self.task_events()
            .iter()
            .map(|e| e["type"].as_str().unwrap().to_owned())
            .collect()
    }

    pub async fn tasks(&self, user: &str) -> Vec<Value> {
        let answer = self
            .call("GET", "/api/tasks?status=all", Some(user), None, &[])
            .await;
        assert_eq!(answer.status, 200, "{:#}", answer.body);
        answer.body["items"].as_array().unwrap().clone()
    }
}

/// The single tool call of a chat answer, checked by name.
pub fn only_call<'a>(answer: &'a Value, name: &str) -> &'a Value {
    let calls = answer["tool_calls"].as_array().unwrap();
    assert_eq!(calls.len(), 1, "{answer:#}");
    assert_eq!(calls[0]["name"], name, "{answer:#}");
    &calls[0]
}

#[tokio::test]
async fn a_chat_session_adds_lists_completes_and_deletes_with_one_event_per_change() {
    let chat = Chat::start();
    let first = chat
        .say(
            "alice",
            json!({"message": "add pay rent tomorrow 9am #home", "time_zone": "Europe/Berlin"}),
        )
        .await;
    let conversation = first["conversation_id"].as_str().unwrap().to_owned();
    let rent = &only_call(&first, "add_task")["result"];
    // 9:00 in Berlin on the first day of summer time is 07:00 UTC.
    assert_eq!(rent["due_date"], "2026-03-29T07:00:00Z", "{first:#}");
    assert_eq!(rent["time_zone"], "Europe/Berlin");
    assert_eq!(rent["tags"], json!(["home"]));
    assert!(
        first["response"].as_str().unwrap().contains("pay rent"),
        "{first:#}"
    );
    let rent_id = rent["id"].as_str().unwrap().to_owned();
    assert_eq!(chat.event_types(), ["task.created"]);

    let milk = chat
        .say(
            "alice",
            json!({"conversation_id": conversation, "message": "add buy milk"}),
        )
        .await;
    let milk_id = only_call(&milk, "add_task")["result"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let listed = chat
        .say(
            "alice",
            json!({"conversation_id": conversation, "message": "show my tasks"}),
        )
        .await;
    let items = only_call(&listed, "list_tasks")["result"]["items"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(items.len(), 2, "{listed:#}");
    let text = listed["response"].as_str().unwrap();
    assert!(
        text.contains("pay rent") && text.contains("buy milk"),
        "{text}"
    );
    // Listing changes nothing.
    assert_eq!(chat.event_types(), ["task.created", "task.created"]);

    // "done with N" refers to the list just shown, remembered with the conversation.
    let number = items
        .iter()
        .position(|t| t["id"] == milk_id.as_str())
        .unwrap()
        + 1;
    let done = chat
        .say(
            "alice",
            json!({"conversation_id": conversation, "message": format!("done with {number}")}),
        )
        .await;
    let completed = &only_call(&done, "complete_task")["result"];
    assert_eq!(completed["id"], milk_id.as_str());
    assert_eq!(completed["status"], "completed");

    let deleted = chat
        .say(
            "alice",
            json!({"conversation_id": conversation, "message": "delete pay rent"}),
        )
        .await;
    let call = only_call(&deleted, "delete_task");
    assert_eq!(call["arguments"], json!({"task_id": rent_id}));
    // The result is the task as it was before the delete.
    assert_eq!(call["result"]["title"], "pay rent");

    // One event per change, for the tasks the chat named, exactly as REST would publish them.
    let events = chat.task_events();
    let summary: Vec<(String, String)> = events
        .iter()
        .map(|e| {
            contract_schemas::validate("task-event.schema.json", e).unwrap();
            (
                e["type"].as_str().unwrap().to_owned(),
                e["subject"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("task.created".to_owned(), rent_id.clone()),
            ("task.created".to_owned(), milk_id.clone()),
            ("task.completed".to_owned(), milk_id.clone()),
            ("task.deleted".to_owned(), rent_id.clone()),
        ]
    );
    // REST sees what the chat did.
    let left = chat.tasks("alice").await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["id"], milk_id.as_str());
    assert_eq!(left[0]["status"], "completed");
    let gone = chat
        .call(
            "GET",
            &format!("/api/tasks/{rent_id}"),
            Some("alice"),
            None,
            &[],
        )
        .await;
    assert_eq!(gone.status, 404);

    // The history: every message in order, assistant messages with their tool calls.
    let history = chat
        .call(
            "GET",
            &format!("/api/chat/{conversation}"),
            Some("alice"),
            None,
            &[],
        )
        .await;
    assert_eq!(history.status, 200, "{:#}", history.body);
    contract_schemas::validate("chat-conversation.schema.json", &history.body)
        .unwrap_or_else(|e| panic!("{e}\n{:#}", history.body));
    let messages = history.body["messages"].as_array().unwrap();
    let roles: Vec<&str> = messages
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["user", "assistant"].repeat(5));
    assert_eq!(messages[0]["content"], "add pay rent tomorrow 9am #home");
    assert_eq!(messages[9]["content"], deleted["response"]);
    let tools: Vec<&str> = messages
        .iter()
        .flat_map(|m| m["tool_calls"].as_array().unwrap())
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        tools,
        [
            "add_task",
            "add_task",
            "list_tasks",
            "complete_task",
            "delete_task"
        ]
    );
}

#[tokio::test]
async fn relative_dates_use_the_zone_sent_else_the_users_last_one_else_utc() {
    let chat = Chat::start();
    let due = |answer: &Value| only_call(answer, "add_task")["result"]["due_date"].clone();
    let sent = chat
        .say(
            "alice",
            json!({"message": "add call mom tomorrow 9am", "time_zone": "America/New_York"}),
        )
        .await;
    assert_eq!(due(&sent), "2026-03-29T13:00:00Z");
    // A new conversation without a zone: alice's last one.
    let remembered = chat
        .say("alice", json!({"message": "add call dad tomorrow 9am"}))
        .await;
    assert_eq!(due(&remembered), "2026-03-29T13:00:00Z");
    assert_eq!(
        only_call(&remembered, "add_task")["result"]["time_zone"],
        "America/New_York"
    );
    // Another zone replaces it.
    let berlin = chat
        .say(
            "alice",
            json!({"message": "add call aunt tomorrow 9am", "time_zone": "Europe/Berlin"}),
        )
        .await;
    assert_eq!(due(&berlin), "2026-03-29T07:00:00Z");
    let again = chat
        .say("alice", json!({"message": "add call uncle tomorrow 9am"}))
        .await;
    assert_eq!(due(&again), "2026-03-29T07:00:00Z");
    // Someone who never sent one: UTC.
    let bob = chat
        .say("bob", json!({"message": "add call mom tomorrow 9am"}))
        .await;
    assert_eq!(due(&bob), "2026-03-29T09:00:00Z");
}

#[tokio::test]
async fn a_refused_tool_call_answers_the_rest_error_body() {
    let chat = Chat::start();
    let first = chat
        .say("alice", json!({"message": "add water plants"}))
        .await;
    let conversation = first["conversation_id"].as_str().unwrap().to_owned();
    let id = only_call(&first, "add_task")["result"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    chat.say(
        "alice",
        json!({"conversation_id": conversation, "message": "show my tasks"}),
    )
    .await;
    // Deleted through REST meanwhile: the remembered list still names it.
    let deleted = chat
        .call(
            "DELETE",
            &format!("/api/tasks/{id}"),
            Some("alice"),
            None,
            &[],
        )
        .await;
    assert_eq!(deleted.status, 204);
    let rest = chat
        .call(
            "POST",
            &format!("/api/tasks/{id}/complete"),
            Some("alice"),
            None,
            &[],
        )
        .await;
    assert_eq!(rest.status, 404);
    let done = chat
        .say(
            "alice",
            json!({"conversation_id": conversation, "message": "done with 1"}),
        )
        .await;
    let call = only_call(&done, "complete_task");
    assert_eq!(call["result"], rest.body);
    contract_schemas::validate("error.schema.json", &call["result"]).unwrap();
    assert!(
        done["response"].as_str().unwrap().contains("couldn't find"),
        "{done:#}"
    );
    assert_eq!(chat.event_types(), ["task.created", "task.deleted"]);
}

#[tokio::test]
async fn another_users_conversation_is_not_found_and_their_tasks_are_untouched() {
    let chat = Chat::start();
    let alice = chat.say("alice", json!({"message": "add pay rent"})).await;
    let conversation = alice["conversation_id"].as_str().unwrap().to_owned();
    let path = format!("/api/chat/{conversation}");
    let read = chat.call("GET", &path, Some("bob"), None, &[]).await;
    assert_eq!(read.status, 404);
    assert_eq!(read.body["error"]["code"], "not_found");
    let write = chat
        .call(
            "POST",
            "/api/chat",
            Some("bob"),
            Some(json!({"conversation_id": conversation, "message": "delete pay rent"})),
            &[],
        )
        .await;
    assert_eq!(write.status, 404);
    // In his own conversation, bob has no such task.
    let own = chat.say("bob", json!({"message": "delete pay rent"})).await;
    assert!(own["tool_calls"].as_array().unwrap().is_empty(), "{own:#}");
    assert_eq!(chat.tasks("alice").await.len(), 1);
    assert_eq!(chat.event_types(), ["task.created"]);
    // Alice still reads hers, which bob's attempts did not touch.
    let history = chat.call("GET", &path, Some("alice"), None, &[]).await;
    assert_eq!(history.status, 200);
    assert_eq!(history.body["messages"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_repeated_idempotency_key_replays_the_first_answer_and_changes_nothing() {
    let chat = Chat::start();
    let body = json!({"message": "add buy bread"});
    let key = [("idempotency-key", "chat-key-1")];
    let first = chat
        .call("POST", "/api/chat", Some("alice"), Some(body.clone()), &key)
        .await;
    assert_eq!(first.status, 200, "{:#}", first.body);
    assert!(first.headers.get("idempotency-replayed").is_none());
    let again = chat
        .call("POST", "/api/chat", Some("alice"), Some(body.clone()), &key)
        .await;
    assert_eq!(again.status, 200);
    assert_eq!(again.body, first.body);
    assert_eq!(again.headers["idempotency-replayed"], "true");
    assert_eq!(chat.tasks("alice").await.len(), 1);
    assert_eq!(chat.event_types(), ["task.created"]);
    let conversation = first.body["conversation_id"].as_str().unwrap();
    let history = chat
        .call(
            "GET",
            &format!("/api/chat/{conversation}"),
            Some("alice"),
            None,
            &[],
        )
        .await;
    assert_eq!(history.body["messages"].as_array().unwrap().len(), 2);
    // The same key with another message, or for a create, is a reuse.
    let other = chat
        .call(
            "POST",
            "/api/chat",
            Some("alice"),
            Some(json!({"message": "add buy jam"})),
            &key,
        )
        .await;
    assert_eq!(other.status, 422);
    assert_eq!(other.body["error"]["code"], "idempotency_key_reused");
    let create = chat
        .call(
            "POST",
            "/api/tasks",
            Some("alice"),
            Some(json!({"title": "buy bread"})),
            &key,
        )
        .await;
    assert_eq!(create.status, 422);
    // Another user's key space is their own.
    let bob = chat
        .call("POST", "/api/chat", Some("bob"), Some(body), &key)
        .await;
    assert_eq!(bob.status, 200);
    assert!(bob.headers.get("idempotency-replayed").is_none());
    assert_eq!(chat.tasks("bob").await.len(), 1);
}

#[tokio::test]
async fn bad_chat_requests_are_refused_naming_the_field() {
    let chat = Chat::start();
    for (body, field) in [
        (json!({"message": "   "}), "message"),
        (json!({}), "message"),
        (
            json!({"message": "hi", "conversation_id": "nope"}),
            "conversation_id",
        ),
        (
            json!({"message": "hi", "time_zone": "Mars/Base"}),
            "time_zone",
        ),
        (json!({"message": "hi", "tone": "kind"}), "tone"),
    ] {
        let answer = chat
            .call("POST", "/api/chat", Some("alice"), Some(body.clone()), &[])
            .await;
        assert_eq!(answer.status, 400, "{body}");
        assert_eq!(answer.body["error"]["code"], "validation_failed");
        assert_eq!(answer.body["error"]["field"], field, "{body}");
    }
    let unknown = chat
        .call(
            "POST",
            "/api/chat",
            Some("alice"),
            Some(json!({"message": "hi", "conversation_id": uuid::Uuid::new_v4()})),
            &[],
        )
        .await;
    assert_eq!(unknown.status, 404);
    let anonymous = chat
        .call(
            "POST",
            "/api/chat",
            None,
            Some(json!({"message": "hi"})),
            &[],
        )
        .await;
    assert_eq!(anonymous.status, 401);
    for path in [
        "/api/chat/nope",
        &format!("/api/chat/{}", uuid::Uuid::new_v4()),
    ] {
        let answer = chat.call("GET", path, Some("alice"), None, &[]).await;
        assert_eq!(answer.status, 404, "{path}");
    }
    let method = chat
        .call("GET", "/api/chat", Some("alice"), None, &[])
        .await;
    assert_eq!(method.status, 405);
    assert!(chat.sidecar.published().is_empty());
}

#[tokio::test]
async fn concurrent_messages_to_one_conversation_all_land() {
    let chat = Chat::start();
    let first = chat
        .say("alice", json!({"message": "add call alpha"}))
        .await;
    let conversation = first["conversation_id"].as_str().unwrap().to_owned();
    let names = ["bravo", "charlie", "delta", "echo", "foxtrot", "golf"];
    let messages: Vec<String> = names.iter().map(|n| format!("add call {n}")).collect();
    let answers = futures::future::join_all(messages.iter().map(|message| {
        chat.say(
            "alice",
            json!({"conversation_id": conversation, "message": message}),
        )
    }))
    .await;
    assert!(
        answers
            .iter()
            .all(|a| a["conversation_id"] == conversation.as_str())
    );
    let history = chat
        .call(
            "GET",
            &format!("/api/chat/{conversation}"),
            Some("alice"),
            None,
            &[],
        )
        .await;
    let stored = history.body["messages"].as_array().unwrap();
    assert_eq!(stored.len(), 14, "{:#}", history.body);
    // Each message is followed by its own answer, whatever order they committed in.
    for pair in stored.chunks(2) {
        assert_eq!(pair[0]["role"], "user");
        assert_eq!(pair[1]["role"], "assistant");
        let title = pair[0]["content"]
            .as_str()
            .unwrap()
            .trim_start_matches("add ");
        assert_eq!(pair[1]["tool_calls"][0]["result"]["title"], title);
    }
    let mut sent: Vec<&str> = stored
        .iter()
        .filter(|m| m["role"] == "user")
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    sent.sort_unstable();
    let mut expected = messages.clone();
    expected.push("add call alpha".to_owned());
    expected.sort();
    assert_eq!(sent, expected);
    assert_eq!(chat.tasks("alice").await.len(), 7);
    assert_eq!(chat.task_events().len(), 7);
}
