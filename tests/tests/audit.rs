//! audit-service tested as it ships: the release `.wasm` in wasmtime, its Dapr calls answered by
//! an in-process embedded sidecar, guest and sidecar on one movable clock (a `ManualClock`, shared
//! through spin-host's `SharedClock`), so retention is tested without waiting.
//!
//! Deliveries are POSTed to `/audit/task-events` as Dapr delivers them (the CloudEvent chat-api
//! publishes, with the attributes Dapr adds); the last test runs the whole path: chat-api
//! publishes, the sidecar delivers by the declarative subscription in `dapr/`, the log shows it.
use bytes::Bytes;
use chrono::{DateTime, TimeDelta, Utc};
use dapr_sidecar::{Sidecar, SidecarConfig};
use serde_json::{Value, json};
use spin_host::{OutboundHandler, Overrides, SharedClock};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use todo_domain::{Task, TaskDraft, TaskEventType, task_event};
use uuid::Uuid;

const ID: &str = "audit-service";
const SECRET: &str = "audit-test-secret";
const APP_TOKEN: &str = "audit-test-app-token";

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

/// Now, for every test (the clock stands still unless a test moves it).
fn start() -> DateTime<Utc> {
    t("2026-03-10T12:00:00Z")
}

struct Audit {
    sidecar: Sidecar,
    clock: SharedClock,
    component: todo_tests::TestComponent,
    /// State transactions the sidecar refused (lost optimistic-concurrency races).
    conflicts: Arc<AtomicUsize>,
}

/// The sidecar as the component's outbound, counting refused transactions.
struct Counting {
    sidecar: Sidecar,
    conflicts: Arc<AtomicUsize>,
}

impl OutboundHandler for Counting {
    fn handle(
        &self,
        app_id: &str,
        req: http::Request<Bytes>,
    ) -> Pin<Box<dyn Future<Output = anyhow::Result<http::Response<Bytes>>> + Send + '_>> {
        let app_id = app_id.to_owned();
        Box::pin(async move {
            let transaction = req.uri().path().ends_with("/transaction");
            let response = spin_host::send_to_sidecar(&self.sidecar, &app_id, req).await;
            if transaction && response.status() == 500 {
                self.conflicts.fetch_add(1, Ordering::Relaxed);
            }
            Ok(response)
        })
    }
}

struct Answer {
    status: u16,
    headers: http::HeaderMap,
    body: Bytes,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    /// The delivery status (`SUCCESS`, `RETRY`, `DROP`), asserting Dapr's answer shape.
    fn delivery(&self) -> String {
        assert_eq!(self.status, 200, "{}", String::from_utf8_lossy(&self.body));
        self.json()["status"].as_str().unwrap().to_owned()
    }

    /// The error code and field, asserting the documented error shape.
    fn error(&self) -> (String, Option<String>) {
        let body = self.json();
        contract_schemas::validate("error.schema.json", &body)
            .unwrap_or_else(|e| panic!("{e}\n{body}"));
        let field = body["error"]["field"].as_str().map(str::to_owned);
        (body["error"]["code"].as_str().unwrap().to_owned(), field)
    }
}

/// Variables of audit-service for a test: its spin.toml ones with the test secret and token,
/// and `extra` over them.
fn variables(extra: &[(&str, &str)]) -> HashMap<String, String> {
    let mut variables = todo_tests::app().config(ID).unwrap().variables;
    variables.insert("jwt_secret".into(), SECRET.into());
    variables.insert("app_api_token".into(), APP_TOKEN.into());
    for (name, value) in extra {
        variables.insert((*name).into(), (*value).into());
    }
    variables
}

impl Audit {
    fn spawn() -> Self {
        Self::spawn_with(&[])
    }

