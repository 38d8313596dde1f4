//! notification-service tested as it ships: the release `.wasm` in wasmtime, its Dapr calls
//! answered by an in-process embedded sidecar, its webhook calls sent over TCP to a local
//! receiver (hyper on 127.0.0.1, an ephemeral port) that answers from a script, guest and
//! sidecar on one fixed clock (`SharedClock`), so the signed timestamp is known.
//!
//! The component is loaded with `notification_webhook_origin = http://127.0.0.1:*` (the
//! variable that spin.toml puts into its `allowed_outbound_hosts`); one test keeps spin.toml's
//! default origin and sees the webhook refused by the host. Deliveries are POSTed as Dapr
//! delivers them; the last tests publish through the sidecar, which delivers by the declarative
//! subscription in `dapr/` and dead-letters a DROP to `reminders-dlq`.
use bytes::Bytes;
use chrono::{DateTime, TimeDelta, Utc};
use dapr_sidecar::{Sidecar, SidecarConfig};
use serde_json::{Value, json};
use spin_host::{
    ComponentConfig, LoadedComponent, OutboundHandler, Overrides, SharedClock, VariableResolver,
};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use todo_domain::reminder::event_id;
use todo_tests::webhook::{NO_ANSWER, Receiver, over_tcp};
use uuid::Uuid;

const ID: &str = "notification-service";
const JWT_SECRET: &str = "notify-test-jwt-secret";
const APP_TOKEN: &str = "notify-test-app-token";
const HOOK_SECRET: &str = "notify-test-hook-secret";

fn start() -> DateTime<Utc> {
    "2026-03-10T12:00:00Z".parse().unwrap()
}

// ---------------------------------------------------------------------------------------------
// The component, its sidecar and its outbound calls

/// Dapr calls (port 3500) to the sidecar as the calling app; anything else over TCP, as
/// todo-dev does (the host has checked `allowed_outbound_hosts` already).
struct Outbound(OnceLock<Sidecar>);

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

/// notification-service compiled once per test binary with `origin` as its webhook origin.
fn compiled(origin: &'static str) -> (LoadedComponent, HashMap<String, String>) {
    static LOOSE: OnceLock<(LoadedComponent, HashMap<String, String>)> = OnceLock::new();
    static DEFAULT: OnceLock<(LoadedComponent, HashMap<String, String>)> = OnceLock::new();
    let cell = if origin.is_empty() { &DEFAULT } else { &LOOSE };
    cell.get_or_init(|| {
        let manifest = todo_tests::app().manifest();
        let mut resolver = VariableResolver::with_env(manifest, |_| None);
        resolver.set_override("jwt_secret", JWT_SECRET);
        if !origin.is_empty() {
            resolver.set_override("notification_webhook_origin", origin);
        }
        let config = ComponentConfig::from_manifest(manifest, ID, &resolver).unwrap();
        let variables = config.variables.clone();
        (todo_tests::host().load(config).unwrap(), variables)
    })
    .clone()
}

/// The webhook origin the tests allow: the receiver's ephemeral port is not known in advance.
const LOOSE_ORIGIN: &str = "http://127.0.0.1:*";

struct Notify {
    component: LoadedComponent,
    sidecar: Sidecar,
    receiver: Receiver,
}

impl Drop for Notify {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("----- guest output -----\n{}", self.component.logs());
        }
    }
}

/// How to set one up.
struct Setup<'a> {
    app_token: Option<&'a str>,
    webhook: bool,
    /// Keep spin.toml's default `notification_webhook_origin`.
    default_origin: bool,
    /// More variables.
    extra: &'a [(&'a str, &'a str)],
}

impl Default for Setup<'_> {
    fn default() -> Self {
        Setup {
            app_token: Some(APP_TOKEN),
            webhook: true,
            default_origin: false,
            extra: &[],
        }
    }
}

