//! Reminders that fire: chat-api schedules one Dapr job per pending reminder through its task
//! operations, keeps job commands in the bucket until applied, re-creates lost jobs, and turns a
//! trigger into exactly one `reminder.triggered` event (docs/contracts.md "Reminders").
//!
//! One chat-api and one sidecar on a shared manual clock; the sidecar's scheduler is driven by
//! [`Fixture::run_due_jobs`] after the clock is moved, and its triggers reach the component
//! through an app channel that records them.
use bytes::Bytes;
use chrono::{DateTime, Utc};
use dapr_sidecar::{AppCallError, AppCallFuture, AppChannel, Sidecar, SidecarConfig};
use serde_json::{Value, json};
use spin_host::{LoadedComponent, OutboundHandler, Overrides, SharedClock};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use todo_domain::reminder::event_id;

const SECRET: &str = "reminder-test-secret";
const APP_TOKEN: &str = "reminder-test-app-token";
const START: &str = "2026-03-01T08:00:00Z";

/// One trigger the sidecar sent to chat-api, and the answer.
#[derive(Debug, Clone)]
struct Trigger {
    path: String,
    status: u16,
    answer: Value,
}

/// The sidecar's way into chat-api: the component itself, unless the test has taken it "down".
#[derive(Default)]
struct Channel {
    component: OnceLock<LoadedComponent>,
    down: AtomicBool,
    triggers: Mutex<Vec<Trigger>>,
}

impl AppChannel for Channel {
    fn call(&self, app_id: &str, request: http::Request<Bytes>) -> AppCallFuture<'_> {
        let app_id = app_id.to_owned();
        Box::pin(async move {
            let path = request.uri().path().to_owned();
            if self.down.load(Ordering::SeqCst) {
                self.triggers.lock().unwrap().push(Trigger {
                    path,
                    status: 0,
                    answer: Value::Null,
                });
                return Err(AppCallError {
                    app_id,
                    message: "connection refused (chat-api is down in this test)".into(),
                });
            }
            let component = self.component.get().expect("set by the fixture");
            let response = component.handle(request).await.map_err(|e| AppCallError {
                app_id,
                message: e.to_string(),
            })?;
            self.triggers.lock().unwrap().push(Trigger {
                path,
                status: response.status().as_u16(),
                answer: serde_json::from_slice(response.body()).unwrap_or(Value::Null),
            });
            Ok(response)
        })
    }
}

/// chat-api's calls to its sidecar; the next N calls of the Jobs API for reminder jobs answer
/// what daprd answers when the Scheduler is unavailable.
#[derive(Default)]
struct Outbound {
    sidecar: OnceLock<Sidecar>,
    failing_job_calls: AtomicUsize,
}

impl OutboundHandler for Outbound {
    fn handle(
        &self,
        app_id: &str,
        req: http::Request<Bytes>,
    ) -> Pin<Box<dyn Future<Output = anyhow::Result<http::Response<Bytes>>> + Send + '_>> {
        let app_id = app_id.to_owned();
        Box::pin(async move {
            if req.uri().path().contains("/jobs/reminder-")
                && self
                    .failing_job_calls
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok()
            {
                let body = r#"{"errorCode":"DAPR_SCHEDULER_SCHEDULE_JOB","message":"failed to schedule job due to: scheduler unavailable"}"#;
                return Ok(http::Response::builder()
                    .status(500)
                    .header("content-type", "application/json")
                    .body(Bytes::from_static(body.as_bytes()))
                    .unwrap());
            }
            let sidecar = self.sidecar.get().expect("set by the fixture");
            Ok(spin_host::send_to_sidecar(sidecar, &app_id, req).await)
        })
    }
}

struct Fixture {
    sidecar: Sidecar,
    clock: SharedClock,
    component: LoadedComponent,
    channel: Arc<Channel>,
    outbound: Arc<Outbound>,
}

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

impl Fixture {
    fn new() -> Self {
        Self::with_app_token(APP_TOKEN)
    }

