//! chat-api and recurring-task-service wired as `todo-dev up` wires them, in process: the release
//! components of spin.toml in wasmtime (the harness's compilations), one embedded sidecar with the
//! repository's `dapr/` resources (subscriptions, resiliency, access control), the same app
//! channel (`spin_host::apps`) and app API token, one clock for guests and sidecar. Shared by the
//! `recurring` tests and the `recurring` benchmark.
//!
//! What the tests see on top of `todo-dev`: every call the sidecar makes into an app with its
//! answer and real-time instants ([`Stack::calls`], waited for with [`Stack::wait_for`]), the
//! components' Dapr calls as they return ([`Stack::observe_dapr_calls`]), and faults: the next N
//! invocations recurring-task-service makes fail as if the sidecar were unreachable
//! ([`Stack::fail_next_invocations`]); an app is down for its sidecar ([`Stack::set_down`]).
//!
//! Calls to anything but the Dapr port (3500) go over TCP, as in `todo-dev` (notification-service's
//! webhook); [`Stack::start_with_variables`] sets application variables such as its URL and the
//! origin allowed for it.
use bytes::Bytes;
use dapr_sidecar::{AppCallError, AppCallFuture, AppChannel, Sidecar, SidecarConfig};
use serde_json::{Value, json};
use spin_host::apps::{Apps, AppsChannel};
use spin_host::{OutboundHandler, Overrides, SharedClock};
use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

pub const CHAT_API: &str = "chat-api";
pub const RECURRING: &str = "recurring-task-service";
pub const AUDIT: &str = "audit-service";
pub const NOTIFICATIONS: &str = "notification-service";
pub const APP_TOKEN: &str = "recurring-stack-app-token";
/// Bounds a hang only: every wait ends as soon as what it waits for happens.
pub const HANG: Duration = Duration::from_secs(60);

/// One call the sidecar made into an app, and the app's answer.
#[derive(Debug, Clone)]
pub struct Call {
    pub app_id: String,
    pub path: String,
    pub status: u16,
    /// The request's CloudEvent `id`, for deliveries.
    pub event_id: Option<String>,
    /// The answer's JSON (`{"status":"SUCCESS"}` for deliveries, the Task for invocations).
    pub answer: Value,
    /// When the sidecar made the call, and when the app answered (real time).
    pub sent: Instant,
    pub answered: Instant,
}

impl Call {
    /// A delivery's `SUCCESS` / `RETRY` / `DROP`.
    pub fn delivery_status(&self) -> &str {
        self.answer["status"].as_str().unwrap_or("")
    }
}

/// The sidecar's app channel (`AppsChannel`, as in `todo-dev`), recording every call.
struct RecordingChannel {
    inner: AppsChannel,
    calls: Mutex<Vec<Call>>,
    changed: tokio::sync::watch::Sender<usize>,
    /// Apps the sidecar cannot reach (connection refused), as if their process were down.
    down: Mutex<HashSet<String>>,
}

impl AppChannel for RecordingChannel {
    fn call(&self, app_id: &str, request: http::Request<Bytes>) -> AppCallFuture<'_> {
        let app_id = app_id.to_owned();
        let path = request.uri().path().to_owned();
        let event_id = serde_json::from_slice::<Value>(request.body())
            .ok()
            .and_then(|v| v["id"].as_str().map(str::to_owned));
        Box::pin(async move {
            let sent = Instant::now();
            let result = if self.down.lock().unwrap().contains(&app_id) {
                Err(AppCallError {
                    app_id: app_id.clone(),
                    message: "connection refused (the app is down in this test)".into(),
                })
            } else {
                self.inner.call(&app_id, request).await
            };
            let answered = Instant::now();
            let (status, answer) = match &result {
                Ok(response) => (
                    response.status().as_u16(),
                    serde_json::from_slice(response.body()).unwrap_or(Value::Null),
                ),
                Err(_) => (0, Value::Null),
            };
            let n = {
                let mut calls = self.calls.lock().unwrap();
                calls.push(Call {
                    app_id,
                    path,
                    status,
                    event_id,
                    answer,
                    sent,
                    answered,
                });
                calls.len()
            };
            self.changed.send_replace(n);
            result
        })
    }
}

/// Sees a component's Dapr call (app-id, request) and the sidecar's answer as it returns.
pub type DaprObserver =
    Arc<dyn Fn(&str, &http::Request<Bytes>, &http::Response<Bytes>) + Send + Sync>;

/// Every component's call to the Dapr port goes to the sidecar as its app-id, but for the
/// invocations of recurring-task-service a test has made fail; other calls go over TCP.
#[derive(Default)]
struct Outbound {
    sidecar: OnceLock<Sidecar>,
    failing_invocations: AtomicUsize,
    observer: Mutex<Option<DaprObserver>>,
}