    /// audit-service with its own sidecar; both read one fixed clock at [`start`].
    fn spawn_with(extra: &[(&str, &str)]) -> Self {
        let clock = SharedClock::fixed_at(start());
        let sidecar = Sidecar::new(SidecarConfig {
            clock: clock.sidecar_clock(),
            ..SidecarConfig::default()
        });
        let conflicts = Arc::new(AtomicUsize::new(0));
        let outbound = Counting {
            sidecar: sidecar.clone(),
            conflicts: conflicts.clone(),
        };
        let component = todo_tests::component_overrides(
            ID,
            Overrides {
                outbound: Some(Arc::new(outbound)),
                variables: Some(variables(extra)),
                wall_clock: Some(clock.wall_clock()),
                ..Overrides::default()
            },
        );
        Audit {
            sidecar,
            clock,
            component,
            conflicts,
        }
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now_utc()
    }

    async fn send(&self, request: http::Request<Bytes>) -> Answer {
        let (parts, body) = self.component.send(request).await.into_parts();
        Answer {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        }
    }

    /// Deliver `event` as Dapr does, with the app token.
    async fn deliver(&self, event: &Value) -> String {
        self.deliver_with(event, Some(APP_TOKEN)).await.delivery()
    }

    async fn deliver_with(&self, event: &Value, token: Option<&str>) -> Answer {
        let mut request = http::Request::post("/audit/task-events")
            .header("content-type", "application/cloudevents+json");
        if let Some(token) = token {
            request = request.header("dapr-api-token", token);
        }
        self.send(request.body(Bytes::from(event.to_string())).unwrap())
            .await
    }

    /// Deliver until acknowledged, as Dapr redelivers a RETRY.
    async fn deliver_until_done(&self, event: &Value) -> u32 {
        for attempt in 1..=20 {
            match self.deliver(event).await.as_str() {
                "SUCCESS" => return attempt,
                "RETRY" => tokio::time::sleep(Duration::from_millis(5)).await,
                other => panic!("{other} for {event}"),
            }
        }
        panic!("never acknowledged: {event}")
    }

    /// `GET /audit/log?{query}` as `user` (None: no token).
    async fn log(&self, user: Option<&str>, query: &str) -> Answer {
        let mut request = http::Request::get(format!("/audit/log?{query}"));
        if let Some(user) = user {
            let token = todo_domain::auth::issue_token(
                SECRET.as_bytes(),
                user,
                self.now().timestamp() as u64,
                3600,
            );
            request = request.header("authorization", format!("Bearer {token}"));
        }
        self.send(request.body(Bytes::new()).unwrap()).await
    }

    /// One page, asserting 200 and the response schema.
    async fn page(&self, user: &str, query: &str) -> Value {
        let answer = self.log(Some(user), query).await;
        assert_eq!(
            answer.status,
            200,
            "{query}: {}",
            String::from_utf8_lossy(&answer.body)
        );
        let body = answer.json();
        contract_schemas::validate("audit-log-response.schema.json", &body)
            .unwrap_or_else(|e| panic!("{e}\n{body}"));
        body
    }

    /// The event ids of every page of `query`, following `next_cursor`.
    async fn walk(&self, user: &str, query: &str) -> Vec<String> {
        let mut ids = Vec::new();
        let mut next = query.to_owned();
        loop {
            let page = self.page(user, &next).await;
            ids.extend(event_ids(&page));
            let Some(cursor) = page["next_cursor"].as_str() else {
                return ids;
            };
            next = format!("{query}&cursor={cursor}");
        }
    }

    /// The stored documents of audit-service, without the app-id prefix.
    fn documents(&self) -> BTreeMap<String, Value> {
        self.sidecar
            .state_snapshot("statestore")
            .into_iter()
            .filter_map(|(key, item)| {
                let key = key.strip_prefix("audit-service||")?.to_owned();
                Some((key, serde_json::from_slice(&item.value).unwrap()))
            })
            .collect()
    }

    fn logs(&self) -> String {
        self.component.logs()
    }
}

