//! No lost events: the event is committed with the task and published from the outbox, so a failed
//! publish goes out later with the same id; a failed state write is retried.
use crate::support::TestApp;
use bytes::Bytes;
use serde_json::{Value, json};

/// The outbox of every bucket of `user`, read straight from the state store as chat-api.
async fn outbox_ids(app: &TestApp, user: &str) -> Vec<String> {
    let mut ids = Vec::new();
    for bucket in 0..64u8 {
        let request =
            http::Request::get(format!("/v1.0/state/statestore/tasks:{user}:{bucket:02x}"))
                .body(Bytes::new())
                .unwrap();
        let response = app.sidecar.handle("chat-api", request).await;
        if response.status() == 200 {
            let doc: Value = serde_json::from_slice(response.body()).unwrap();
            contract_schemas::validate("task-bucket.schema.json", &doc)
                .unwrap_or_else(|e| panic!("{e}"));
            ids.extend(
                doc["outbox"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| e["id"].as_str().unwrap().to_owned()),
            );
        }
    }
    ids
}

#[tokio::test]
async fn a_failed_publish_is_retried_later_with_the_same_event_id() {
    let app = TestApp::spawn();
    app.sidecar.faults().fail_next_publishes(1);
    let task = app
        .create("alice", json!({"title": "must not be lost"}))
        .await;
    assert!(
        app.task_events().is_empty(),
        "the broker refused the first publish"
    );
    let pending = outbox_ids(&app, "alice").await;
    assert_eq!(pending.len(), 1, "the event waits in the outbox");

    // The next request that reads the bucket sweeps the outbox.
    let list = app.request("GET", "/api/tasks", Some("alice"), None).await;
    assert_eq!(list.status, 200);
    let events = app.task_events();
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0]["id"], pending[0],
        "published with the id fixed at commit"
    );
    assert_eq!(events[0]["subject"], task["id"]);
    assert!(
        outbox_ids(&app, "alice").await.is_empty(),
        "published events leave the outbox"
    );
    assert!(
        app.logs().contains(&pending[0]),
        "the request log names the event id"
    );
}

#[tokio::test]
async fn events_keep_their_order_when_publishing_fails_for_a_while() {
    let app = TestApp::spawn();
    let task = app.create("alice", json!({"title": "v1"})).await;
    let path = format!("/api/tasks/{}", task["id"].as_str().unwrap());
    app.sidecar.faults().fail_next_publishes(3);
    app.request("PATCH", &path, Some("alice"), Some(json!({"title": "v2"})))
        .await;
    app.request("PATCH", &path, Some("alice"), Some(json!({"title": "v3"})))
        .await;
    app.request("GET", &path, Some("alice"), None).await;
    assert_eq!(
        app.task_events().len(),
        1,
        "only the create went out before the outage"
    );
    app.request("GET", &path, Some("alice"), None).await;
    let titles: Vec<Value> = app
        .task_events()
        .iter()
        .map(|e| e["data"]["task"]["title"].clone())
        .collect();
    assert_eq!(titles, [json!("v1"), json!("v2"), json!("v3")]);
    // Sweeping again publishes nothing twice.
    app.request("GET", "/api/tasks", Some("alice"), None).await;
    assert_eq!(app.task_events().len(), 3);
}

#[tokio::test]
async fn a_failed_state_write_is_retried_and_commits_once() {
    let app = TestApp::spawn();
    app.sidecar.faults().fail_next_state_writes(1);
    let task = app.create("alice", json!({"title": "x"})).await;
    let list = app
        .request("GET", "/api/tasks", Some("alice"), None)
        .await
        .json();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(list["items"][0]["id"], task["id"]);
    assert_eq!(app.task_events().len(), 1);
}

#[tokio::test]
async fn job_triggers_need_the_app_api_token() {
    let app = TestApp::spawn();
    let without = app
        .request("POST", "/job/anything", None, Some(json!({})))
        .await;
    assert_eq!(without.status, 401);
    let with = app
        .request_with(
            "POST",
            "/job/anything",
            None,
            Some(json!({})),
            &[("dapr-api-token", crate::support::APP_TOKEN)],
        )
        .await;
    assert_eq!(
        with.status, 404,
        "an unknown job is done: Dapr must not retry it"
    );
}