    /// `app_token`: chat-api's `app_api_token` variable ("" = none configured).
    fn with_app_token(app_token: &str) -> Self {
        let clock = SharedClock::fixed_at(at(START));
        let channel = Arc::new(Channel::default());
        let outbound = Arc::new(Outbound::default());
        let sidecar = Sidecar::new(SidecarConfig {
            clock: clock.sidecar_clock(),
            app_channel: channel.clone(),
            apps: vec!["chat-api".into()],
            app_api_token: Some(APP_TOKEN.into()),
            ..SidecarConfig::default()
        });
        outbound.sidecar.set(sidecar.clone()).ok().unwrap();
        let mut variables = todo_tests::app()
            .config("chat-api")
            .unwrap_or_else(|e| panic!("{e:#}"))
            .variables;
        variables.insert("jwt_secret".into(), SECRET.into());
        variables.insert("app_api_token".into(), app_token.into());
        let component = todo_tests::component_overrides(
            "chat-api",
            Overrides {
                outbound: Some(outbound.clone()),
                variables: Some(variables),
                wall_clock: Some(clock.wall_clock()),
                ..Overrides::default()
            },
        )
        .component()
        .clone();
        channel.component.set(component.clone()).ok().unwrap();
        Fixture {
            sidecar,
            clock,
            component,
            channel,
            outbound,
        }
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, String)],
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = http::Request::builder()
            .method(method)
            .uri(format!("http://localhost:3000{path}"));
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        if body.is_some() {
            request = request.header("content-type", "application/json");
        }
        let body = body
            .map(|b| Bytes::from(serde_json::to_vec(&b).unwrap()))
            .unwrap_or_default();
        let response = tokio::time::timeout(
            Duration::from_secs(60),
            self.component.handle(request.body(body).unwrap()),
        )
        .await
        .expect("chat-api answers")
        .unwrap_or_else(|e| panic!("{e:#}\n{}", self.component.logs()));
        let status = response.status().as_u16();
        (
            status,
            serde_json::from_slice(response.body()).unwrap_or(Value::Null),
        )
    }

    async fn as_alice(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let now = self.clock.now_utc().timestamp() as u64;
        let token = todo_domain::auth::issue_token(SECRET.as_bytes(), "alice", now, 30 * 86_400);
        self.call(
            method,
            path,
            &[("authorization", format!("Bearer {token}"))],
            body,
        )
        .await
    }

    async fn create(&self, body: Value) -> Value {
        let (status, task) = self.as_alice("POST", "/api/tasks", Some(body)).await;
        assert_eq!(status, 201, "{task}\n{}", self.component.logs());
        task
    }

    async fn patch(&self, task: &Value, body: Value) -> Value {
        let path = format!("/api/tasks/{}", task["id"].as_str().unwrap());
        let (status, task) = self.as_alice("PATCH", &path, Some(body)).await;
        assert_eq!(status, 200, "{task}");
        task
    }

    /// `POST /job/{name}` as Dapr sends it (with the app token).
    async fn trigger(&self, name: &str, data: Value) -> (u16, Value) {
        self.call(
            "POST",
            &format!("/job/{name}"),
            &[("dapr-api-token", APP_TOKEN.into())],
            Some(data),
        )
        .await
    }

    /// The job as `GET /v1.0-alpha1/jobs/{name}` answers chat-api; `None` when there is none.
    async fn job(&self, name: &str) -> Option<Value> {
        let request = http::Request::get(format!("/v1.0-alpha1/jobs/{name}"))
            .body(Bytes::new())
            .unwrap();
        let response = self.sidecar.handle("chat-api", request).await;
        (response.status() == 200).then(|| serde_json::from_slice(response.body()).unwrap())
    }

    async fn reminder_job(&self, task: &Value) -> Option<Value> {
        self.job(&job_name(task)).await
    }

    /// Jobs the Scheduler "lost".
    async fn lose_job(&self, name: &str) {
        let request = http::Request::delete(format!("/v1.0-alpha1/jobs/{name}"))
            .body(Bytes::new())
            .unwrap();
        assert_eq!(self.sidecar.handle("chat-api", request).await.status(), 204);
    }

    /// Move the shared clock forward to `to`.
    fn advance_to(&self, to: &str) {
        let by = (at(to) - self.clock.now_utc()).to_std().expect("forward");
        self.clock.advance(by);
    }

    /// Move the shared clock to `to` and let the scheduler trigger what is due.
    async fn run_due_jobs_at(&self, to: &str) {
        self.advance_to(to);
        self.sidecar.run_due_jobs_now().await;
    }

    fn reminder_events(&self) -> Vec<Value> {
        self.sidecar
            .published()
            .into_iter()
            .filter(|m| m.topic == "reminders")
            .map(|m| m.event.expect("a CloudEvent"))
            .collect()
    }

    /// Triggers of reminder jobs (the sweep and reconcile jobs also fire as the clock moves).
    fn triggers(&self) -> Vec<Trigger> {
        let triggers = self.channel.triggers.lock().unwrap();
        triggers
            .iter()
            .filter(|t| t.path.starts_with("/job/reminder-"))
            .cloned()
            .collect()
    }

    /// chat-api's stored document `key`, checked against `schema`.
    fn stored(&self, key: &str, schema: &str) -> Option<Value> {
        let snapshot = self.sidecar.state_snapshot("statestore");
        let item = snapshot.get(&format!("chat-api||{key}"))?;
        let value: Value = serde_json::from_slice(&item.value).unwrap();
        contract_schemas::validate(schema, &value).unwrap_or_else(|e| panic!("{key}: {e}"));
        Some(value)
    }

    fn bucket_of(&self, task: &Value) -> Value {
        let id: uuid::Uuid = task["id"].as_str().unwrap().parse().unwrap();
        let key = format!("tasks:alice:{:02x}", id.as_u128() % 64);
        self.stored(&key, "task-bucket.schema.json")
            .expect("bucket")
    }

    /// The pending reminder of `task` in the index, if any.
    fn pending(&self, task: &Value) -> Option<Value> {
        let id: uuid::Uuid = task["id"].as_str().unwrap().parse().unwrap();
        let key = format!("reminders:alice:{:02x}", id.as_u128() % 64);
        self.stored(&key, "reminder-index.schema.json")
            .and_then(|index| index["reminders"].get(id.to_string()).cloned())
    }
}

