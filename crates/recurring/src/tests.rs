//! The service natively, against a fake Dapr: the state API (for `processed:` records) and
//! chat-api's internal route behind service invocation, answering what each test scripts.
use super::*;
use chrono::{DateTime, Utc};
use dapr_client::{CloudEvent, Transport, TransportError};
use serde_json::{Value, json};
use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use todo_domain::series::{OccurrenceRequest, successor_id};
use todo_domain::{Task, TaskDraft};
use uuid::Uuid;

const TOKEN: &str = "app-token";

/// How the fake answers one invocation of chat-api.
#[derive(Debug, Clone)]
enum Answer {
    /// chat-api's own answer.
    Status(u16, &'static str),
    /// daprd's own refusal (`ERR_DIRECT_INVOKE` with this status).
    Dapr(u16),
    /// No connection to the sidecar.
    Down,
}

#[derive(Default)]
struct FakeDapr {
    state: RefCell<BTreeMap<String, Value>>,
    /// Answers for the next invocations; when empty, `201`.
    answers: RefCell<VecDeque<Answer>>,
    /// (URI, body) of every invocation.
    invocations: RefCell<Vec<(String, Value)>>,
}

impl FakeDapr {
    fn respond(status: u16, body: impl Into<Vec<u8>>) -> http::Response<Vec<u8>> {
        http::Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(body.into())
            .unwrap()
    }
}

impl Transport for FakeDapr {
    async fn send(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, TransportError> {
        let path = request.uri().path().to_owned();
        if let Some(key) = path.strip_prefix("/v1.0/state/statestore/") {
            return Ok(match self.state.borrow().get(key) {
                Some(value) => Self::respond(200, serde_json::to_vec(value).unwrap()),
                None => Self::respond(204, Vec::new()),
            });
        }
        if path == "/v1.0/state/statestore" {
            let items: Vec<Value> = serde_json::from_slice(request.body()).unwrap();
            for item in items {
                let key = item["key"].as_str().unwrap().to_owned();
                self.state.borrow_mut().insert(key, item["value"].clone());
            }
            return Ok(Self::respond(204, Vec::new()));
        }
        assert!(path.starts_with("/v1.0/invoke/"), "unexpected call {path}");
        let answer = self
            .answers
            .borrow_mut()
            .pop_front()
            .unwrap_or(Answer::Status(201, "{}"));
        if matches!(answer, Answer::Down) {
            return Err(TransportError("connection refused".to_owned()));
        }
        let body: Value = serde_json::from_slice(request.body()).unwrap();
        self.invocations
            .borrow_mut()
            .push((request.uri().to_string(), body));
        Ok(match answer {
            Answer::Status(status, body) => Self::respond(status, body),
            Answer::Dapr(status) => Self::respond(
                status,
                format!(r#"{{"errorCode":"ERR_DIRECT_INVOKE","message":"fail {status}"}}"#),
            ),
            Answer::Down => unreachable!(),
        })
    }
}

impl Runtime for FakeDapr {
    fn now(&self) -> DateTime<Utc> {
        "2026-03-01T08:00:00Z".parse().unwrap()
    }
    async fn sleep(&self, _: std::time::Duration) {}
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    // The fake never suspends, so one poll completes the future.
    let mut future = std::pin::pin!(future);
    match future
        .as_mut()
        .poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
    {
        std::task::Poll::Ready(output) => output,
        std::task::Poll::Pending => panic!("fake suspended"),
    }
}

fn app_with(token: Option<&str>) -> App<FakeDapr> {
    let config = Config {
        app_api_token: token.map(str::to_owned),
        ..Config::default()
    };
    App::new("http://127.0.0.1:3500", FakeDapr::default(), config)
}

fn app() -> App<FakeDapr> {
    app_with(Some(TOKEN))
}

/// Test helpers on the service (a local trait: the service type is the kit's).
trait Drive {
    fn fake(&self) -> &FakeDapr;

    fn send(&self, request: Request) -> Response;

    /// Deliver `event` to `path` as Dapr does; the delivery status.
    fn deliver(&self, path: &str, event: &Value) -> String {
        let response = self.send(delivery(path, event, Some(TOKEN)));
        assert_eq!(response.status(), 200);
        let body: Value = serde_json::from_slice(response.body()).unwrap();
        body["status"].as_str().unwrap().to_owned()
    }

    fn invocations(&self) -> Vec<(String, Value)> {
        self.fake().invocations.borrow().clone()
    }

    fn processed(&self, event: &Value) -> bool {
        let key = format!("processed:{}", event["id"].as_str().unwrap());
        self.fake().state.borrow().contains_key(&key)
    }

    fn script(&self, answers: impl IntoIterator<Item = Answer>) {
        self.fake().answers.borrow_mut().extend(answers);
    }
}

impl Drive for App<FakeDapr> {
    fn fake(&self) -> &FakeDapr {
        self.dapr.transport()
    }

    fn send(&self, request: Request) -> Response {
        block_on(self.handle(request))
    }
}

fn delivery(path: &str, event: &Value, token: Option<&str>) -> Request {
    let mut request = http::Request::post(path)
        .header("content-type", "application/cloudevents+json")
        .header("pubsubname", "pubsub");
    if let Some(token) = token {
        request = request.header("dapr-api-token", token);
    }
    request.body(serde_json::to_vec(event).unwrap()).unwrap()
}

fn utc(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

/// A completed task made from `body`, as chat-api stores it.
fn completed_task(body: Value, completed_at: &str) -> Task {
    let draft = TaskDraft::from_json(&body).unwrap();
    let mut task = Task::create(
        Uuid::from_u128(0x5eed),
        "alice",
        draft,
        utc("2026-01-01T00:00:00Z"),
    );
    task.status = todo_domain::Status::Completed;
    task.completed_at = Some(utc(completed_at));
    task.version = 2;
    task
}

/// The `task.completed` CloudEvent of `task`, as Dapr delivers it.
fn completed_event(id: &str, task: &Task) -> Value {
    let data = json!({"schema_version": 1, "user_id": task.user_id, "task": task,
                      "changed_fields": ["status", "completed_at"]});
    let mut event = serde_json::to_value(
        CloudEvent::new(id, "chat-api", "task.completed", data).with_subject(task.id.to_string()),
    )
    .unwrap();
    event["topic"] = "task-events".into();
    event["pubsubname"] = "pubsub".into();
    event
}

fn daily() -> Task {
    completed_task(
        json!({"title": "stretch", "due_date": "2026-03-02T07:00:00Z", "recurrence_rule": "daily",
               "reminder_offset_minutes": 10}),
        "2026-03-02T06:30:00Z",
    )
}

#[test]
fn health_names_the_app_without_auth() {
    let app = app_with(None);
    let response = app.send(
        http::Request::get("/recurring/healthz")
            .body(Vec::new())
            .unwrap(),
    );
    assert_eq!(response.status(), 200);
    let body: Value = serde_json::from_slice(response.body()).unwrap();
    assert_eq!(
        body,
        json!({"status": "ok", "app_id": "recurring-task-service"})
    );
    let response = app.send(
        http::Request::post("/recurring/healthz")
            .body(Vec::new())
            .unwrap(),
    );
    assert_eq!(response.status(), 405);
    let response = app.send(
        http::Request::get("/recurring/nope")
            .body(Vec::new())
            .unwrap(),
    );
    assert_eq!(response.status(), 404);
    let response = app.send(
        http::Request::get("/recurring/ignored")
            .body(Vec::new())
            .unwrap(),
    );
    assert_eq!(response.status(), 405);
}

#[test]
fn delivery_routes_need_the_dapr_api_token_and_refuse_everyone_without_one() {
    let event = completed_event("e-token", &daily());
    for path in ["/recurring/task-completed", "/recurring/ignored"] {
        for token in [None, Some("wrong")] {
            let response = app().send(delivery(path, &event, token));
            assert_eq!(response.status(), 401, "{path} {token:?}");
        }
        // No token configured: fail closed, whatever the caller sends.
        for token in [None, Some(""), Some(TOKEN)] {
            let unconfigured = app_with(None);
            let response = unconfigured.send(delivery(path, &event, token));
            assert_eq!(response.status(), 401, "{path} {token:?}");
            assert!(unconfigured.invocations().is_empty());
        }
        let empty = app_with(Some(""));
        assert_eq!(empty.send(delivery(path, &event, Some(""))).status(), 401);
    }
    assert_eq!(
        app().deliver("/recurring/task-completed", &event),
        "SUCCESS"
    );
}

#[test]
fn ignored_events_are_acknowledged_and_nothing_is_done() {
    let app = app();
    let event = completed_event("e-ignored", &daily());
    assert_eq!(app.deliver("/recurring/ignored", &event), "SUCCESS");
    let not_an_event = http::Request::post("/recurring/ignored")
        .header("dapr-api-token", TOKEN)
        .body(b"garbage".to_vec())
        .unwrap();
    assert_eq!(app.send(not_an_event).status(), 200);
    assert!(app.invocations().is_empty());
    assert!(app.fake().state.borrow().is_empty());
}

#[test]
fn a_completed_recurring_task_asks_chat_api_for_its_successor() {
    let app = app();
    let task = daily();
    let event = completed_event("e-1", &task);
    assert_eq!(app.deliver("/recurring/task-completed", &event), "SUCCESS");
    let invocations = app.invocations();
    assert_eq!(invocations.len(), 1);
    let (uri, body) = &invocations[0];
    assert_eq!(
        uri,
        "http://127.0.0.1:3500/v1.0/invoke/chat-api/method/api/internal/occurrences"
    );
    let request: OccurrenceRequest = serde_json::from_value(body.clone()).unwrap();
    assert_eq!(request.user_id, "alice");
    assert_eq!(request.series_id, task.id);
    assert_eq!(request.predecessor_id, task.id);
    assert_eq!(request.predecessor_occurrence_index, 0);
    assert_eq!(request.occurrence_index, 1);
    assert_eq!(request.successor_id(), successor_id(task.id, 0));
    assert_eq!(
        request.task,
        json!({"title": "stretch", "priority": "medium", "due_date": "2026-03-03T07:00:00Z",
               "time_zone": "UTC", "reminder_offset_minutes": 10, "recurrence_rule": "daily",
               "repeat_from": "due_date"})
    );
    assert!(app.processed(&event), "handled events are recorded");
}

#[test]
fn an_event_delivered_again_is_acknowledged_without_a_second_request() {
    let app = app();
    let event = completed_event("e-dup", &daily());
    for _ in 0..3 {
        assert_eq!(app.deliver("/recurring/task-completed", &event), "SUCCESS");
    }
    assert_eq!(app.invocations().len(), 1);
}

#[test]
fn a_redelivery_after_a_lost_acknowledgement_sends_the_same_request() {
    // The successor was created but the processed record never written (a crash): the
    // redelivery asks again, with the same body, and chat-api answers the existing task.
    let app = app();
    let event = completed_event("e-crash", &daily());
    assert_eq!(app.deliver("/recurring/task-completed", &event), "SUCCESS");
    app.fake().state.borrow_mut().clear();
    app.script([Answer::Status(200, "{}")]);
    assert_eq!(app.deliver("/recurring/task-completed", &event), "SUCCESS");
    let invocations = app.invocations();
    assert_eq!(invocations.len(), 2);
    assert_eq!(invocations[0], invocations[1]);
}

#[test]
fn chat_api_answers_map_to_delivery_statuses() {
    use Answer::*;
    let cases = [
        (Status(201, "{}"), "SUCCESS"),
        (Status(200, "{}"), "SUCCESS"),
        (
            Status(400, r#"{"error":{"code":"validation_failed"}}"#),
            "DROP",
        ),
        (Status(404, r#"{"error":{"code":"not_found"}}"#), "DROP"),
        (Status(422, "{}"), "DROP"),
        (Status(415, "{}"), "DROP"),
        (Status(401, r#"{"error":{"code":"unauthorized"}}"#), "DROP"),
        (Status(403, "forbidden"), "DROP"),
        (Dapr(403), "DROP"),
        (Status(409, r#"{"error":{"code":"conflict"}}"#), "RETRY"),
        (Status(429, "{}"), "RETRY"),
        (Status(500, "boom"), "RETRY"),
        (
            Status(503, r#"{"error":{"code":"dependency_unavailable"}}"#),
            "RETRY",
        ),
        (Dapr(500), "RETRY"),
        (Down, "RETRY"),
    ];
    for (n, (answer, expected)) in cases.into_iter().enumerate() {
        let app = app();
        app.script([answer.clone()]);
        let event = completed_event(&format!("e-status-{n}"), &daily());
        assert_eq!(
            app.deliver("/recurring/task-completed", &event),
            expected,
            "{answer:?}"
        );
        assert_eq!(
            app.processed(&event),
            expected == "SUCCESS",
            "only handled events are recorded ({answer:?})"
        );
    }
}

#[test]
fn a_retried_delivery_succeeds_once_chat_api_is_back() {
    let app = app();
    app.script([Answer::Down, Answer::Dapr(500), Answer::Status(503, "{}")]);
    let event = completed_event("e-retry", &daily());
    for _ in 0..3 {
        assert_eq!(app.deliver("/recurring/task-completed", &event), "RETRY");
    }
    assert_eq!(app.deliver("/recurring/task-completed", &event), "SUCCESS");
    assert_eq!(app.deliver("/recurring/task-completed", &event), "SUCCESS");
    // Down never reached chat-api; the 500 and 503 did, then the success; the last delivery
    // was a duplicate.
    assert_eq!(app.invocations().len(), 3);
}

#[test]
fn nothing_follows_a_task_that_is_not_recurring_or_whose_series_ended() {
    let plain = completed_task(
        json!({"title": "once", "due_date": "2026-03-02T07:00:00Z"}),
        "2026-03-02T06:30:00Z",
    );
    let mut last = completed_task(
        json!({"title": "thrice", "due_date": "2026-03-02T07:00:00Z",
               "recurrence_rule": "FREQ=DAILY;COUNT=3"}),
        "2026-03-04T06:30:00Z",
    );
    last.occurrence_index = 2;
    for (n, task) in [plain, last].iter().enumerate() {
        let app = app();
        let event = completed_event(&format!("e-none-{n}"), task);
        assert_eq!(app.deliver("/recurring/task-completed", &event), "SUCCESS");
        assert!(app.invocations().is_empty());
        assert!(app.processed(&event));
    }
    // Other event types routed here are not ours: acknowledged.
    let app = app();
    let mut updated = completed_event("e-updated", &daily());
    updated["type"] = "task.updated".into();
    assert_eq!(
        app.deliver("/recurring/task-completed", &updated),
        "SUCCESS"
    );
    assert!(app.invocations().is_empty());
}

#[test]
fn events_that_can_never_be_handled_are_dropped() {
    let task = daily();
    let mut unknown_version = completed_event("e-v2", &task);
    unknown_version["data"]["schema_version"] = 2.into();
    let mut bad_rule = completed_event("e-rule", &task);
    bad_rule["data"]["task"]["recurrence_rule"] = "FREQ=HOURLY".into();
    let mut not_a_task = completed_event("e-shape", &task);
    not_a_task["data"]["task"] = json!({"id": "x"});
    let mut not_completed = completed_event("e-open", &task);
    not_completed["data"]["task"]["status"] = "pending".into();
    not_completed["data"]["task"]["completed_at"] = Value::Null;
    let mut foreign = completed_event("e-owner", &task);
    foreign["data"]["user_id"] = "mallory".into();
    for event in [
        unknown_version,
        bad_rule,
        not_a_task,
        not_completed,
        foreign,
    ] {
        let app = app();
        assert_eq!(
            app.deliver("/recurring/task-completed", &event),
            "DROP",
            "{}",
            event["id"]
        );
        assert!(app.invocations().is_empty());
        assert!(!app.processed(&event));
    }
    let app = app();
    let not_an_event = http::Request::post("/recurring/task-completed")
        .header("dapr-api-token", TOKEN)
        .body(b"{\"hello\":1}".to_vec())
        .unwrap();
    let response = app.send(not_an_event);
    assert_eq!(response.body(), br#"{"status":"DROP"}"#);
}

#[test]
fn a_completion_in_completion_mode_counts_from_completed_at() {
    let app = app();
    let task = completed_task(
        json!({"title": "water", "due_date": "2026-03-08T09:00:00Z", "recurrence_rule": "every 3 days",
               "repeat_from": "completion"}),
        "2026-03-10T18:00:00Z",
    );
    let event = completed_event("e-completion", &task);
    assert_eq!(app.deliver("/recurring/task-completed", &event), "SUCCESS");
    let body = &app.invocations()[0].1;
    assert_eq!(body["task"]["due_date"], "2026-03-13T09:00:00Z");
    assert_eq!(body["series_start"], "2026-03-13T09:00:00Z");
    assert_eq!(body["occurrence_index"], 1);
}
