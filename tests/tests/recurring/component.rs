//! recurring-task-service alone: its routes, its token check, and what it answers Dapr for each
//! answer of chat-api's internal route — the invocation going through the embedded sidecar (with
//! the repository's access control) to a scripted chat-api.
use bytes::Bytes;
use dapr_sidecar::{AppCallError, AppCallFuture, AppChannel, Sidecar, SidecarConfig};
use serde_json::{Value, json};
use spin_host::OutboundHandler;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

const ID: &str = "recurring-task-service";
const TOKEN: &str = "component-app-token";

/// How the scripted chat-api answers one invocation.
#[derive(Debug, Clone, Copy)]
enum Answer {
    Status(u16),
    /// chat-api cannot be reached: the sidecar answers `500 ERR_DIRECT_INVOKE`.
    Unreachable,
}

/// chat-api behind the sidecar's app channel: answers from a script, records what it got.
#[derive(Default)]
struct ScriptedChatApi {
    answers: Mutex<VecDeque<Answer>>,
    received: Mutex<Vec<http::Request<Bytes>>>,
}

impl AppChannel for ScriptedChatApi {
    fn call(&self, app_id: &str, request: http::Request<Bytes>) -> AppCallFuture<'_> {
        assert_eq!(app_id, "chat-api");
        let answer = self
            .answers
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(Answer::Status(201));
        self.received.lock().unwrap().push(request);
        Box::pin(async move {
            match answer {
                Answer::Unreachable => Err(AppCallError {
                    app_id: "chat-api".into(),
                    message: "connection refused".into(),
                }),
                Answer::Status(status) => Ok(http::Response::builder()
                    .status(status)
                    .header("content-type", "application/json")
                    .body(Bytes::from(
                        json!({"error": {"code": "scripted", "message": "x"}}).to_string(),
                    ))
                    .unwrap()),
            }
        })
    }
}

/// The component's Dapr calls reach the sidecar as `caller` (normally its own id).
struct As {
    sidecar: Sidecar,
    caller: &'static str,
}

impl OutboundHandler for As {
    fn handle(
        &self,
        _app_id: &str,
        req: http::Request<Bytes>,
    ) -> Pin<Box<dyn Future<Output = anyhow::Result<http::Response<Bytes>>> + Send + '_>> {
        Box::pin(
            async move { Ok(spin_host::send_to_sidecar(&self.sidecar, self.caller, req).await) },
        )
    }
}

struct Setup {
    component: todo_tests::TestComponent,
    chat_api: Arc<ScriptedChatApi>,
}

fn setup_as(caller: &'static str, token: Option<&str>) -> Setup {
    let chat_api = Arc::new(ScriptedChatApi::default());
    let resources = todo_tests::manifest_path().parent().unwrap().join("dapr");
    let sidecar = Sidecar::new(SidecarConfig {
        app_channel: chat_api.clone(),
        apps: vec!["chat-api".into(), ID.into()],
        resources_dir: Some(resources),
        app_api_token: Some("chat-api-sidecar-token".into()),
        ..SidecarConfig::default()
    });
    let variables: Vec<(&str, &str)> = token.map(|t| ("app_api_token", t)).into_iter().collect();
    let component = todo_tests::component_with(ID, Arc::new(As { sidecar, caller }), &variables);
    Setup {
        component,
        chat_api,
    }
}

fn setup() -> Setup {
    setup_as(ID, Some(TOKEN))
}

impl Setup {
    fn script(&self, answers: &[Answer]) {
        self.chat_api.answers.lock().unwrap().extend(answers);
    }

    fn received(&self) -> Vec<http::Request<Bytes>> {
        self.chat_api.received.lock().unwrap().clone()
    }

    async fn send(&self, request: http::Request<Bytes>) -> (u16, Value) {
        let response = self.component.send(request).await;
        let status = response.status().as_u16();
        (
            status,
            serde_json::from_slice(response.body()).unwrap_or(Value::Null),
        )
    }