fn job_name(task: &Value) -> String {
    format!("reminder-{}", task["id"].as_str().unwrap())
}

fn reminder_id(task: &Value) -> String {
    format!("{}:{}", task["id"].as_str().unwrap(), task["version"])
}

/// The `data` daprd returns for a job (a protobuf `Any` around the value).
fn data(job: &Value) -> &Value {
    &job["data"]["value"]
}

fn with_reminder() -> Value {
    json!({"title": "call the dentist", "due_date": "2026-03-02T10:00:00Z",
           "reminder_offset_minutes": 60})
}

#[tokio::test]
async fn a_task_with_a_reminder_ahead_has_one_job_due_at_remind_at() {
    let f = Fixture::new();
    let task = f.create(with_reminder()).await;
    assert_eq!(task["remind_at"], "2026-03-02T09:00:00Z");
    let job = f.reminder_job(&task).await.expect("the reminder's job");
    assert_eq!(job["dueTime"], "2026-03-02T09:00:00Z");
    assert_eq!(job.get("schedule"), None, "a one-shot job");
    assert_eq!(
        *data(&job),
        json!({"user_id": "alice", "task_id": task["id"], "reminder_id": reminder_id(&task)})
    );
    assert_eq!(
        job["failurePolicy"],
        json!({"constant": {"interval": "5s", "maxRetries": 120}})
    );
    let pending = f.pending(&task).expect("indexed as pending");
    assert_eq!(
        pending,
        json!({"reminder_id": reminder_id(&task), "remind_at": "2026-03-02T09:00:00Z"})
    );
    assert!(
        f.bucket_of(&task).get("jobs").is_none(),
        "the applied command left the bucket"
    );
    let registry: Vec<Value> = f
        .sidecar
        .state_snapshot("statestore")
        .iter()
        .filter(|(k, _)| k.starts_with("chat-api||reminder-users:"))
        .map(|(_, item)| serde_json::from_slice(&item.value).unwrap())
        .collect();
    assert_eq!(registry.len(), 1);
    contract_schemas::validate("outbox-registry.schema.json", &registry[0]).unwrap();
    assert!(registry[0]["users"]["alice"].is_string());
    let jobs = f.sidecar.job_names();
    assert!(
        jobs.contains(&("chat-api".into(), "reminders-reconcile".into())),
        "{jobs:?}"
    );

    let plain = f.create(json!({"title": "no reminder"})).await;
    assert_eq!(f.reminder_job(&plain).await, None);
    assert_eq!(f.pending(&plain), None);
}