/// A sidecar that refuses every connection.
struct Unreachable;

impl spin_host::OutboundHandler for Unreachable {
    fn handle(
        &self,
        _app_id: &str,
        _req: http::Request<Bytes>,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = anyhow::Result<http::Response<Bytes>>> + Send + '_>,
    > {
        Box::pin(async { Err(anyhow::anyhow!("connection refused")) })
    }
}

#[tokio::test]
async fn an_unreachable_sidecar_answers_503_and_says_so() {
    let component = todo_tests::component_with(
        "chat-api",
        std::sync::Arc::new(Unreachable),
        &[("jwt_secret", crate::support::SECRET)],
    );
    let request = http::Request::get("/api/tasks")
        .header(
            "authorization",
            format!("Bearer {}", TestApp::token("alice")),
        )
        .body(Bytes::new())
        .unwrap();
    let response = component.send(request).await;
    assert_eq!(response.status(), 503);
    let body: Value = serde_json::from_slice(response.body()).unwrap();
    contract_schemas::validate("error.schema.json", &body).unwrap();
    assert_eq!(body["error"]["code"], "dependency_unavailable");
}

#[tokio::test]
async fn the_idempotency_record_is_stored_as_published_with_a_ttl() {
    let app = TestApp::spawn();
    app.request_with(
        "POST",
        "/api/tasks",
        Some("alice"),
        Some(json!({"title": "x"})),
        &[("idempotency-key", "k-7")],
    )
    .await;
    let stored = app.sidecar.state_snapshot("statestore");
    let record = stored
        .get("chat-api||idempotency:alice:k-7")
        .expect("record stored under chat-api's prefix");
    let value: Value = serde_json::from_slice(&record.value).unwrap();
    contract_schemas::validate("idempotency-record.schema.json", &value)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(record.expires_at.is_some(), "idempotency records expire");
}

#[tokio::test]
async fn the_sweep_job_publishes_what_no_later_request_came_back_for() {
    let app = TestApp::spawn();
    app.sidecar.faults().fail_next_publishes(1);
    app.create("alice", json!({"title": "nobody asks again"}))
        .await;
    let pending = outbox_ids(&app, "alice").await;
    assert_eq!(pending.len(), 1);
    let registry: Vec<Value> = app
        .sidecar
        .state_snapshot("statestore")
        .iter()
        .filter(|(key, _)| key.starts_with("chat-api||outbox-users:"))
        .map(|(_, item)| serde_json::from_slice(&item.value).unwrap())
        .collect();
    assert_eq!(
        registry.len(),
        1,
        "the writer registered alice in one shard"
    );
    contract_schemas::validate("outbox-registry.schema.json", &registry[0])
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(registry[0]["users"]["alice"].is_string());
    assert_eq!(
        app.sidecar.job_names(),
        vec![("chat-api".to_owned(), "outbox-sweep".to_owned())],
        "registering a user makes sure the sweep job exists, owned by chat-api"
    );

    // Dapr triggers the job with its data; the trigger needs the app token.
    let token = [("dapr-api-token", crate::support::APP_TOKEN)];
    let sweep = app
        .request_with("POST", "/job/outbox-sweep", None, Some(json!({})), &token)
        .await;
    assert_eq!(
        sweep.status,
        200,
        "{}",
        String::from_utf8_lossy(&sweep.body)
    );
    assert_eq!(sweep.json()["events_published"], 1);
    let events = app.task_events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["id"], pending[0]);
    assert!(outbox_ids(&app, "alice").await.is_empty());
    let again = app
        .request_with("POST", "/job/outbox-sweep", None, Some(json!({})), &token)
        .await;
    assert_eq!(
        again.json()["events_published"],
        0,
        "a clean outbox publishes nothing twice"
    );
    assert_eq!(app.task_events().len(), 1);
}
