//! chat-api, recurring-task-service and audit-service together on the in-process stack: the audit
//! trail holds exactly one entry per effective change, from every entry point.
use crate::stack::{AUDIT, CHAT_API, Call, RECURRING, Stack, recurring};
use serde_json::{Value, json};
use spin_host::SharedClock;
use std::collections::{BTreeMap, BTreeSet};

const USERS: [&str; 3] = ["alice", "bob", "carol"];

/// A fixed-seed linear congruential generator: the same "random" mix on every run.
struct Mix(u64);

impl Mix {
    fn next(&mut self, below: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) % below as u64) as usize
    }
}

fn stack() -> Stack {
    Stack::start_with(
        SharedClock::fixed_at("2026-03-01T08:00:00Z".parse().unwrap()),
        &[CHAT_API, RECURRING, AUDIT],
    )
}

/// Every task event the sidecar accepted for publishing: event id → the user it belongs to.
fn published(s: &Stack) -> BTreeMap<String, String> {
    s.sidecar
        .published()
        .into_iter()
        .filter(|m| m.topic == "task-events")
        .filter_map(|m| m.event)
        .map(|e| {
            let user = e["data"]["user_id"].as_str().unwrap().to_owned();
            (e["id"].as_str().unwrap().to_owned(), user)
        })
        .collect()
}

fn delivered(calls: &[Call], app: &str, id: &str) -> bool {
    calls.iter().any(|c| {
        c.app_id == app && c.event_id.as_deref() == Some(id) && c.delivery_status() == "SUCCESS"
    })
}

/// Wait until every published event reached audit-service and every completion was handled by
/// recurring-task-service, and handling them published nothing new.
async fn settle(s: &Stack) -> BTreeMap<String, String> {
    loop {
        let events = published(s);
        let completions: Vec<String> = s
            .sidecar
            .published()
            .into_iter()
            .filter_map(|m| m.event)
            .filter(|e| e["type"] == "task.completed")
            .map(|e| e["id"].as_str().unwrap().to_owned())
            .collect();
        s.wait_for(
            "every event audited and every completion handled",
            |calls| {
                events.keys().all(|id| delivered(calls, AUDIT, id))
                    && completions.iter().all(|id| delivered(calls, RECURRING, id))
            },
        )
        .await;
        if published(s).len() == events.len() {
            return events;
        }
    }
}