    /// Deliver `event` to `path` as Dapr does; the delivery status.
    async fn deliver(&self, path: &str, event: &Value) -> String {
        let (status, body) = self.send(delivery(path, event, Some(TOKEN))).await;
        assert_eq!(status, 200, "{body}\n{}", self.component.logs());
        body["status"].as_str().unwrap().to_owned()
    }
}

fn delivery(path: &str, event: &Value, token: Option<&str>) -> http::Request<Bytes> {
    let mut request = http::Request::post(path)
        .header("content-type", "application/cloudevents+json")
        .header("pubsubname", "pubsub");
    if let Some(token) = token {
        request = request.header("dapr-api-token", token);
    }
    request.body(Bytes::from(event.to_string())).unwrap()
}

/// A `task.completed` event (CloudEvent id number `n`) of a daily task due 2026-03-02 07:00Z,
/// completed at 06:30Z.
fn completed_event(n: u64) -> Value {
    let id = format!("00000000-0000-4000-8000-{n:012x}");
    let task = json!({
        "id": "0b5e3c2a-6a55-4a8e-9a3e-0c1c9c1f7d10", "user_id": "alice", "title": "stretch",
        "description": null, "status": "completed", "priority": "medium", "tags": ["health"],
        "due_date": "2026-03-02T07:00:00Z", "time_zone": "Europe/Berlin",
        "reminder_offset_minutes": null, "remind_at": "2026-03-02T06:00:00Z",
        "recurrence_rule": "daily", "repeat_from": "due_date", "is_recurring": true,
        "series_id": "0b5e3c2a-6a55-4a8e-9a3e-0c1c9c1f7d10", "series_start": "2026-03-02T07:00:00Z",
        "occurrence_index": 0, "predecessor_id": null, "created_at": "2026-03-01T08:00:00Z",
        "updated_at": "2026-03-02T06:30:00Z", "completed_at": "2026-03-02T06:30:00Z",
        "version": 2, "schema_version": 1
    });
    let event = json!({
        "specversion": "1.0", "id": id, "source": "chat-api", "type": "task.completed",
        "subject": task["id"], "time": "2026-03-02T06:30:00Z", "datacontenttype": "application/json",
        "data": {"schema_version": 1, "user_id": "alice", "task": task,
                 "changed_fields": ["status", "completed_at"]},
        "topic": "task-events", "pubsubname": "pubsub"
    });
    contract_schemas::validate("task-event.schema.json", &event).unwrap_or_else(|e| panic!("{e}"));
    event
}

#[tokio::test]
async fn health_answers_without_auth() {
    let s = setup_as(ID, None);
    let get = http::Request::get("/recurring/healthz")
        .body(Bytes::new())
        .unwrap();
    let (status, body) = s.send(get).await;
    assert_eq!(status, 200);
    contract_schemas::validate("health.schema.json", &body).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(body, json!({"status": "ok", "app_id": ID}));
    let unknown = http::Request::get("/recurring/other")
        .body(Bytes::new())
        .unwrap();
    let (status, body) = s.send(unknown).await;
    assert_eq!(status, 404);
    contract_schemas::validate("error.schema.json", &body).unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test]
async fn delivery_routes_fail_closed_without_a_configured_token() {
    // spin.toml's default app_api_token is "": no call is Dapr's, so every call is refused.
    let unconfigured = setup_as(ID, None);
    let event = completed_event(1);
    for path in ["/recurring/task-completed", "/recurring/ignored"] {
        for token in [None, Some(""), Some(TOKEN)] {
            let (status, body) = unconfigured.send(delivery(path, &event, token)).await;
            assert_eq!(status, 401, "{path} {token:?}");
            assert_eq!(body["error"]["code"], "unauthorized");
        }
        let configured = setup();
        for token in [None, Some("wrong")] {
            let (status, _) = configured.send(delivery(path, &event, token)).await;
            assert_eq!(status, 401, "{path} {token:?}");
        }
        assert_eq!(configured.deliver(path, &event).await, "SUCCESS");
    }
    assert_eq!(unconfigured.received().len(), 0);
}