impl Setup<'_> {
    async fn spawn(self) -> Notify {
        let receiver = Receiver::start().await;
        let clock = SharedClock::fixed_at(start());
        let sidecar = Sidecar::new(SidecarConfig {
            clock: clock.sidecar_clock(),
            ..SidecarConfig::default()
        });
        let origin = if self.default_origin {
            ""
        } else {
            LOOSE_ORIGIN
        };
        let (component, mut variables) = compiled(origin);
        variables.insert(
            "app_api_token".into(),
            self.app_token.unwrap_or_default().into(),
        );
        if self.webhook {
            variables.insert("notification_webhook_url".into(), receiver.url());
            variables.insert("notification_webhook_secret".into(), HOOK_SECRET.into());
        }
        for (name, value) in self.extra {
            variables.insert((*name).into(), (*value).into());
        }
        let outbound = Outbound(OnceLock::new());
        assert!(outbound.0.set(sidecar.clone()).is_ok());
        let component = component.with_overrides(Overrides {
            outbound: Some(Arc::new(outbound)),
            variables: Some(variables),
            wall_clock: Some(clock.wall_clock()),
            ..Overrides::default()
        });
        Notify {
            component,
            sidecar,
            receiver,
        }
    }
}

async fn spawn() -> Notify {
    Setup::default().spawn().await
}

impl Notify {
    async fn send(&self, request: http::Request<Bytes>) -> (u16, Value) {
        let response =
            tokio::time::timeout(Duration::from_secs(60), self.component.handle(request))
                .await
                .expect("answered within 60 s")
                .unwrap_or_else(|e| panic!("{e:#}"));
        let status = response.status().as_u16();
        let body = serde_json::from_slice(response.body()).unwrap_or(Value::Null);
        (status, body)
    }

    async fn deliver_with(&self, event: &Value, token: Option<&str>) -> (u16, Value) {
        let mut request = http::Request::post("/notifications/reminders")
            .header("content-type", "application/cloudevents+json");
        if let Some(token) = token {
            request = request.header("dapr-api-token", token);
        }
        self.send(request.body(Bytes::from(event.to_string())).unwrap())
            .await
    }

    /// Deliver as Dapr does; the delivery status.
    async fn deliver(&self, event: &Value) -> String {
        let (status, body) = self.deliver_with(event, Some(APP_TOKEN)).await;
        assert_eq!(status, 200, "{body}");
        body["status"].as_str().unwrap().to_owned()
    }

    /// `GET /notifications/inbox?{query}` as `user` (None: no token).
    async fn inbox_as(&self, user: Option<&str>, query: &str) -> (u16, Value) {
        let request = authorized(
            http::Request::get(format!("/notifications/inbox?{query}")),
            user,
        );
        self.send(request.body(Bytes::new()).unwrap()).await
    }

    /// One inbox page, asserting 200 and the response schema.
    async fn inbox(&self, user: &str, query: &str) -> Value {
        let (status, page) = self.inbox_as(Some(user), query).await;
        assert_eq!(status, 200, "{page}");
        contract_schemas::validate("notification-inbox-response.schema.json", &page)
            .unwrap_or_else(|e| panic!("{e}\n{page}"));
        page
    }

    async fn mark_read(&self, user: Option<&str>, id: &str) -> (u16, Value) {
        let request = authorized(
            http::Request::post(format!("/notifications/inbox/{id}/read")),
            user,
        );
        self.send(request.body(Bytes::new()).unwrap()).await
    }
}

fn authorized(builder: http::request::Builder, user: Option<&str>) -> http::request::Builder {
    match user {
        Some(user) => {
            let token = todo_domain::auth::issue_token(
                JWT_SECRET.as_bytes(),
                user,
                start().timestamp() as u64,
                3600,
            );
            builder.header("authorization", format!("Bearer {token}"))
        }
        None => builder,
    }
}