impl OutboundHandler for Outbound {
    fn handle(
        &self,
        app_id: &str,
        req: http::Request<Bytes>,
    ) -> Pin<Box<dyn Future<Output = anyhow::Result<http::Response<Bytes>>> + Send + '_>> {
        let app_id = app_id.to_owned();
        Box::pin(async move {
            if app_id == RECURRING
                && req.uri().path().starts_with("/v1.0/invoke/")
                && self
                    .failing_invocations
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok()
            {
                anyhow::bail!("connection refused (injected by the test)");
            }
            if req.uri().port_u16().is_some_and(|port| port != 3500) {
                return todo_tests::webhook::over_tcp(req).await;
            }
            let sidecar = self.sidecar.get().expect("set in Stack::start");
            let observer = self.observer.lock().unwrap().clone();
            match observer {
                None => Ok(spin_host::send_to_sidecar(sidecar, &app_id, req).await),
                Some(observe) => {
                    let response = spin_host::send_to_sidecar(sidecar, &app_id, req.clone()).await;
                    observe(&app_id, &req, &response);
                    Ok(response)
                }
            }
        })
    }
}

pub struct Stack {
    pub sidecar: Sidecar,
    pub apps: Arc<Apps>,
    pub clock: SharedClock,
    channel: Arc<RecordingChannel>,
    outbound: Arc<Outbound>,
    changed: tokio::sync::watch::Receiver<usize>,
    app_errors: Arc<Mutex<Vec<String>>>,
}

impl Stack {
    /// Start chat-api and recurring-task-service on `clock` (call inside a multi-threaded tokio
    /// runtime).
    pub fn start(clock: SharedClock) -> Stack {
        Self::start_with(clock, &[CHAT_API, RECURRING])
    }

    /// Start these components of spin.toml on `clock`.
    pub fn start_with(clock: SharedClock, ids: &[&str]) -> Stack {
        Self::start_with_variables(clock, ids, &[])
    }

    /// Start these components of spin.toml on `clock` with these application variables (name,
    /// value) set, as `SPIN_VARIABLE_*` sets them for `todo-dev`.
    pub fn start_with_variables(
        clock: SharedClock,
        ids: &[&str],
        app_variables: &[(&str, &str)],
    ) -> Stack {
        let outbound = Arc::new(Outbound::default());
        let app = todo_tests::app();
        let components = ids
            .iter()
            .copied()
            .map(|id| {
                let overrides = |variables| Overrides {
                    outbound: Some(outbound.clone()),
                    variables: Some(variables),
                    wall_clock: Some(clock.wall_clock()),
                    ..Overrides::default()
                };
                let with_token = |mut variables: std::collections::HashMap<String, String>| {
                    variables.insert("app_api_token".into(), APP_TOKEN.into());
                    variables
                };
                if app_variables.is_empty() {
                    let variables = app.config(id).unwrap_or_else(|e| panic!("{e:#}")).variables;
                    app.component_overrides(id, overrides(with_token(variables)))
                        .component()
                        .clone()
                } else {
                    let (component, variables) = app
                        .load_with(id, app_variables)
                        .unwrap_or_else(|e| panic!("{e:#}"));
                    component.with_overrides(overrides(with_token(variables)))
                }
            })
            .collect();
        let apps = Arc::new(Apps::new(app.manifest(), components));
        let (changed_tx, changed) = tokio::sync::watch::channel(0);
        let app_errors: Arc<Mutex<Vec<String>>> = Arc::default();
        let errors = app_errors.clone();
        let channel = Arc::new(RecordingChannel {
            inner: AppsChannel::new(apps.clone(), "127.0.0.1:3000").with_observer(Arc::new(
                move |call| {
                    if let Some(error) = &call.error {
                        let error = format!("{} {}: {error}", call.app_id, call.path);
                        errors.lock().unwrap().push(error);
                    }
                },
            )),
            calls: Mutex::new(Vec::new()),
            changed: changed_tx,
            down: Mutex::default(),
        });
        let resources = todo_tests::manifest_path().parent().unwrap().join("dapr");
        let sidecar = Sidecar::new(SidecarConfig {
            clock: clock.sidecar_clock(),
            app_channel: channel.clone(),
            apps: apps.ids(),
            resources_dir: Some(resources),
            app_api_token: Some(APP_TOKEN.into()),
            ..SidecarConfig::default()
        });
        outbound.sidecar.set(sidecar.clone()).ok().unwrap();
        sidecar.start();
        Stack {
            sidecar,
            apps,
            clock,
            channel,
            outbound,
            changed,
            app_errors,
        }
    }