/// Every audit entry of `user`, following the cursor: event ids in the order served.
async fn audit_log(s: &Stack, user: &str, filter: &str) -> Vec<Value> {
    let mut entries = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/audit/log?limit=1000{filter}&cursor={c}"),
            None => format!("/audit/log?limit=1000{filter}"),
        };
        let (status, page) = s.call_as(user, "GET", &path, None).await;
        assert_eq!(status, 200, "{page}");
        entries.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return entries,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_random_mix_of_1000_operations_is_audited_once_per_effective_change() {
    let s = stack();
    let mut mix = Mix(2026);
    // (user, task id) → the version we last saw; deleted tasks leave the map.
    let mut known: Vec<(String, String, u64)> = Vec::new();
    let mut effective = 0usize;
    for n in 0..1000 {
        let user = USERS[mix.next(USERS.len())];
        let op = if known.is_empty() { 0 } else { mix.next(10) };
        if op <= 2 {
            let body = if mix.next(2) == 0 {
                recurring(
                    &format!("series {n}"),
                    "2026-03-02T09:00:00Z",
                    "daily",
                    json!({}),
                )
            } else {
                json!({"title": format!("task {n}"), "tags": ["mix"]})
            };
            let (status, task) = s.call_as(user, "POST", "/api/tasks", Some(&body)).await;
            assert_eq!(status, 201, "{task}");
            effective += 1;
            let id = task["id"].as_str().unwrap().to_owned();
            known.push((user.to_owned(), id, 1));
            continue;
        }
        let index = mix.next(known.len());
        let (owner, id, version) = known[index].clone();
        let path = format!("/api/tasks/{id}");
        let (method, path, body) = match op {
            3 => (
                "PATCH",
                path,
                Some(json!({"title": format!("renamed {n}")})),
            ),
            4 => ("PATCH", path, Some(json!({"priority": "medium"}))), // often no change
            5 => (
                "PUT",
                path,
                Some(json!({"title": format!("replaced {n}"), "priority": "high"})),
            ),
            6 | 9 => ("POST", format!("{path}/complete"), None),
            7 => ("POST", format!("{path}/reopen"), None),
            _ => ("DELETE", path, None),
        };
        let (status, answer) = s.call_as(&owner, method, &path, body.as_ref()).await;
        match status {
            204 => {
                effective += 1;
                known.remove(index);
            }
            200 => {
                let now = answer["version"].as_u64().unwrap();
                assert!(now >= version, "{answer}");
                if now > version {
                    effective += 1;
                }
                known[index].2 = now;
            }
            other => panic!("{method} {path}: {other} {answer}"),
        }
    }
    let events = settle(&s).await;
    // Occurrences recurring-task-service created through chat-api's internal route.
    let mut successors = 0;
    for user in USERS {
        let (_, page) = s
            .call_as(user, "GET", "/api/tasks?limit=500&is_recurring=true", None)
            .await;
        successors += page["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| !t["predecessor_id"].is_null())
            .count();
    }
    assert!(successors > 0, "the mix completed no recurring task");
    assert_eq!(
        events.len(),
        effective + successors,
        "one event per effective change"
    );
    let mut audited = 0;
    for user in USERS {
        let entries = audit_log(&s, user, "").await;
        let ids: Vec<&str> = entries
            .iter()
            .map(|e| e["event_id"].as_str().unwrap())
            .collect();
        let unique: BTreeSet<&str> = ids.iter().copied().collect();
        assert_eq!(unique.len(), ids.len(), "{user}: an event id appears twice");
        let expected: BTreeSet<&str> = events
            .iter()
            .filter(|(_, owner)| owner.as_str() == user)
            .map(|(id, _)| id.as_str())
            .collect();
        assert_eq!(
            unique, expected,
            "{user}: the audit log is their task events"
        );
        assert!(
            entries.iter().all(|e| e["user_id"] == user),
            "{user} sees another user's entry"
        );
        audited += ids.len();
    }
    assert_eq!(audited, effective + successors);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_history_of_a_task_and_its_next_occurrence_lists_their_events_in_order() {
    let s = stack();
    let body = recurring(
        "Water plants",
        "2026-03-02T09:00:00Z",
        "every 3 days",
        json!({}),
    );
    let (_, task) = s.call_as("alice", "POST", "/api/tasks", Some(&body)).await;
    let id = task["id"].as_str().unwrap();
    // Each change a minute after the last: "newest first" is then a fact, not a tie.
    let minute = std::time::Duration::from_secs(60);
    s.clock.advance(minute);
    let (status, _) = s
        .call_as(
            "alice",
            "PATCH",
            &format!("/api/tasks/{id}"),
            Some(&json!({"priority": "high"})),
        )
        .await;
    assert_eq!(status, 200);
    s.clock.advance(minute);
    s.complete("alice", &task).await;
    settle(&s).await;
    let tasks = s.list("alice").await;
    let next = tasks
        .iter()
        .find(|t| t["predecessor_id"] == task["id"])
        .expect("the next occurrence");
    let history = |entries: Vec<Value>| -> Vec<String> {
        entries
            .iter()
            .map(|e| e["event_type"].as_str().unwrap().to_owned())
            .collect()
    };
    let first = audit_log(&s, "alice", &format!("&task_id={id}")).await;
    assert_eq!(
        history(first.clone()),
        ["task.completed", "task.updated", "task.created"],
        "newest first"
    );
    let versions: Vec<u64> = first
        .iter()
        .map(|e| e["task"]["version"].as_u64().unwrap())
        .collect();
    assert_eq!(versions, [3, 2, 1]);
    let next_id = next["id"].as_str().unwrap();
    let second = audit_log(&s, "alice", &format!("&task_id={next_id}")).await;
    assert_eq!(history(second.clone()), ["task.created"]);
    assert_eq!(second[0]["task"]["predecessor_id"], task["id"]);
    // Another user asking for the same task sees nothing.
    let theirs = audit_log(&s, "bob", &format!("&task_id={id}")).await;
    assert!(theirs.is_empty());
}
