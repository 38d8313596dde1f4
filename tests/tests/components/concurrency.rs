//! Concurrent writers: optimistic concurrency must lose no update and publish one event per
//! effective change.
use crate::support::TestApp;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_updates_lose_nothing_and_publish_one_event_each() {
    let app = Arc::new(TestApp::spawn());
    let task = app.create("alice", json!({"title": "start"})).await;
    let path = format!("/api/tasks/{}", task["id"].as_str().unwrap());
    let writers: Vec<_> = (0..50)
        .map(|n| {
            let (app, path) = (app.clone(), path.clone());
            tokio::spawn(async move {
                app.request(
                    "PATCH",
                    &path,
                    Some("alice"),
                    Some(json!({"title": format!("writer {n}")})),
                )
                .await
            })
        })
        .collect();
    let mut versions = BTreeSet::new();
    let mut acknowledged = std::collections::BTreeMap::new();
    let mut last_write = (0, Value::Null);
    let mut gave_up = BTreeSet::new();
    for (n, writer) in writers.into_iter().enumerate() {
        let response = writer.await.unwrap();
        match response.status {
            200 => {
                let body = response.json();
                let version = body["version"].as_u64().unwrap();
                assert!(versions.insert(version), "two writes got one version");
                assert_eq!(
                    body["title"],
                    format!("writer {n}"),
                    "a writer got another's answer"
                );
                acknowledged.insert(version, body["title"].clone());
                if version > last_write.0 {
                    last_write = (version, body["title"].clone());
                }
            }
            409 => {
                gave_up.insert(format!("writer {n}"));
            }
            other => panic!(
                "unexpected {other}: {}",
                String::from_utf8_lossy(&response.body)
            ),
        }
    }
    let final_task = app.request("GET", &path, Some("alice"), None).await.json();
    let final_version = final_task["version"].as_u64().unwrap();
    // Every acknowledged write is one version: 2, 3, … with none lost and none invented.
    assert_eq!(
        versions,
        (2..=final_version).collect::<BTreeSet<_>>(),
        "{} gave up with 409",
        gave_up.len()
    );
    assert_eq!(
        final_task["title"], last_write.1,
        "the last acknowledged write is what is stored"
    );
    let updates: Vec<Value> = app
        .task_events()
        .into_iter()
        .filter(|e| e["type"] == "task.updated")
        .collect();
    // At least once: a message may repeat, but only as the same event (same id, same content).
    let mut by_id = std::collections::BTreeMap::new();
    for event in &updates {
        let first = by_id
            .entry(event["id"].as_str().unwrap().to_owned())
            .or_insert_with(|| event.clone());
        assert_eq!(first, event, "a repeated event id carries the same event");
    }
    let event_versions: BTreeSet<u64> = by_id
        .values()
        .map(|e| e["data"]["task"]["version"].as_u64().unwrap())
        .collect();
    assert_eq!(
        by_id.len(),
        versions.len(),
        "one event per effective change"
    );
    assert_eq!(event_versions, versions);
    // Each event carries exactly the write that was acknowledged with its version, and a writer
    // that was told 409 left no trace.
    for event in by_id.values() {
        let version = event["data"]["task"]["version"].as_u64().unwrap();
        assert_eq!(event["data"]["task"]["title"], acknowledged[&version]);
        let title = event["data"]["task"]["title"].as_str().unwrap();
        assert!(
            !gave_up.contains(title),
            "{title} answered 409 but was applied"
        );
    }
    // Writers publish only their own event; repeats come from cleanups that lost every race.
    assert!(
        updates.len() < 2 * versions.len(),
        "{} messages for {} changes",
        updates.len(),
        versions.len()
    );
    // How many writers exhaust their retries depends on scheduling (a 409 tells the client, and
    // nothing is lost); some must get through.
    assert!(!versions.is_empty(), "every writer gave up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_retries_of_one_create_make_one_task() {
    let app = Arc::new(TestApp::spawn());
    let attempts: Vec<_> = (0..10)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move {
                app.request_with(
                    "POST",
                    "/api/tasks",
                    Some("alice"),
                    Some(json!({"title": "once"})),
                    &[("idempotency-key", "k1")],
                )
                .await
            })
        })
        .collect();
    let mut bodies = BTreeSet::new();
    for attempt in attempts {
        let response = attempt.await.unwrap();
        assert_eq!(
            response.status,
            201,
            "{}",
            String::from_utf8_lossy(&response.body)
        );
        bodies.insert(response.json().to_string());
    }
    assert_eq!(bodies.len(), 1, "every retry answers with the same task");
    let list = app
        .request("GET", "/api/tasks", Some("alice"), None)
        .await
        .json();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(app.task_events().len(), 1);
}