/// A `reminder.triggered` event as chat-api publishes it and Dapr delivers it; its CloudEvent
/// id derived from the reminder id, as chat-api does.
fn reminder_event(user: &str, task: Uuid, version: u64, remind_at: DateTime<Utc>) -> Value {
    let reminder_id = format!("{task}:{version}");
    let time = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let event = json!({
        "specversion": "1.0",
        "id": event_id(&reminder_id),
        "source": "chat-api", "type": "reminder.triggered", "subject": task,
        "time": time(remind_at), "datacontenttype": "application/json",
        "data": {
            "schema_version": 1, "user_id": user, "task_id": task, "task_title": "Water the plants",
            "due_date": time(remind_at + TimeDelta::minutes(15)), "remind_at": time(remind_at),
            "reminder_id": reminder_id
        },
        "topic": "reminders", "pubsubname": "pubsub"
    });
    contract_schemas::validate("reminder-event.schema.json", &event)
        .unwrap_or_else(|e| panic!("{e}\n{event}"));
    event
}

fn event_for(user: &str) -> (Value, String) {
    let task = Uuid::new_v4();
    let event = reminder_event(user, task, 2, start() - TimeDelta::seconds(1));
    (event, format!("{task}:2"))
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_str().unwrap().to_owned())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Tests

#[tokio::test]
async fn health_answers_without_auth() {
    let n = Setup {
        app_token: None,
        ..Setup::default()
    }
    .spawn()
    .await;
    let (status, body) = n
        .send(
            http::Request::get("/notifications/healthz")
                .body(Bytes::new())
                .unwrap(),
        )
        .await;
    assert_eq!(status, 200);
    contract_schemas::validate("health.schema.json", &body).unwrap();
    assert_eq!(body, json!({"status": "ok", "app_id": ID}));
    let (status, body) = n
        .send(
            http::Request::get("/notifications/other")
                .body(Bytes::new())
                .unwrap(),
        )
        .await;
    assert_eq!(status, 404);
    contract_schemas::validate("error.schema.json", &body).unwrap();
}

#[tokio::test]
async fn a_reminder_reaches_the_inbox_and_the_signed_webhook_once() {
    let n = spawn().await;
    let (event, reminder_id) = event_for("alice");
    assert_eq!(n.deliver(&event).await, "SUCCESS");

    let calls = n.receiver.received();
    assert_eq!(calls.len(), 1);
    let call = &calls[0];
    assert_eq!(call.path, "/hooks/reminders");
    assert_eq!(call.header("content-type"), "application/json");
    assert_eq!(call.header("idempotency-key"), reminder_id);
    assert_eq!(call.header("x-timestamp"), start().timestamp().to_string());
    call.assert_signed(HOOK_SECRET);
    let body = call.json();
    contract_schemas::validate("notification-webhook.schema.json", &body)
        .unwrap_or_else(|e| panic!("{e}\n{body}"));
    assert_eq!(body["reminder_id"], reminder_id.as_str());
    assert_eq!(body["user_id"], "alice");
    assert_eq!(body["task_title"], "Water the plants");
    assert_eq!(body["remind_at"], event["data"]["remind_at"]);
    assert_eq!(body["delivered_at"], "2026-03-10T12:00:00Z");

    let page = n.inbox("alice", "").await;
    assert_eq!(ids(&page), [reminder_id.as_str()]);
    let item = &page["items"][0];
    assert_eq!(item["task_id"], event["data"]["task_id"]);
    assert_eq!(item["read_at"], Value::Null);
    assert_eq!(page["unread_count"], 1);
    assert_eq!(page["next_cursor"], Value::Null);

    // One structured line says what each channel did.
    let logs = n.component.logs();
    let line = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| l["msg"] == "reminder")
        .unwrap_or_else(|| panic!("no reminder line in:\n{logs}"));
    assert_eq!(line["reminder_id"], reminder_id.as_str());
    assert_eq!(line["inbox"], "added");
    assert_eq!(line["webhook"], "204");
}

#[tokio::test]
async fn a_duplicate_delivery_is_acknowledged_and_not_delivered_again() {
    let n = spawn().await;
    let (event, reminder_id) = event_for("alice");
    assert_eq!(n.deliver(&event).await, "SUCCESS");
    assert_eq!(n.deliver(&event).await, "SUCCESS");
    // Another CloudEvent id for the same reminder (a re-publish): still the same reminder.
    let mut republished = event.clone();
    republished["id"] = json!(Uuid::new_v4());
    assert_eq!(n.deliver(&republished).await, "SUCCESS");

    assert_eq!(n.receiver.received().len(), 1);
    assert_eq!(ids(&n.inbox("alice", "").await), [reminder_id]);
}