#[tokio::test]
async fn moving_the_reminder_or_the_due_date_reschedules_and_other_changes_do_not() {
    let f = Fixture::new();
    let task = f.create(with_reminder()).await;
    let moved = f.patch(&task, json!({"reminder_offset_minutes": 30})).await;
    let job = f.reminder_job(&task).await.unwrap();
    assert_eq!(job["dueTime"], "2026-03-02T09:30:00Z");
    assert_eq!(data(&job)["reminder_id"], reminder_id(&moved));
    let due_moved = f
        .patch(&task, json!({"due_date": "2026-03-03T10:00:00Z"}))
        .await;
    let job = f.reminder_job(&task).await.unwrap();
    assert_eq!(job["dueTime"], "2026-03-03T09:30:00Z");
    assert_eq!(data(&job)["reminder_id"], reminder_id(&due_moved));
    let retitled = f.patch(&task, json!({"title": "call the dentist!"})).await;
    assert_eq!(retitled["version"], 4);
    let job = f.reminder_job(&task).await.unwrap();
    assert_eq!(
        data(&job)["reminder_id"],
        reminder_id(&due_moved),
        "the reminder stays the one the due date change set"
    );
    assert_eq!(
        f.pending(&task).unwrap()["reminder_id"],
        reminder_id(&due_moved)
    );
}

#[tokio::test]
async fn clearing_completing_or_deleting_cancels_the_job_and_reopening_schedules_it_again() {
    let f = Fixture::new();
    let task = f.create(with_reminder()).await;
    let id = task["id"].as_str().unwrap();
    f.patch(&task, json!({"reminder_offset_minutes": null}))
        .await;
    assert_eq!(f.reminder_job(&task).await, None, "cleared");
    assert_eq!(f.pending(&task), None);
    f.patch(&task, json!({"remind_at": "2026-03-02T08:00:00Z"}))
        .await;
    assert!(f.reminder_job(&task).await.is_some(), "set again");

    let (status, completed) = f
        .as_alice("POST", &format!("/api/tasks/{id}/complete"), None)
        .await;
    assert_eq!(status, 200, "{completed}");
    assert_eq!(f.reminder_job(&task).await, None, "completed");
    assert_eq!(f.pending(&task), None);

    let (status, reopened) = f
        .as_alice("POST", &format!("/api/tasks/{id}/reopen"), None)
        .await;
    assert_eq!(status, 200, "{reopened}");
    let job = f.reminder_job(&task).await.expect("reopened: ahead again");
    assert_eq!(job["dueTime"], "2026-03-02T08:00:00Z");
    assert_eq!(data(&job)["reminder_id"], reminder_id(&reopened));

    let (status, _) = f
        .as_alice("DELETE", &format!("/api/tasks/{id}"), None)
        .await;
    assert_eq!(status, 204);
    assert_eq!(f.reminder_job(&task).await, None, "deleted");
    assert_eq!(f.pending(&task), None);
}