    /// Whether the sidecar can reach app `app_id` (its calls fail as "connection refused" while
    /// it is down).
    pub fn set_down(&self, app_id: &str, down: bool) {
        let mut apps = self.channel.down.lock().unwrap();
        if down {
            apps.insert(app_id.to_owned());
        } else {
            apps.remove(app_id);
        }
    }

    /// From now on `observe` sees every Dapr call of the components as it returns.
    pub fn observe_dapr_calls(&self, observe: DaprObserver) {
        *self.outbound.observer.lock().unwrap() = Some(observe);
    }

    /// The next `n` invocations recurring-task-service makes fail without reaching Dapr.
    pub fn fail_next_invocations(&self, n: usize) {
        self.outbound.failing_invocations.store(n, Ordering::SeqCst);
    }

    /// The host's errors of the sidecar's calls into apps (answered 500 without the guest:
    /// a trap, no instance available), as "app-id path: error".
    pub fn app_errors(&self) -> Vec<String> {
        self.app_errors.lock().unwrap().clone()
    }

    /// Every call the sidecar made into an app so far.
    pub fn calls(&self) -> Vec<Call> {
        self.channel.calls.lock().unwrap().clone()
    }

    /// The deliveries of event `id` to recurring-task-service's completion route.
    pub fn deliveries_of(&self, event_id: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| {
                c.app_id == RECURRING
                    && c.path == "/recurring/task-completed"
                    && c.event_id.as_deref() == Some(event_id)
            })
            .collect()
    }

    /// chat-api's answers to `POST /api/internal/occurrences` (201 created, 200 existed).
    pub fn occurrence_answers(&self) -> Vec<u16> {
        self.calls()
            .into_iter()
            .filter(|c| c.app_id == CHAT_API && c.path == "/api/internal/occurrences")
            .map(|c| c.status)
            .collect()
    }

    /// Wait (at most [`HANG`]) until `done` holds for the recorded calls.
    pub async fn wait_for(&self, what: &str, done: impl Fn(&[Call]) -> bool) {
        let mut changed = self.changed.clone();
        let waited = tokio::time::timeout(HANG, async {
            loop {
                if done(&self.calls()) {
                    return;
                }
                changed
                    .changed()
                    .await
                    .expect("the channel lives as long as the stack");
            }
        })
        .await;
        if waited.is_err() {
            panic!(
                "no {what} within {HANG:?}; calls: {:#?}\n{}",
                self.calls(),
                self.logs()
            );
        }
    }

    /// How many calls the sidecar has made into apps so far.
    pub fn call_count(&self) -> usize {
        self.channel.calls.lock().unwrap().len()
    }

    /// Wait (at most [`HANG`]) for a call, from the `from`-th on, that matches `pred`; its
    /// position. Looks only at the new calls (the benchmark makes thousands).
    pub async fn wait_for_call(&self, from: usize, pred: impl Fn(&Call) -> bool) -> usize {
        let mut changed = self.changed.clone();
        let found = tokio::time::timeout(HANG, async {
            loop {
                {
                    let calls = self.channel.calls.lock().unwrap();
                    if let Some(i) = calls.iter().skip(from).position(&pred) {
                        return from + i;
                    }
                }
                changed
                    .changed()
                    .await
                    .expect("the channel lives as long as the stack");
            }
        })
        .await;
        found.unwrap_or_else(|_| panic!("no such call within {HANG:?}\n{}", self.logs()))
    }

    /// Wait until event `id` was delivered to recurring-task-service and answered SUCCESS; all
    /// its deliveries, in order.
    pub async fn handled(&self, event_id: &str) -> Vec<Call> {
        self.wait_for(&format!("SUCCESS for event {event_id}"), |calls| {
            calls.iter().any(|c| {
                c.event_id.as_deref() == Some(event_id)
                    && c.app_id == RECURRING
                    && c.delivery_status() == "SUCCESS"
            })
        })
        .await;
        self.deliveries_of(event_id)
    }

    /// A user's bearer token, valid on the stack's clock.
    pub fn token(&self, user: &str) -> String {
        let now = self.clock.now_utc().timestamp() as u64;
        todo_domain::auth::issue_token(todo_tests::TEST_JWT_SECRET.as_bytes(), user, now, 86_400)
    }

    /// A request on the app's HTTP port (routed as `todo-dev` routes it); status and JSON body.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, String)],
        body: Option<&Value>,
    ) -> (u16, Value) {
        let route_path = path.split('?').next().unwrap();
        let matched = self
            .apps
            .route(route_path)
            .unwrap_or_else(|| panic!("no route for {path}"));
        let mut request = http::Request::builder().method(method).uri(path);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        if body.is_some() {
            request = request.header("content-type", "application/json");
        }
        let body = body
            .map(|b| Bytes::from(serde_json::to_vec(b).unwrap()))
            .unwrap_or_default();
        let response = tokio::time::timeout(
            HANG,
            matched
                .component
                .handle_route(request.body(body).unwrap(), &matched.route),
        )
        .await
        .unwrap_or_else(|_| panic!("{method} {path} hung"))
        .unwrap_or_else(|e| panic!("{method} {path}: {e:#}"));
        let status = response.status().as_u16();
        let json = serde_json::from_slice(response.body()).unwrap_or(Value::Null);
        (status, json)
    }

    /// As `user`: status and body.
    pub async fn call_as(
        &self,
        user: &str,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let auth = vec![("authorization", format!("Bearer {}", self.token(user)))];
        self.call(method, path, &auth, body).await
    }

    pub async fn create(&self, user: &str, body: Value) -> Value {
        let (status, task) = self.call_as(user, "POST", "/api/tasks", Some(&body)).await;
        assert_eq!(status, 201, "{task}");
        task
    }

    /// Complete a task: its snapshot and the id of its `task.completed` event.
    pub async fn complete(&self, user: &str, task: &Value) -> (Value, String) {
        let id = task["id"].as_str().unwrap();
        let path = format!("/api/tasks/{id}/complete");
        let (status, done) = self.call_as(user, "POST", &path, None).await;
        assert_eq!(status, 200, "{done}");
        let event = self
            .sidecar
            .published()
            .into_iter()
            .filter_map(|m| m.event)
            .filter(|e| e["type"] == "task.completed" && e["subject"] == id)
            .last()
            .unwrap_or_else(|| panic!("no task.completed for {id}"));
        (done, event["id"].as_str().unwrap().to_owned())
    }

    pub async fn reopen(&self, user: &str, task: &Value) -> Value {
        let path = format!("/api/tasks/{}/reopen", task["id"].as_str().unwrap());
        let (status, open) = self.call_as(user, "POST", &path, None).await;
        assert_eq!(status, 200, "{open}");
        open
    }

    /// `GET /api/tasks?sort=due_date` as `user`: every task, earliest due first.
    pub async fn list(&self, user: &str) -> Vec<Value> {
        let (status, page) = self
            .call_as(user, "GET", "/api/tasks?sort=due_date&limit=500", None)
            .await;
        assert_eq!(status, 200, "{page}");
        page["items"].as_array().unwrap().clone()
    }

    /// The published CloudEvent with id `event_id`, as Dapr delivered it.
    pub fn published_event(&self, event_id: &str) -> Value {
        self.sidecar
            .published()
            .into_iter()
            .filter_map(|m| m.event)
            .find(|e| e["id"] == event_id)
            .unwrap_or_else(|| panic!("no published event {event_id}"))
    }

    /// Publish `event` (a CloudEvent) on `task-events`, as chat-api would.
    pub async fn publish(&self, event: &Value) {
        self.publish_on("task-events", event).await;
    }

    /// Publish `event` (a CloudEvent) on `topic`, as chat-api would.
    pub async fn publish_on(&self, topic: &str, event: &Value) {
        let request = http::Request::post(format!("/v1.0/publish/pubsub/{topic}"))
            .header("content-type", "application/cloudevents+json")
            .body(Bytes::from(serde_json::to_vec(event).unwrap()))
            .unwrap();
        let response = self.sidecar.handle(CHAT_API, request).await;
        assert_eq!(response.status(), 204, "{response:?}");
    }

    /// Deliver `event` straight to recurring-task-service's completion route, as its sidecar
    /// does (with the app API token): the delivery status.
    pub async fn deliver_directly(&self, event: &Value) -> String {
        let headers = [
            ("dapr-api-token", APP_TOKEN.to_owned()),
            ("pubsubname", "pubsub".to_owned()),
        ];
        let (status, answer) = self
            .call("POST", "/recurring/task-completed", &headers, Some(event))
            .await;
        assert_eq!(status, 200, "{answer}");
        answer["status"].as_str().unwrap().to_owned()
    }

    /// The components' captured output.
    pub fn logs(&self) -> String {
        self.apps
            .ids()
            .iter()
            .filter_map(|id| {
                let component = self.apps.component(id)?;
                Some(format!("----- {id} -----\n{}", component.logs()))
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.logs());
        }
    }
}

/// `{"title", "due_date", "recurrence_rule", …}` with the extra fields of `more`.
pub fn recurring(title: &str, due: &str, rule: &str, more: Value) -> Value {
    let mut body = json!({"title": title, "due_date": due, "recurrence_rule": rule});
    if let Value::Object(more) = more {
        body.as_object_mut().unwrap().extend(more);
    }
    body
}