fn event_ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["event_id"].as_str().unwrap().to_owned())
        .collect()
}

/// A task event as chat-api publishes it and Dapr delivers it (`topic`, `pubsubname` added).
fn task_event_at(
    event_id: Uuid,
    kind: TaskEventType,
    user: &str,
    task_id: Uuid,
    time: DateTime<Utc>,
) -> Value {
    let draft = TaskDraft::from_json(&json!({"title": "Pay rent", "priority": "high"})).unwrap();
    let task = Task::create(task_id, user, draft, time);
    let changed: &[&str] = match kind {
        TaskEventType::Deleted => &[],
        TaskEventType::Created => &["id", "user_id", "title", "status", "priority", "time_zone"],
        _ => &["title"],
    };
    let event = task_event(kind, event_id, time, &task, changed);
    let mut envelope = serde_json::to_value(task_api::events::envelope(&event)).unwrap();
    envelope["topic"] = json!("task-events");
    envelope["pubsubname"] = json!("pubsub");
    envelope
}

fn id(n: u128) -> Uuid {
    Uuid::from_u128(0xa0d1_7000_0000_0000_0000_0000_0000_0000 + n)
}

fn ids(ns: impl IntoIterator<Item = u128>) -> Vec<String> {
    ns.into_iter().map(|n| id(n).to_string()).collect()
}

#[tokio::test]
async fn health_names_the_app() {
    let audit = Audit::spawn();
    let answer = audit
        .send(
            http::Request::get("/audit/healthz")
                .body(Bytes::new())
                .unwrap(),
        )
        .await;
    assert_eq!(answer.status, 200);
    let body = answer.json();
    assert_eq!(body, json!({"status": "ok", "app_id": "audit-service"}));
    contract_schemas::validate("health.schema.json", &body).unwrap();
}