#[tokio::test]
async fn reopening_after_the_reminder_time_schedules_nothing_and_succeeds() {
    let f = Fixture::new();
    let task = f.create(with_reminder()).await;
    let id = task["id"].as_str().unwrap();
    f.as_alice("POST", &format!("/api/tasks/{id}/complete"), None)
        .await;
    f.clock.advance(Duration::from_secs(2 * 86_400));
    let (status, _) = f
        .as_alice("POST", &format!("/api/tasks/{id}/reopen"), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(f.reminder_job(&task).await, None);
}

#[tokio::test]
async fn a_reminder_set_or_moved_into_the_past_is_refused_naming_the_field() {
    let f = Fixture::new();
    let cases = [
        (
            json!({"title": "x", "due_date": "2026-03-02T10:00:00Z", "remind_at": "2026-03-01T07:00:00Z"}),
            "remind_at",
        ),
        (
            json!({"title": "x", "due_date": "2026-03-01T09:00:00Z", "reminder_offset_minutes": 61}),
            "reminder_offset_minutes",
        ),
    ];
    for (body, field) in cases {
        let (status, error) = f.as_alice("POST", "/api/tasks", Some(body)).await;
        assert_eq!(status, 400, "{error}");
        contract_schemas::validate("error.schema.json", &error).unwrap();
        assert_eq!(error["error"]["code"], "validation_failed");
        assert_eq!(error["error"]["field"], field, "{error}");
    }
    let (_, list) = f.as_alice("GET", "/api/tasks", None).await;
    assert_eq!(list["items"], json!([]), "nothing was created");

    let task = f.create(with_reminder()).await;
    let path = format!("/api/tasks/{}", task["id"].as_str().unwrap());
    let (status, error) = f
        .as_alice(
            "PATCH",
            &path,
            Some(json!({"due_date": "2026-03-01T08:30:00Z"})),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(error["error"]["field"], "due_date");
    let (status, error) = f
        .as_alice(
            "PATCH",
            &path,
            Some(json!({"remind_at": "2026-03-01T08:00:00Z"})),
        )
        .await;
    assert_eq!(status, 400, "now is not in the future");
    assert_eq!(error["error"]["field"], "remind_at");
    let (_, unchanged) = f.as_alice("GET", &path, None).await;
    assert_eq!(unchanged["version"], 1);
    assert_eq!(
        f.reminder_job(&task).await.unwrap()["dueTime"],
        "2026-03-02T09:00:00Z"
    );
}

#[tokio::test]
async fn a_trigger_publishes_one_reminder_event_whose_id_derives_from_the_reminder() {
    let f = Fixture::new();
    let task = f.create(with_reminder()).await;
    let rid = reminder_id(&task);

    f.run_due_jobs_at("2026-03-02T08:59:59Z").await;
    assert!(f.triggers().is_empty(), "never early");
    f.run_due_jobs_at("2026-03-02T09:00:00Z").await;
    let triggers = f.triggers();
    assert_eq!(triggers.len(), 1, "{triggers:?}");
    assert_eq!(triggers[0].path, format!("/job/{}", job_name(&task)));
    assert_eq!(triggers[0].status, 200);
    assert_eq!(triggers[0].answer["fired"], true);

    let events = f.reminder_events();
    assert_eq!(events.len(), 1);
    let event = &events[0];
    contract_schemas::validate("reminder-event.schema.json", event)
        .unwrap_or_else(|e| panic!("{e}\n{event}"));
    assert_eq!(event["id"], event_id(&rid).to_string());
    assert_eq!(event["type"], "reminder.triggered");
    assert_eq!(event["source"], "chat-api");
    assert_eq!(event["subject"], task["id"]);
    assert_eq!(event["time"], "2026-03-02T09:00:00Z");
    assert_eq!(
        event["data"],
        json!({"schema_version": 1, "user_id": "alice", "task_id": task["id"],
               "task_title": "call the dentist", "due_date": "2026-03-02T10:00:00Z",
               "remind_at": "2026-03-02T09:00:00Z", "reminder_id": rid})
    );
    assert_eq!(f.reminder_job(&task).await, None, "a one-shot job is done");
    assert_eq!(f.pending(&task), None, "fired: no longer pending");
    assert!(
        f.bucket_of(&task)["outbox"].as_array().unwrap().is_empty(),
        "published and cleared"
    );

    // Dapr delivers the trigger again (at least once): acknowledged, nothing new published.
    let again = f
        .trigger(
            &job_name(&task),
            json!({"user_id": "alice", "task_id": task["id"], "reminder_id": rid}),
        )
        .await;
    assert_eq!(again, (200, json!({"reminder_id": rid, "fired": false})));
    assert_eq!(f.reminder_events().len(), 1);

    // The reminder has fired; an unrelated change must not fail because it lies in the past.
    let retitled = f.patch(&task, json!({"title": "dentist, done?"})).await;
    assert_eq!(retitled["remind_at"], "2026-03-02T09:00:00Z");
    assert_eq!(f.reminder_job(&task).await, None, "not scheduled again");
    // At 09:30, postponed a little: its reminder (due − 60 min) is still past; no error, and it
    // does not fire again.
    f.advance_to("2026-03-02T09:30:00Z");
    let postponed = f
        .patch(&task, json!({"due_date": "2026-03-02T10:20:00Z"}))
        .await;
    assert_eq!(postponed["remind_at"], "2026-03-02T09:20:00Z");
    assert_eq!(f.reminder_job(&task).await, None);
    assert_eq!(f.pending(&task), None);
}

#[tokio::test]
async fn a_trigger_whose_publish_fails_goes_out_later_with_the_same_id() {
    let f = Fixture::new();
    let task = f.create(with_reminder()).await;
    f.sidecar.faults().fail_next_publishes(1);
    f.advance_to("2026-03-02T09:00:00Z");
    let (status, answer) = f
        .trigger(
            &job_name(&task),
            json!({"user_id": "alice", "task_id": task["id"], "reminder_id": reminder_id(&task)}),
        )
        .await;
    assert_eq!((status, answer["fired"].clone()), (200, json!(true)));
    assert!(f.reminder_events().is_empty(), "the broker refused it");
    let outbox = f.bucket_of(&task)["outbox"].clone();
    assert_eq!(outbox.as_array().unwrap().len(), 1);
    assert_eq!(outbox[0]["id"], event_id(&reminder_id(&task)).to_string());
    let (status, report) = f.trigger("outbox-sweep", json!({})).await;
    assert_eq!(status, 200, "{report}");
    let events = f.reminder_events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["id"], outbox[0]["id"]);
}

#[tokio::test]
async fn a_stale_trigger_is_acknowledged_and_publishes_nothing() {
    let f = Fixture::new();
    let task = f.create(with_reminder()).await;
    let first = reminder_id(&task);
    let data = |rid: &str| json!({"user_id": "alice", "task_id": task["id"], "reminder_id": rid});

    f.patch(&task, json!({"reminder_offset_minutes": 120}))
        .await;
    let (status, answer) = f.trigger(&job_name(&task), data(&first)).await;
    assert_eq!(
        (status, answer["fired"].clone()),
        (200, json!(false)),
        "moved"
    );

    let id = task["id"].as_str().unwrap();
    let (_, completed) = f
        .as_alice("POST", &format!("/api/tasks/{id}/complete"), None)
        .await;
    let (status, answer) = f.trigger(&job_name(&task), data(&format!("{id}:2"))).await;
    assert_eq!(
        (status, answer["fired"].clone()),
        (200, json!(false)),
        "completed"
    );
    assert_eq!(completed["status"], "completed");

    f.as_alice("DELETE", &format!("/api/tasks/{id}"), None)
        .await;
    let (status, _) = f.trigger(&job_name(&task), data(&first)).await;
    assert_eq!(status, 200, "task gone");

    // Data that is not this job's: done, do not retry.
    let (status, _) = f
        .trigger(
            &job_name(&task),
            json!({"user_id": "alice", "task_id": uuid::Uuid::nil(), "reminder_id": first}),
        )
        .await;
    assert_eq!(status, 404);
    assert!(f.reminder_events().is_empty());
}

#[tokio::test]
async fn reminder_triggers_need_the_app_token_and_fail_closed_without_one() {
    let f = Fixture::new();
    let task = f.create(with_reminder()).await;
    let path = format!("/job/{}", job_name(&task));
    let data =
        json!({"user_id": "alice", "task_id": task["id"], "reminder_id": reminder_id(&task)});
    let (status, _) = f.call("POST", &path, &[], Some(data.clone())).await;
    assert_eq!(status, 401);
    let wrong = [("dapr-api-token", "guess".to_owned())];
    let (status, _) = f.call("POST", &path, &wrong, Some(data.clone())).await;
    assert_eq!(status, 401);

    let unconfigured = Fixture::with_app_token("");
    let right = [("dapr-api-token", APP_TOKEN.to_owned())];
    let (status, error) = unconfigured.call("POST", &path, &right, Some(data)).await;
    assert_eq!(status, 401, "{error}");
    assert!(f.reminder_events().is_empty());
    assert!(f.pending(&task).is_some(), "still pending");
}

#[tokio::test]
async fn a_job_that_could_not_be_scheduled_is_kept_and_applied_by_the_sweep() {
    let f = Fixture::new();
    f.outbound.failing_job_calls.store(1, Ordering::SeqCst);
    let task = f.create(with_reminder()).await;
    assert_eq!(f.reminder_job(&task).await, None, "the Scheduler refused");
    let jobs = f.bucket_of(&task)["jobs"].clone();
    assert_eq!(
        jobs,
        json!({task["id"].as_str().unwrap(): {"action": "schedule",
               "reminder_id": reminder_id(&task), "remind_at": "2026-03-02T09:00:00Z"}}),
        "the command waits in the bucket"
    );

    let (status, report) = f.trigger("outbox-sweep", json!({})).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["jobs_applied"], 1);
    let job = f.reminder_job(&task).await.expect("scheduled by the sweep");
    assert_eq!(data(&job)["reminder_id"], reminder_id(&task));
    assert!(f.bucket_of(&task).get("jobs").is_none());

    // A failed delete is retried the same way.
    f.outbound.failing_job_calls.store(1, Ordering::SeqCst);
    f.patch(&task, json!({"reminder_offset_minutes": null}))
        .await;
    assert!(f.reminder_job(&task).await.is_some(), "delete refused");
    let (_, report) = f.trigger("outbox-sweep", json!({})).await;
    assert_eq!(report["jobs_applied"], 1);
    assert_eq!(f.reminder_job(&task).await, None);
}

