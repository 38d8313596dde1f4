//! chat-api's internal `POST /api/internal/occurrences`: the recurring service's way to create
//! the next occurrence of a series, exactly once per occurrence.
use crate::support::{APP_TOKEN, TestApp};
use serde_json::{Value, json};
use std::sync::Arc;
use todo_domain::series::successor_id;
use uuid::Uuid;

const PATH: &str = "/api/internal/occurrences";

fn request(series: Uuid, predecessor_index: u32) -> Value {
    json!({
        "user_id": "alice",
        "series_id": series,
        "series_start": "2026-01-31T09:00:00Z",
        "predecessor_id": series,
        "predecessor_occurrence_index": predecessor_index,
        "occurrence_index": predecessor_index + 1,
        "task": {"title": "Pay rent", "due_date": "2026-02-28T09:00:00Z",
                 "time_zone": "Europe/Berlin", "recurrence_rule": "monthly",
                 "reminder_offset_minutes": 60}
    })
}

async fn post(app: &TestApp, body: Value, token: Option<&str>) -> crate::support::TestResponse {
    let headers: Vec<(&str, &str)> = token.map(|t| ("dapr-api-token", t)).into_iter().collect();
    app.request_with("POST", PATH, None, Some(body), &headers)
        .await
}

#[tokio::test]
async fn an_occurrence_is_created_once_with_its_place_in_the_series() {
    let app = TestApp::spawn();
    let series = Uuid::new_v4();
    let first = post(&app, request(series, 0), Some(APP_TOKEN)).await;
    assert_eq!(
        first.status,
        201,
        "{}",
        String::from_utf8_lossy(&first.body)
    );
    let task = first.json();
    contract_schemas::validate("task.schema.json", &task).unwrap();
    assert_eq!(task["id"], successor_id(series, 0).to_string());
    assert_eq!(task["user_id"], "alice");
    assert_eq!(task["series_id"], series.to_string());
    assert_eq!(task["series_start"], "2026-01-31T09:00:00Z");
    assert_eq!(task["occurrence_index"], 1);
    assert_eq!(task["predecessor_id"], series.to_string());
    assert_eq!(task["due_date"], "2026-02-28T09:00:00Z");
    assert_eq!(task["remind_at"], "2026-02-28T08:00:00Z");
    // Delivered again: the same task, nothing new written or published.
    let again = post(&app, request(series, 0), Some(APP_TOKEN)).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.json(), task);
    let created: Vec<Value> = app
        .task_events()
        .into_iter()
        .filter(|e| e["type"] == "task.created")
        .collect();
    assert_eq!(created.len(), 1);
    assert_eq!(created[0]["data"]["task"], task);
    // The owner sees it like any task.
    let listed = app.request("GET", "/api/tasks", Some("alice"), None).await;
    assert_eq!(listed.json()["items"][0]["id"], task["id"]);
    // The next occurrence of the same series is another task.
    let next = post(&app, request(series, 1), Some(APP_TOKEN)).await;
    assert_eq!(next.status, 201);
    assert_eq!(next.json()["id"], successor_id(series, 1).to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_for_one_occurrence_make_one_task() {
    let app = Arc::new(TestApp::spawn());
    let series = Uuid::new_v4();
    let calls: Vec<_> = (0..8)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move { post(&app, request(series, 4), Some(APP_TOKEN)).await })
        })
        .collect();
    let mut statuses = Vec::new();
    for call in calls {
        let response = call.await.unwrap();
        assert_eq!(response.json()["id"], successor_id(series, 4).to_string());
        statuses.push(response.status);
    }
    statuses.sort();
    assert_eq!(statuses, [200, 200, 200, 200, 200, 200, 200, 201]);
    let listed = app.request("GET", "/api/tasks", Some("alice"), None).await;
    assert_eq!(listed.json()["items"].as_array().unwrap().len(), 1);
    let created = app
        .task_events()
        .into_iter()
        .filter(|e| e["type"] == "task.created")
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect::<std::collections::BTreeSet<_>>();
    assert_eq!(created.len(), 1, "one task.created event id");
}

#[tokio::test]
async fn only_dapr_with_the_app_token_may_call_it() {
    let app = TestApp::spawn();
    let series = Uuid::new_v4();
    for token in [None, Some("wrong")] {
        let response = post(&app, request(series, 0), token).await;
        assert_eq!(response.status, 401, "token {token:?}");
        assert_eq!(response.error_code(), "unauthorized");
    }
    // A user's JWT is not a way in either.
    let with_jwt = app
        .request("POST", PATH, Some("alice"), Some(request(series, 0)))
        .await;
    assert_eq!(with_jwt.status, 401);
    assert!(app.task_events().is_empty());
    let get = app
        .request_with("GET", PATH, None, None, &[("dapr-api-token", APP_TOKEN)])
        .await;
    assert_eq!(get.status, 405);
}

/// Routes only Dapr calls fail closed: with no `app_api_token` configured (as under `spin up`
/// without the variable) they refuse everyone, even a caller that sends an empty token.
#[tokio::test]
async fn with_no_app_token_configured_dapr_only_routes_are_closed() {
    let sidecar = dapr_sidecar::Sidecar::new(dapr_sidecar::SidecarConfig::default());
    let component = todo_tests::component_with(
        "chat-api",
        Arc::new(todo_tests::SidecarOutbound(sidecar.clone())),
        &[("app_api_token", "")],
    );
    for (path, body) in [
        (PATH, request(Uuid::new_v4(), 0)),
        ("/job/outbox-sweep", json!({})),
    ] {
        for token in [None, Some("")] {
            let mut builder = http::Request::post(format!("http://localhost:3000{path}"))
                .header("content-type", "application/json");
            if let Some(token) = token {
                builder = builder.header("dapr-api-token", token);
            }
            let request = builder
                .body(bytes::Bytes::from(serde_json::to_vec(&body).unwrap()))
                .unwrap();
            let response = component.send(request).await;
            assert_eq!(response.status(), 401, "{path} with token {token:?}");
        }
    }
    assert!(sidecar.published().is_empty());
    assert!(sidecar.state_snapshot("statestore").is_empty());
}

#[tokio::test]
async fn a_request_it_cannot_accept_names_the_field() {
    let app = TestApp::spawn();
    let mut bad_task = request(Uuid::new_v4(), 0);
    bad_task["task"]["title"] = json!("   ");
    let response = post(&app, bad_task, Some(APP_TOKEN)).await;
    assert_eq!(response.status, 400);
    assert_eq!(response.error_code(), "validation_failed");
    assert_eq!(response.error_field().as_deref(), Some("task.title"));
    let mut unknown = request(Uuid::new_v4(), 0);
    unknown["colour"] = json!("red");
    let response = post(&app, unknown, Some(APP_TOKEN)).await;
    assert_eq!(response.status, 400);
    assert_eq!(response.error_code(), "validation_failed");
    let mut blank_user = request(Uuid::new_v4(), 0);
    blank_user["user_id"] = json!(" ");
    let response = post(&app, blank_user, Some(APP_TOKEN)).await;
    assert_eq!(response.error_field().as_deref(), Some("user_id"));
    assert!(app.task_events().is_empty());
}