#[tokio::test]
async fn a_failing_webhook_is_retried_with_one_key_and_one_inbox_entry() {
    let n = spawn().await;
    n.receiver.script(&[500, 503]);
    let (event, reminder_id) = event_for("alice");
    assert_eq!(n.deliver(&event).await, "RETRY");
    assert_eq!(n.deliver(&event).await, "RETRY");
    assert_eq!(n.deliver(&event).await, "SUCCESS");
    assert_eq!(n.deliver(&event).await, "SUCCESS");

    let calls = n.receiver.received();
    assert_eq!(calls.len(), 3, "two failures and one success, then nothing");
    for call in &calls {
        assert_eq!(call.header("idempotency-key"), reminder_id);
        call.assert_signed(HOOK_SECRET);
        assert_eq!(
            call.body, calls[0].body,
            "every attempt sends the same body"
        );
    }
    let page = n.inbox("alice", "").await;
    assert_eq!(ids(&page), [reminder_id]);
}

#[tokio::test]
async fn a_refusing_webhook_drops_the_event_but_the_inbox_keeps_it() {
    let n = spawn().await;
    n.receiver.script(&[422]);
    let (event, reminder_id) = event_for("alice");
    assert_eq!(n.deliver(&event).await, "DROP");
    assert!(
        n.component.logs().contains("reminders-dlq"),
        "{}",
        n.component.logs()
    );
    assert_eq!(ids(&n.inbox("alice", "").await), [reminder_id.as_str()]);
    // Replayed from the dead-letter topic once the receiver is fixed: delivered, still one entry.
    assert_eq!(n.deliver(&event).await, "SUCCESS");
    assert_eq!(n.receiver.received().len(), 2);
    assert_eq!(ids(&n.inbox("alice", "").await), [reminder_id]);
}