#[tokio::test]
async fn reconciliation_recreates_a_lost_job_before_it_is_due() {
    let f = Fixture::new();
    let soon = f.create(with_reminder()).await;
    let later = f
        .create(json!({"title": "far", "due_date": "2026-06-01T10:00:00Z", "remind_at": "2026-06-01T09:00:00Z"}))
        .await;
    f.lose_job(&job_name(&soon)).await;
    f.lose_job(&job_name(&later)).await;

    let (status, report) = f.trigger("reminders-reconcile", json!({})).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["reminders_pending"], 2);
    assert_eq!(report["jobs_checked"], 0, "nothing due within 15 minutes");

    f.advance_to("2026-03-02T08:50:00Z");
    let (_, report) = f.trigger("reminders-reconcile", json!({})).await;
    assert_eq!(report["jobs_checked"], 1);
    assert_eq!(report["jobs_recreated"], 1);
    let job = f.reminder_job(&soon).await.expect("re-created");
    assert_eq!(job["dueTime"], "2026-03-02T09:00:00Z");
    assert_eq!(data(&job)["reminder_id"], reminder_id(&soon));
    assert_eq!(f.reminder_job(&later).await, None, "not yet: months ahead");

    let (_, report) = f.trigger("reminders-reconcile", json!({})).await;
    assert_eq!(report["jobs_recreated"], 0, "a healthy job is left alone");

    f.run_due_jobs_at("2026-03-02T09:00:00Z").await;
    assert_eq!(f.reminder_events().len(), 1);
    let (_, report) = f.trigger("reminders-reconcile", json!({})).await;
    assert_eq!(report["reminders_pending"], 1, "the fired one is gone");

    // The repeating jobs watch each other: a lost one is back after the other's next run.
    f.lose_job("reminders-reconcile").await;
    f.trigger("outbox-sweep", json!({})).await;
    assert!(f.job("reminders-reconcile").await.is_some());
    f.lose_job("outbox-sweep").await;
    f.trigger("reminders-reconcile", json!({})).await;
    assert_eq!(
        f.job("outbox-sweep").await.unwrap()["schedule"],
        "@every 1m"
    );
}