#[tokio::test]
async fn ignored_events_are_acknowledged_without_any_call() {
    let s = setup();
    let mut created = completed_event(2);
    created["type"] = "task.created".into();
    assert_eq!(s.deliver("/recurring/ignored", &created).await, "SUCCESS");
    assert!(s.received().is_empty());
}

#[tokio::test]
async fn the_occurrence_request_reaches_chat_api_through_dapr_invocation() {
    let s = setup();
    assert_eq!(
        s.deliver("/recurring/task-completed", &completed_event(3))
            .await,
        "SUCCESS"
    );
    let received = s.received();
    assert_eq!(received.len(), 1);
    let request = &received[0];
    assert_eq!(request.method(), "POST");
    assert_eq!(request.uri().path(), "/api/internal/occurrences");
    // Dapr says who calls and carries chat-api's sidecar token, not the caller's.
    assert_eq!(request.headers()["dapr-caller-app-id"], ID);
    assert_eq!(
        request.headers()["dapr-api-token"],
        "chat-api-sidecar-token"
    );
    let body: Value = serde_json::from_slice(request.body()).unwrap();
    contract_schemas::validate("occurrence-request.schema.json", &body)
        .unwrap_or_else(|e| panic!("{e}\n{body}"));
    assert_eq!(body["occurrence_index"], 1);
    assert_eq!(body["predecessor_occurrence_index"], 0);
    assert_eq!(body["series_start"], "2026-03-02T07:00:00Z");
    assert_eq!(
        body["task"],
        json!({"title": "stretch", "priority": "medium", "tags": ["health"],
               "due_date": "2026-03-03T07:00:00Z", "time_zone": "Europe/Berlin",
               "remind_at": "2026-03-03T06:00:00Z", "recurrence_rule": "daily",
               "repeat_from": "due_date"})
    );
    // A duplicate is acknowledged from the dedupe record, without another request.
    assert_eq!(
        s.deliver("/recurring/task-completed", &completed_event(3))
            .await,
        "SUCCESS"
    );
    assert_eq!(s.received().len(), 1);
}

#[tokio::test]
async fn each_answer_of_chat_api_maps_to_its_delivery_status() {
    use Answer::*;
    let cases = [
        (Status(201), "SUCCESS"),
        (Status(200), "SUCCESS"),
        (Status(400), "DROP"),
        (Status(404), "DROP"),
        (Status(422), "DROP"),
        (Status(401), "DROP"),
        (Status(403), "DROP"),
        (Status(409), "RETRY"),
        (Status(500), "RETRY"),
        (Status(503), "RETRY"),
        (Unreachable, "RETRY"),
    ];
    let s = setup();
    for (n, (answer, expected)) in cases.into_iter().enumerate() {
        s.script(&[answer]);
        let status = s
            .deliver(
                "/recurring/task-completed",
                &completed_event(100 + n as u64),
            )
            .await;
        assert_eq!(status, expected, "{answer:?}");
    }
    // A configuration error is logged as an error, not just dropped.
    let logs = s.component.logs();
    let errors: Vec<Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["level"] == "error")
        .collect();
    assert_eq!(errors.len(), 2, "{logs}");
    assert!(
        errors
            .iter()
            .all(|e| e["msg"].as_str().unwrap().contains("configuration error")),
        "{logs}"
    );
}

#[tokio::test]
async fn an_invocation_refused_by_access_control_is_a_configuration_error() {
    // The component runs under another app-id than dapr/config.yaml allows.
    let s = setup_as("recurring-task-service-v2", Some(TOKEN));
    assert_eq!(
        s.deliver("/recurring/task-completed", &completed_event(4))
            .await,
        "DROP"
    );
    assert!(s.received().is_empty(), "access control stopped the call");
    let logs = s.component.logs();
    assert!(
        logs.lines()
            .any(|l| l.contains(r#""level":"error""#) && l.contains("access control")),
        "{logs}"
    );
}