#[tokio::test]
async fn an_unreachable_or_disallowed_webhook_means_retry() {
    // Nothing listens on the port any more: no connection.
    let closed = {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap()
    };
    let n = spawn().await;
    let mut variables = compiled(LOOSE_ORIGIN).1;
    variables.insert("app_api_token".into(), APP_TOKEN.into());
    variables.insert(
        "notification_webhook_url".into(),
        format!("http://{closed}/hook"),
    );
    variables.insert("notification_webhook_secret".into(), HOOK_SECRET.into());
    let outbound = Outbound(OnceLock::new());
    assert!(outbound.0.set(n.sidecar.clone()).is_ok());
    let unreachable = n.component.with_overrides(Overrides {
        outbound: Some(Arc::new(outbound)),
        variables: Some(variables),
        ..Overrides::default()
    });
    let (event, _) = event_for("alice");
    let request = http::Request::post("/notifications/reminders")
        .header("dapr-api-token", APP_TOKEN)
        .body(Bytes::from(event.to_string()))
        .unwrap();
    let response = unreachable.handle(request).await.unwrap();
    assert_eq!(response.body().as_ref(), br#"{"status":"RETRY"}"#);

    // spin.toml's default origin does not allow the receiver: the host refuses the call.
    let strict = Setup {
        default_origin: true,
        ..Setup::default()
    }
    .spawn()
    .await;
    assert_eq!(strict.deliver(&event).await, "RETRY");
    assert!(strict.receiver.received().is_empty());
    assert!(
        strict
            .component
            .logs()
            .contains("not in allowed_outbound_hosts"),
        "{}",
        strict.component.logs()
    );
    // The inbox has it all the same.
    assert_eq!(
        strict.inbox("alice", "").await["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn a_webhook_that_does_not_answer_in_time_means_retry() {
    let n = Setup {
        extra: &[("notification_webhook_timeout_ms", "200")],
        ..Setup::default()
    }
    .spawn()
    .await;
    n.receiver.script(&[NO_ANSWER]);
    let (event, reminder_id) = event_for("alice");
    let started = std::time::Instant::now();
    assert_eq!(n.deliver(&event).await, "RETRY");
    // The component's own timeout, not the host's 30 s default.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(
        n.component.logs().contains("timed out"),
        "{}",
        n.component.logs()
    );
    assert_eq!(n.deliver(&event).await, "SUCCESS");
    let calls = n.receiver.received();
    assert_eq!(calls.len(), 2);
    assert!(
        calls
            .iter()
            .all(|c| c.header("idempotency-key") == reminder_id)
    );
    assert_eq!(ids(&n.inbox("alice", "").await), [reminder_id.as_str()]);
}

#[tokio::test]
async fn a_half_configured_webhook_is_retried_with_the_reason_logged() {
    for extra in [
        &[("notification_webhook_secret", "")][..],
        &[("notification_webhook_timeout_ms", "soon")][..],
        &[("notification_webhook_url", "ftp://127.0.0.1/x")][..],
    ] {
        let n = Setup {
            extra,
            ..Setup::default()
        }
        .spawn()
        .await;
        let (event, reminder_id) = event_for("alice");
        assert_eq!(n.deliver(&event).await, "RETRY", "{extra:?}");
        assert!(
            n.component.logs().contains("configuration error"),
            "{}",
            n.component.logs()
        );
        assert!(n.receiver.received().is_empty());
        assert_eq!(ids(&n.inbox("alice", "").await), [reminder_id.as_str()]);
    }
}

#[tokio::test]
async fn without_a_webhook_the_inbox_alone_is_delivered() {
    let n = Setup {
        webhook: false,
        ..Setup::default()
    }
    .spawn()
    .await;
    let (event, reminder_id) = event_for("alice");
    assert_eq!(n.deliver(&event).await, "SUCCESS");
    assert!(n.receiver.received().is_empty());
    assert_eq!(ids(&n.inbox("alice", "").await), [reminder_id]);
}

#[tokio::test]
async fn deliveries_need_the_app_token_and_fail_closed_without_one() {
    let n = spawn().await;
    let (event, _) = event_for("alice");
    for token in [None, Some(""), Some("wrong")] {
        let (status, body) = n.deliver_with(&event, token).await;
        assert_eq!(status, 401, "{token:?}");
        assert_eq!(body["error"]["code"], "unauthorized");
    }
    let unconfigured = Setup {
        app_token: None,
        ..Setup::default()
    }
    .spawn()
    .await;
    for token in [None, Some(""), Some(APP_TOKEN)] {
        let (status, _) = unconfigured.deliver_with(&event, token).await;
        assert_eq!(status, 401, "{token:?}");
    }
    assert!(n.receiver.received().is_empty());
    assert!(unconfigured.receiver.received().is_empty());
    assert_eq!(n.inbox("alice", "").await["items"], json!([]));
}

#[tokio::test]
async fn what_can_never_be_delivered_is_dropped_untouched() {
    let n = spawn().await;
    let (event, _) = event_for("alice");
    let mut unknown_version = event.clone();
    unknown_version["data"]["schema_version"] = json!(2);
    let mut wrong_type = event.clone();
    wrong_type["type"] = json!("task.created");
    let mut bad_reminder_id = event.clone();
    bad_reminder_id["data"]["reminder_id"] = json!("not-a-reminder");
    let mut foreign_reminder_id = event.clone();
    foreign_reminder_id["data"]["reminder_id"] = json!(format!("{}:2", Uuid::new_v4()));
    let mut no_title = event.clone();
    no_title["data"]
        .as_object_mut()
        .unwrap()
        .remove("task_title");
    for bad in [
        unknown_version,
        wrong_type,
        bad_reminder_id,
        foreign_reminder_id,
        no_title,
        json!({"hello": "world"}),
    ] {
        assert_eq!(n.deliver(&bad).await, "DROP", "{bad}");
    }
    assert!(n.receiver.received().is_empty());
    assert_eq!(n.inbox("alice", "").await["items"], json!([]));
}

#[tokio::test]
async fn the_inbox_needs_a_jwt_and_shows_only_the_callers_reminders() {
    let n = spawn().await;
    let (alice, alice_id) = event_for("alice");
    let (bob, bob_id) = event_for("bob");
    assert_eq!(n.deliver(&alice).await, "SUCCESS");
    assert_eq!(n.deliver(&bob).await, "SUCCESS");

    let (status, body) = n.inbox_as(None, "").await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "unauthorized");
    let forged = http::Request::get("/notifications/inbox")
        .header("authorization", "Bearer not.a.jwt")
        .body(Bytes::new())
        .unwrap();
    assert_eq!(n.send(forged).await.0, 401);
    let (status, _) = n.mark_read(None, &alice_id).await;
    assert_eq!(status, 401);

    assert_eq!(ids(&n.inbox("alice", "").await), [alice_id.as_str()]);
    assert_eq!(ids(&n.inbox("bob", "").await), [bob_id.as_str()]);
    assert_eq!(n.inbox("carol", "").await["items"], json!([]));
    // Another user's entry does not exist for the caller.
    let (status, body) = n.mark_read(Some("bob"), &alice_id).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(n.inbox("alice", "").await["unread_count"], 1);
}

#[tokio::test]
async fn pages_are_newest_first_and_follow_the_cursor() {
    let n = spawn().await;
    let task = Uuid::new_v4();
    // Delivered out of order: the inbox orders by remind_at.
    let mut expected = Vec::new();
    for (version, minutes) in [(1, 10), (3, 30), (2, 20), (5, 50), (4, 40)] {
        let event = reminder_event(
            "alice",
            task,
            version,
            start() - TimeDelta::minutes(60 - minutes),
        );
        assert_eq!(n.deliver(&event).await, "SUCCESS");
        expected.push((minutes, format!("{task}:{version}")));
    }
    expected.sort();
    let expected: Vec<String> = expected.into_iter().rev().map(|(_, id)| id).collect();

    let mut seen = Vec::new();
    let mut query = "limit=2".to_owned();
    loop {
        let page = n.inbox("alice", &query).await;
        assert!(page["items"].as_array().unwrap().len() <= 2);
        seen.extend(ids(&page));
        match page["next_cursor"].as_str() {
            Some(cursor) => query = format!("limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, expected);
    assert_eq!(ids(&n.inbox("alice", "limit=100").await), expected);
}

#[tokio::test]
async fn marking_read_is_idempotent() {
    let n = spawn().await;
    let (first, first_id) = event_for("alice");
    let (second, _) = event_for("alice");
    assert_eq!(n.deliver(&first).await, "SUCCESS");
    assert_eq!(n.deliver(&second).await, "SUCCESS");
    assert_eq!(n.inbox("alice", "").await["unread_count"], 2);

    let (status, entry) = n.mark_read(Some("alice"), &first_id).await;
    assert_eq!(status, 200, "{entry}");
    contract_schemas::validate("notification-inbox-entry.schema.json", &entry).unwrap();
    assert_eq!(entry["id"], first_id.as_str());
    assert_eq!(entry["read_at"], "2026-03-10T12:00:00Z");
    let (status, again) = n.mark_read(Some("alice"), &first_id).await;
    assert_eq!(status, 200);
    assert_eq!(again, entry);
    // The `:` percent-encoded names the same entry.
    let (status, encoded) = n
        .mark_read(Some("alice"), &first_id.replace(':', "%3A"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(encoded, entry);

    let page = n.inbox("alice", "").await;
    assert_eq!(page["unread_count"], 1);
    let read: Vec<&Value> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|item| !item["read_at"].is_null())
        .collect();
    assert_eq!(read.len(), 1);
    assert_eq!(read[0]["id"], first_id.as_str());

    let (status, body) = n
        .mark_read(Some("alice"), &format!("{}:1", Uuid::new_v4()))
        .await;
    assert_eq!(status, 404);
    contract_schemas::validate("error.schema.json", &body).unwrap();
    let get = authorized(
        http::Request::get(format!("/notifications/inbox/{first_id}/read")),
        Some("alice"),
    );
    assert_eq!(n.send(get.body(Bytes::new()).unwrap()).await.0, 405);
}

#[tokio::test]
async fn invalid_inbox_parameters_are_400_naming_the_parameter() {
    let n = spawn().await;
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=ten", "limit"),
        ("cursor=nope", "cursor"),
        ("unread=true", "unread"),
        ("limit=1&limit=2", "limit"),
    ] {
        let (status, body) = n.inbox_as(Some("alice"), query).await;
        assert_eq!(status, 400, "{query}: {body}");
        contract_schemas::validate("error.schema.json", &body).unwrap();
        assert_eq!(body["error"]["code"], "validation_failed", "{query}");
        assert_eq!(body["error"]["field"], field, "{query}");
    }
}

// ---------------------------------------------------------------------------------------------
// Through the sidecar: the declarative subscription, and the dead-letter topic

/// The sidecar delivering to the test's notification-service through the `dapr/` resources.
async fn with_subscription(n: &Notify) -> Sidecar {
    let manifest = todo_tests::app().manifest();
    let apps = Arc::new(spin_host::apps::Apps::new(
        manifest,
        vec![n.component.clone()],
    ));
    let sidecar = Sidecar::new(SidecarConfig {
        app_channel: Arc::new(spin_host::apps::AppsChannel::new(
            apps.clone(),
            "localhost:3000",
        )),
        apps: apps.ids(),
        resources_dir: Some(todo_tests::manifest_path().parent().unwrap().join("dapr")),
        app_api_token: Some(APP_TOKEN.into()),
        ..SidecarConfig::default()
    });
    sidecar.start();
    sidecar
}

/// Publish `event` on `reminders` as chat-api does, then wait until every delivery settled.
async fn publish(sidecar: &Sidecar, event: &Value) {
    let request = http::Request::post("/v1.0/publish/pubsub/reminders")
        .header("content-type", "application/cloudevents+json")
        .body(Bytes::from(event.to_string()))
        .unwrap();
    let response = spin_host::send_to_sidecar(sidecar, "chat-api", request).await;
    assert_eq!(response.status(), 204);
    settle(sidecar).await;
}

async fn settle(sidecar: &Sidecar) {
    for _ in 0..400 {
        if sidecar.pending_deliveries() == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("deliveries still pending");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_reminders_arrive_and_refused_ones_are_dead_lettered_and_replayable() {
    let n = spawn().await;
    // The component's own Dapr calls keep going to `n.sidecar` (its state); deliveries come
    // from this one, which routes by `dapr/subscriptions/notification-service.yaml`.
    let broker = with_subscription(&n).await;

    let (event, reminder_id) = event_for("dave");
    publish(&broker, &event).await;
    assert_eq!(ids(&n.inbox("dave", "").await), [reminder_id.as_str()]);
    assert_eq!(n.receiver.received().len(), 1);
    assert!(broker.dead_letters().is_empty());

    n.receiver.script(&[410]);
    let (refused, refused_id) = event_for("dave");
    publish(&broker, &refused).await;
    let dead = broker.dead_letters();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0].topic, "reminders-dlq");
    assert_eq!(dead[0].original_topic, "reminders");
    assert_eq!(dead[0].app_id, ID);
    assert_eq!(dead[0].event["data"]["reminder_id"], refused_id.as_str());
    // The inbox has it even so.
    assert!(ids(&n.inbox("dave", "").await).contains(&refused_id));

    broker.replay_dead_letter(dead[0].id).unwrap();
    settle(&broker).await;
    assert!(broker.dead_letters().is_empty());
    let calls = n.receiver.received();
    assert_eq!(calls.len(), 3);
    assert_eq!(calls[2].header("idempotency-key"), refused_id);
    let page = n.inbox("dave", "").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
}