#[tokio::test]
async fn a_reminder_due_while_chat_api_is_down_arrives_when_it_is_back() {
    let f = Fixture::new();
    let task = f.create(with_reminder()).await;
    f.channel.down.store(true, Ordering::SeqCst);
    f.run_due_jobs_at("2026-03-02T09:00:00Z").await;
    f.run_due_jobs_at("2026-03-02T09:00:05Z").await;
    assert_eq!(f.triggers().len(), 2, "retried every 5 s");
    assert!(f.reminder_events().is_empty());
    f.channel.down.store(false, Ordering::SeqCst);
    f.run_due_jobs_at("2026-03-02T09:04:00Z").await;
    let events = f.reminder_events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["id"], event_id(&reminder_id(&task)).to_string());

    // Down past the whole retry window: the job gives up, the reconcile job brings it back.
    let second = f
        .create(json!({"title": "y", "due_date": "2026-03-02T12:00:00Z", "reminder_offset_minutes": 60}))
        .await;
    f.channel.down.store(true, Ordering::SeqCst);
    let mut t = at("2026-03-02T11:00:00Z");
    while t <= at("2026-03-02T11:10:05Z") {
        f.run_due_jobs_at(&t.to_rfc3339()).await;
        t += chrono::TimeDelta::seconds(5);
    }
    assert_eq!(f.reminder_job(&second).await, None, "retries exhausted");
    f.channel.down.store(false, Ordering::SeqCst);
    let (_, report) = f.trigger("reminders-reconcile", json!({})).await;
    assert_eq!(report["jobs_recreated"], 1);
    let job = f.reminder_job(&second).await.expect("re-created");
    assert_eq!(job["dueTime"], "0s", "its time has passed: due at once");
    f.sidecar.run_due_jobs_now().await;
    let events = f.reminder_events();
    assert_eq!(events.len(), 2);
    assert_eq!(events[1]["data"]["reminder_id"], reminder_id(&second));
}