#[tokio::test]
async fn an_event_delivered_twice_is_stored_once() {
    let audit = Audit::spawn();
    let time = start() - TimeDelta::minutes(5);
    let event = task_event_at(id(1), TaskEventType::Created, "alice", id(100), time);
    assert_eq!(audit.deliver(&event).await, "SUCCESS");
    assert_eq!(audit.deliver(&event).await, "SUCCESS");
    let page = audit.page("alice", "").await;
    assert_eq!(event_ids(&page), ids([1]));
    let item = &page["items"][0];
    assert_eq!(item["event_type"], "task.created");
    assert_eq!(item["user_id"], "alice");
    assert_eq!(item["task_id"], id(100).to_string());
    assert_eq!(item["time"], "2026-03-10T11:55:00Z");
    assert_eq!(item["recorded_at"], "2026-03-10T12:00:00Z");
    assert_eq!(item["task"]["title"], "Pay rent");
    assert_eq!(item["changed_fields"][2], "title");
    assert_eq!(page["next_cursor"], Value::Null);

    // The documents are the dedupe: no `processed:` record is kept, and a third delivery (as
    // after a crash before Dapr's acknowledgement) finds the entry stored and writes nothing.
    assert!(
        !audit
            .documents()
            .keys()
            .any(|k| k.starts_with("processed:")),
        "no dedupe record: {:?}",
        audit.documents().keys().collect::<Vec<_>>()
    );
    let etags = || {
        audit
            .sidecar
            .state_snapshot("statestore")
            .into_iter()
            .map(|(key, item)| (key, item.etag))
            .collect::<BTreeMap<_, _>>()
    };
    let before = etags();
    assert_eq!(audit.deliver(&event).await, "SUCCESS");
    assert_eq!(before, etags(), "a redelivery writes no document");
    assert_eq!(event_ids(&audit.page("alice", "").await), ids([1]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_deliveries_for_one_user_are_all_stored() {
    let audit = Arc::new(Audit::spawn());
    let time = start() - TimeDelta::minutes(30);
    let events: Vec<Value> = (0..40)
        .map(|n| {
            let at = time + TimeDelta::seconds(n as i64);
            task_event_at(id(n), TaskEventType::Updated, "alice", id(100 + n % 4), at)
        })
        .collect();
    let deliveries: Vec<_> = events
        .iter()
        .cloned()
        .map(|event| {
            let audit = audit.clone();
            tokio::spawn(async move { audit.deliver_until_done(&event).await })
        })
        .collect();
    let mut attempts = Vec::new();
    for delivery in deliveries {
        attempts.push(delivery.await.unwrap());
    }
    let stored = audit.walk("alice", "limit=7").await;
    let conflicts = audit.conflicts.load(Ordering::Relaxed);
    eprintln!(
        "deliveries per event: {attempts:?}; transactions lost to a concurrent one: {conflicts}"
    );
    assert_eq!(stored, ids((0..40).rev()));
    // The month's count for the hour (March 10th, 11:00 = hour 9 × 24 + 11) agrees with its
    // chunks: 40 entries fill five chunks of 8.
    let docs = audit.documents();
    let month = &docs["audit:{alice}:month:2026-03"];
    let counts = month["counts"].as_array().unwrap();
    assert_eq!(
        (counts.len(), &counts[9 * 24 + 11], &month["chunk_size"]),
        (9 * 24 + 12, &json!(40), &json!(8))
    );
    let chunk_len = |n: usize| {
        docs.get(&format!("audit:{{alice}}:log:2026-03-10T11:{n}"))
            .map_or(0, |doc| doc["entries"].as_array().unwrap().len())
    };
    assert_eq!(
        (0..=5).map(chunk_len).collect::<Vec<_>>(),
        [8, 8, 8, 8, 8, 0]
    );
    let task_total: usize = (0..4)
        .map(|n| {
            docs[&format!("audit:{{alice}}:task:{}", id(100 + n))]["entries"]
                .as_array()
                .unwrap()
                .len()
        })
        .sum();
    assert_eq!(task_total, 40);
}

#[tokio::test]
async fn what_can_never_be_stored_is_dropped() {
    let audit = Audit::spawn();
    let good = task_event_at(id(1), TaskEventType::Created, "alice", id(100), start());
    let mut unknown_version = good.clone();
    unknown_version["data"]["schema_version"] = json!(2);
    let mut reminder = good.clone();
    reminder["type"] = json!("reminder.triggered");
    let mut no_task = good.clone();
    no_task["data"].as_object_mut().unwrap().remove("task");
    let mut not_a_uuid = good.clone();
    not_a_uuid["id"] = json!("event-1");
    let not_an_event = json!({"hello": "world"});
    for (what, event) in [
        ("unknown schema_version", unknown_version),
        ("not a task event", reminder),
        ("bad data", no_task),
        ("id not a UUID", not_a_uuid),
        ("not a CloudEvent", not_an_event),
    ] {
        assert_eq!(audit.deliver(&event).await, "DROP", "{what}");
    }
    assert!(
        audit.documents().keys().all(|k| !k.starts_with("audit:")),
        "nothing stored"
    );
    assert_eq!(audit.page("alice", "").await["items"], json!([]));
}

/// Fails every call: the state store is unreachable.
struct Unreachable;

impl OutboundHandler for Unreachable {
    fn handle(
        &self,
        _app_id: &str,
        _req: http::Request<Bytes>,
    ) -> Pin<Box<dyn Future<Output = anyhow::Result<http::Response<Bytes>>> + Send + '_>> {
        Box::pin(async { Err(anyhow::anyhow!("connection refused")) })
    }
}

#[tokio::test]
async fn an_unreachable_state_store_means_retry_and_503() {
    let component = todo_tests::component_overrides(
        ID,
        Overrides {
            outbound: Some(Arc::new(Unreachable)),
            variables: Some(variables(&[])),
            ..Overrides::default()
        },
    );
    let event = task_event_at(id(1), TaskEventType::Created, "alice", id(100), Utc::now());
    let request = http::Request::post("/audit/task-events")
        .header("content-type", "application/cloudevents+json")
        .header("dapr-api-token", APP_TOKEN)
        .body(Bytes::from(event.to_string()))
        .unwrap();
    let response = component.send(request).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.body().as_ref(), br#"{"status":"RETRY"}"#);
    let token = todo_domain::auth::issue_token(
        SECRET.as_bytes(),
        "alice",
        Utc::now().timestamp() as u64,
        60,
    );
    let request = http::Request::get("/audit/log")
        .header("authorization", format!("Bearer {token}"))
        .body(Bytes::new())
        .unwrap();
    assert_eq!(component.send(request).await.status(), 503);
}

#[tokio::test]
async fn deliveries_need_the_app_token() {
    let audit = Audit::spawn();
    let event = task_event_at(id(1), TaskEventType::Created, "alice", id(100), start());
    for token in [None, Some("wrong")] {
        let answer = audit.deliver_with(&event, token).await;
        assert_eq!(answer.status, 401, "{token:?}");
        assert_eq!(answer.error().0, "unauthorized");
    }
    assert!(audit.documents().is_empty(), "nothing read or written");
    assert_eq!(audit.deliver(&event).await, "SUCCESS");

    // No token configured: the kit fails closed, nobody may deliver.
    let closed = Audit::spawn_with(&[("app_api_token", "")]);
    for token in [None, Some(APP_TOKEN)] {
        let answer = closed.deliver_with(&event, token).await;
        assert_eq!(answer.status, 401, "{token:?}");
    }
}

#[tokio::test]
async fn the_log_needs_a_jwt() {
    let audit = Audit::spawn();
    let answer = audit.log(None, "").await;
    assert_eq!(answer.status, 401);
    assert_eq!(answer.error().0, "unauthorized");
    assert_eq!(answer.headers["www-authenticate"], "Bearer");
    let forged = http::Request::get("/audit/log")
        .header("authorization", "Bearer not.a.token")
        .body(Bytes::new())
        .unwrap();
    assert_eq!(audit.send(forged).await.status, 401);
    // Dapr's app token is no user credential.
    let dapr_only = http::Request::get("/audit/log")
        .header("dapr-api-token", APP_TOKEN)
        .body(Bytes::new())
        .unwrap();
    assert_eq!(audit.send(dapr_only).await.status, 401);
    // Only GET.
    let post = http::Request::post("/audit/log")
        .body(Bytes::new())
        .unwrap();
    let answer = audit.send(post).await;
    assert_eq!(answer.status, 405);
    assert_eq!(answer.headers["allow"], "GET");
}

/// One seeded event: (n, type, user, task).
type Seeded = (u128, TaskEventType, &'static str, Uuid);

/// alice's three tasks and bob's one, over three days; event n at `start − (40 − n) hours`.
async fn seed(audit: &Audit) -> Vec<Seeded> {
    use TaskEventType::*;
    let mut seeded = Vec::new();
    for n in 0..40u128 {
        let (user, task) = if n % 10 == 9 {
            ("bob", id(900))
        } else {
            ("alice", id(100 + n % 3))
        };
        let kind = [Created, Updated, Completed, Reopened, Deleted][(n % 5) as usize];
        let time = start() - TimeDelta::hours(40 - n as i64);
        let event = task_event_at(id(n), kind, user, task, time);
        assert_eq!(audit.deliver(&event).await, "SUCCESS");
        seeded.push((n, kind, user, task));
    }
    seeded
}

fn newest_first(selected: impl IntoIterator<Item = u128>) -> Vec<String> {
    let mut selected: Vec<u128> = selected.into_iter().collect();
    selected.sort_unstable_by(|a, b| b.cmp(a));
    ids(selected)
}

#[tokio::test]
async fn each_parameter_filters_the_log() {
    let audit = Audit::spawn();
    let seeded = seed(&audit).await;
    let alice = |keep: &dyn Fn(&Seeded) -> bool| {
        newest_first(
            seeded
                .iter()
                .filter(|e| e.2 == "alice" && keep(e))
                .map(|e| e.0),
        )
    };
    // No parameter: alice's whole log, newest first, in one page (limit 100).
    assert_eq!(event_ids(&audit.page("alice", "").await), alice(&|_| true));
    // user_id: one's own; anyone else's is an empty page.
    assert_eq!(
        event_ids(&audit.page("alice", "user_id=alice").await),
        alice(&|_| true)
    );
    let other = audit.page("alice", "user_id=bob").await;
    assert_eq!(other, json!({"items": [], "next_cursor": null}));
    // task_id: that task's whole history across days, one query.
    let task = id(101);
    let history = audit.page("alice", &format!("task_id={task}")).await;
    assert_eq!(event_ids(&history), alice(&|e| e.3 == task));
    let days: BTreeSet<&str> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| &item["time"].as_str().unwrap()[..10])
        .collect();
    assert_eq!(days.len(), 3, "{days:?}");
    // event_type.
    assert_eq!(
        event_ids(&audit.page("alice", "event_type=task.completed").await),
        alice(&|e| e.1 == TaskEventType::Completed)
    );
    // from ≤ time < to: event n is at start − (40 − n) h; 2026-03-09T00:00Z is n = 4.
    let bounded = audit
        .page(
            "alice",
            "from=2026-03-09T00:00:00Z&to=2026-03-09T06:00:00%2B01:00",
        )
        .await;
    assert_eq!(event_ids(&bounded), alice(&|e| (4..9).contains(&e.0)));
    // Combined.
    assert_eq!(
        event_ids(
            &audit
                .page(
                    "alice",
                    &format!("task_id={task}&event_type=task.updated&from=2026-03-09T00:00:00Z")
                )
                .await
        ),
        alice(&|e| e.3 == task && e.1 == TaskEventType::Updated && e.0 >= 4)
    );
    // limit.
    let two = audit.page("alice", "limit=2").await;
    assert_eq!(event_ids(&two), alice(&|_| true)[..2]);
    assert!(two["next_cursor"].is_string());
    // bob sees his own only.
    assert_eq!(
        event_ids(&audit.page("bob", "").await),
        newest_first(seeded.iter().filter(|e| e.2 == "bob").map(|e| e.0))
    );
}

#[tokio::test]
async fn pages_follow_the_cursor_newest_first_and_stay_stable_under_inserts() {
    let audit = Audit::spawn();
    let seeded = seed(&audit).await;
    let all_alice: Vec<String> =
        newest_first(seeded.iter().filter(|e| e.2 == "alice").map(|e| e.0));
    assert_eq!(audit.walk("alice", "limit=5").await, all_alice);

    // Between pages, a newer event and a late older one arrive.
    let first = audit.page("alice", "limit=5").await;
    let newer = task_event_at(id(50), TaskEventType::Updated, "alice", id(100), start());
    let late_time = start() - TimeDelta::hours(40 - 20) - TimeDelta::minutes(30);
    let late = task_event_at(id(51), TaskEventType::Updated, "alice", id(100), late_time);
    assert_eq!(audit.deliver(&newer).await, "SUCCESS");
    assert_eq!(audit.deliver(&late).await, "SUCCESS");
    let mut rest = Vec::new();
    let mut cursor = first["next_cursor"].as_str().unwrap().to_owned();
    loop {
        let page = audit
            .page("alice", &format!("limit=5&cursor={cursor}"))
            .await;
        rest.extend(event_ids(&page));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
    }
    // Nothing repeated or skipped; the newer event is before the cursor, the late one in place
    // (between event 20 and alice's next older one, 18; 19 is bob's).
    let mut expected: Vec<String> = all_alice[5..].to_vec();
    let at = expected
        .iter()
        .position(|e| *e == id(18).to_string())
        .unwrap();
    expected.insert(at, id(51).to_string());
    assert_eq!(rest, expected);
    assert_eq!(event_ids(&audit.page("alice", "limit=1").await), ids([50]));
    // A cursor is tied to its filters.
    let answer = audit
        .log(
            Some("alice"),
            &format!("event_type=task.created&cursor={cursor}"),
        )
        .await;
    assert_eq!(answer.status, 400);
    assert_eq!(
        answer.error(),
        ("validation_failed".into(), Some("cursor".into()))
    );
}

#[tokio::test]
async fn invalid_parameters_are_400_naming_the_parameter() {
    let audit = Audit::spawn();
    for (query, field) in [
        ("task_id=42", "task_id"),
        ("event_type=task.exploded", "event_type"),
        ("from=yesterday", "from"),
        ("to=2026-03-10", "to"),
        ("from=2026-03-10T00:00:00Z&to=2026-03-09T00:00:00Z", "to"),
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("cursor=bogus", "cursor"),
        ("order=asc", "order"),
    ] {
        let answer = audit.log(Some("alice"), query).await;
        assert_eq!(answer.status, 400, "{query}");
        assert_eq!(
            answer.error(),
            ("validation_failed".into(), Some(field.into())),
            "{query}"
        );
    }
    assert_eq!(audit.page("alice", "limit=1000").await["items"], json!([]));
}

#[tokio::test]
async fn retention_hides_entries_older_than_the_window() {
    let audit = Audit::spawn_with(&[("audit_retention_days", "7")]);
    // Events 10, 8, 6, 2 and 0 days old, all of task 100.
    for (n, days) in [(1, 10), (2, 8), (3, 6), (4, 2), (5, 0)] {
        let time = start() - TimeDelta::days(days);
        let event = task_event_at(id(n), TaskEventType::Updated, "alice", id(100), time);
        assert_eq!(audit.deliver(&event).await, "SUCCESS");
    }
    // Older than 7 days when delivered: acknowledged, not kept.
    assert_eq!(audit.walk("alice", "limit=2").await, ids([5, 4, 3]));
    assert!(
        !audit
            .documents()
            .keys()
            .any(|k| k.contains(":log:2026-02-28") || k.contains(":log:2026-03-02")),
        "{:?}",
        audit.documents().keys()
    );
    // Two days later the 6-day-old event is past the window, in the log and in its task's
    // history, and its hour's chunk has expired from the store (TTL: the hour's end + 7 days).
    audit.clock.advance(Duration::from_secs(2 * 86_400));
    assert_eq!(audit.walk("alice", "").await, ids([5, 4]));
    assert_eq!(
        event_ids(&audit.page("alice", &format!("task_id={}", id(100))).await),
        ids([5, 4])
    );
    assert!(
        !audit
            .documents()
            .contains_key("audit:{alice}:log:2026-03-04T12:0"),
        "{:?}",
        audit.documents().keys()
    );
    // A week after the newest event every entry is gone, with the hour chunks and the task's
    // history that held them; the month document and the index follow a week after March ends.
    audit.clock.advance(Duration::from_secs(6 * 86_400));
    assert_eq!(audit.page("alice", "").await["items"], json!([]));
    let left: Vec<String> = audit
        .documents()
        .into_keys()
        .filter(|k| k.starts_with("audit:"))
        .collect();
    assert_eq!(left, ["audit:{alice}:index", "audit:{alice}:month:2026-03"]);
    audit.clock.advance(Duration::from_secs(21 * 86_400));
    assert_eq!(audit.page("alice", "").await["items"], json!([]));
    assert!(
        audit.documents().keys().all(|k| !k.starts_with("audit:")),
        "{:?}",
        audit.documents().keys()
    );
}

#[tokio::test]
async fn a_bad_retention_setting_is_a_500_and_deliveries_wait() {
    let audit = Audit::spawn_with(&[("audit_retention_days", "a week")]);
    let event = task_event_at(id(1), TaskEventType::Created, "alice", id(100), start());
    assert_eq!(audit.deliver(&event).await, "RETRY");
    let answer = audit.log(Some("alice"), "").await;
    assert_eq!(answer.status, 500);
    assert!(
        audit.logs().contains("audit_retention_days"),
        "{}",
        audit.logs()
    );
}

/// Hands a component's outbound calls to a sidecar made after the components.
#[derive(Default)]
struct LateSidecar(OnceLock<Sidecar>);

impl OutboundHandler for LateSidecar {
    fn handle(
        &self,
        app_id: &str,
        req: http::Request<Bytes>,
    ) -> Pin<Box<dyn Future<Output = anyhow::Result<http::Response<Bytes>>> + Send + '_>> {
        let app_id = app_id.to_owned();
        Box::pin(async move {
            let sidecar = self.0.get().expect("sidecar set");
            Ok(spin_host::send_to_sidecar(sidecar, &app_id, req).await)
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_api_changes_reach_the_audit_log_through_the_subscription() {
    let outbound = Arc::new(LateSidecar::default());
    let load = |id: &str| {
        let mut variables = todo_tests::app().config(id).unwrap().variables;
        variables.insert("jwt_secret".into(), SECRET.into());
        variables.insert("app_api_token".into(), APP_TOKEN.into());
        todo_tests::component_overrides(
            id,
            Overrides {
                outbound: Some(outbound.clone()),
                variables: Some(variables),
                ..Overrides::default()
            },
        )
    };
    let chat = load("chat-api");
    let audit = load(ID);
    let manifest = todo_tests::app().manifest();
    let apps = Arc::new(spin_host::apps::Apps::new(
        manifest,
        vec![chat.component().clone(), audit.component().clone()],
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
    assert!(outbound.0.set(sidecar.clone()).is_ok());
    sidecar.start();

    let token = todo_domain::auth::issue_token(
        SECRET.as_bytes(),
        "carol",
        Utc::now().timestamp() as u64,
        3600,
    );
    let create = http::Request::post("/api/tasks")
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(Bytes::from_static(br#"{"title":"Audit me"}"#))
        .unwrap();
    let created = chat.send(create).await;
    assert_eq!(created.status(), 201);
    let task: Value = serde_json::from_slice(created.body()).unwrap();
    let complete = http::Request::post(format!(
        "/api/tasks/{}/complete",
        task["id"].as_str().unwrap()
    ))
    .header("authorization", format!("Bearer {token}"))
    .body(Bytes::new())
    .unwrap();
    assert_eq!(chat.send(complete).await.status(), 200);

    let mut page = Value::Null;
    for _ in 0..200 {
        let request = http::Request::get(format!(
            "/audit/log?task_id={}",
            task["id"].as_str().unwrap()
        ))
        .header("authorization", format!("Bearer {token}"))
        .body(Bytes::new())
        .unwrap();
        let response = audit.send(request).await;
        assert_eq!(response.status(), 200);
        page = serde_json::from_slice(response.body()).unwrap();
        if page["items"].as_array().unwrap().len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let types: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        ["task.completed", "task.created"],
        "{page}\n{}",
        audit.logs()
    );
    contract_schemas::validate("audit-log-response.schema.json", &page).unwrap();
    let published: Vec<String> = sidecar
        .published()
        .into_iter()
        .filter_map(|m| m.event.map(|e| e["id"].as_str().unwrap().to_owned()))
        .collect();
    let mut logged = event_ids(&page);
    logged.reverse();
    assert_eq!(logged, published, "the log keeps chat-api's event ids");
    assert!(sidecar.dead_letters().is_empty());
}