#[tokio::test]
async fn an_occurrence_schedules_its_reminder_unless_it_is_already_past() {
    let f = Fixture::new();
    let token = [("dapr-api-token", APP_TOKEN.to_owned())];
    let occurrence = |series: uuid::Uuid, due: &str| {
        json!({"user_id": "alice", "series_id": series, "series_start": "2026-02-01T09:00:00Z",
               "predecessor_id": series, "predecessor_occurrence_index": 0, "occurrence_index": 1,
               "task": {"title": "water plants", "due_date": due, "recurrence_rule": "daily",
                        "reminder_offset_minutes": 60}})
    };
    let (status, ahead) = f
        .call(
            "POST",
            "/api/internal/occurrences",
            &token,
            Some(occurrence(uuid::Uuid::new_v4(), "2026-03-02T09:00:00Z")),
        )
        .await;
    assert_eq!(status, 201, "{ahead}");
    let job = f.reminder_job(&ahead).await.expect("scheduled");
    assert_eq!(job["dueTime"], "2026-03-02T08:00:00Z");

    // The recurring service caught up late: the occurrence exists, its reminder passed quietly.
    let (status, late) = f
        .call(
            "POST",
            "/api/internal/occurrences",
            &token,
            Some(occurrence(uuid::Uuid::new_v4(), "2026-03-01T08:30:00Z")),
        )
        .await;
    assert_eq!(status, 201, "{late}");
    assert_eq!(late["remind_at"], "2026-03-01T07:30:00Z");
    assert_eq!(f.reminder_job(&late).await, None);
    assert_eq!(f.pending(&late), None);
}
