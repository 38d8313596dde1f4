//! chat-api and recurring-task-service together on the in-process stack (`stack.rs`), on a fixed
//! clock: complete a recurring task, and exactly one next occurrence appears in `GET /api/tasks`
//! — however often, however concurrently the event arrives, after a failure, after a crash
//! between creating and acknowledging, after complete → reopen → complete. Every wait is on the
//! event itself (the sidecar's recorded calls), bounded only against a hang.
use crate::stack::{APP_TOKEN, RECURRING, Stack, recurring};
use bytes::Bytes;
use serde_json::{Value, json};
use spin_host::SharedClock;
use std::sync::Arc;
use std::time::Duration;

const USER: &str = "alice";

fn stack_at(now: &str) -> Stack {
    Stack::start(SharedClock::fixed_at(now.parse().unwrap()))
}

fn ids(tasks: &[Value]) -> Vec<&str> {
    tasks.iter().map(|t| t["id"].as_str().unwrap()).collect()
}

fn hours(n: u64) -> Duration {
    Duration::from_secs(n * 3600)
}

/// Complete `task` and wait until recurring-task-service has handled the event: the snapshot,
/// the event id, and the user's tasks afterwards (earliest due first).
async fn complete_and_settle(s: &Stack, task: &Value) -> (Value, String, Vec<Value>) {
    let (done, event) = s.complete(USER, task).await;
    s.handled(&event).await;
    let tasks = s.list(USER).await;
    (done, event, tasks)
}

/// The task of `tasks` that follows `predecessor`.
fn successor_of<'a>(tasks: &'a [Value], predecessor: &Value) -> &'a Value {
    let mut found = tasks
        .iter()
        .filter(|t| t["predecessor_id"] == predecessor["id"]);
    let successor = found
        .next()
        .unwrap_or_else(|| panic!("no successor in {tasks:#?}"));
    assert!(found.next().is_none(), "two successors in {tasks:#?}");
    successor
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completing_a_recurring_task_creates_exactly_one_next_occurrence() {
    let s = stack_at("2026-01-30T12:00:00Z");
    let task = s
        .create(
            USER,
            recurring(
                "Stretch",
                "2026-01-31T09:00:00Z",
                "daily",
                json!({"reminder_offset_minutes": 15, "tags": ["Health"],
                                       "priority": "high"}),
            ),
        )
        .await;
    let (_, event, tasks) = complete_and_settle(&s, &task).await;
    assert_eq!(tasks.len(), 2, "{tasks:#?}");
    let next = successor_of(&tasks, &task);
    contract_schemas::validate("task.schema.json", next).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(next["status"], "pending");
    assert_eq!(next["title"], "Stretch");
    assert_eq!(next["priority"], "high");
    assert_eq!(next["tags"], json!(["health"]));
    assert_eq!(next["due_date"], "2026-02-01T09:00:00Z");
    assert_eq!(next["remind_at"], "2026-02-01T08:45:00Z");
    assert_eq!(next["series_id"], task["id"]);
    assert_eq!(next["series_start"], "2026-01-31T09:00:00Z");
    assert_eq!(next["occurrence_index"], 1);
    let series = task["id"].as_str().unwrap().parse().unwrap();
    let expected_id = todo_domain::series::successor_id(series, 0).to_string();
    assert_eq!(next["id"], expected_id.as_str());
    assert_eq!(s.occurrence_answers(), [201]);
    assert_eq!(
        s.deliveries_of(&event)
            .iter()
            .map(|c| c.delivery_status().to_owned())
            .collect::<Vec<_>>(),
        ["SUCCESS"]
    );
    // The successor's own task.created reaches the service's default route and is acknowledged.
    let created = s
        .sidecar
        .published()
        .into_iter()
        .filter_map(|m| m.event)
        .find(|e| e["type"] == "task.created" && e["subject"] == next["id"])
        .expect("chat-api published the successor's task.created");
    let created = created["id"].as_str().unwrap().to_owned();
    s.wait_for("the successor's task.created acknowledged", |calls| {
        calls.iter().any(|c| {
            c.app_id == RECURRING
                && c.path == "/recurring/ignored"
                && c.event_id.as_deref() == Some(created.as_str())
                && c.delivery_status() == "SUCCESS"
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_event_delivered_three_times_creates_one_occurrence() {
    let s = stack_at("2026-01-30T12:00:00Z");
    let task = s
        .create(
            USER,
            recurring("x", "2026-01-31T09:00:00Z", "weekly", json!({})),
        )
        .await;
    let (_, event, _) = complete_and_settle(&s, &task).await;
    let envelope = s.published_event(&event);
    s.publish(&envelope).await;
    s.publish(&envelope).await;
    s.wait_for("three deliveries", |_| s.deliveries_of(&event).len() == 3)
        .await;
    assert!(
        s.deliveries_of(&event)
            .iter()
            .all(|c| c.delivery_status() == "SUCCESS")
    );
    assert_eq!(s.list(USER).await.len(), 2);
    assert_eq!(
        s.occurrence_answers(),
        [201],
        "duplicates never reach chat-api"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_deliveries_create_one_occurrence() {
    let s = Arc::new(stack_at("2026-01-30T12:00:00Z"));
    let task = s
        .create(
            USER,
            recurring("x", "2026-01-31T09:00:00Z", "daily", json!({})),
        )
        .await;
    let (_, event) = s.complete(USER, &task).await;
    // While the sidecar delivers the event, three more copies arrive at once under another id
    // (as after a lost dedupe record): none of them has been seen, all of them ask chat-api.
    let mut copy = s.published_event(&event);
    copy["id"] = "concurrent-copy".into();
    let copies: Vec<_> = (0..3)
        .map(|_| {
            let (s, copy) = (s.clone(), copy.clone());
            tokio::spawn(async move { s.deliver_directly(&copy).await })
        })
        .collect();
    for copy in copies {
        assert_eq!(copy.await.unwrap(), "SUCCESS");
    }
    s.handled(&event).await;
    let tasks = s.list(USER).await;
    assert_eq!(tasks.len(), 2, "{tasks:#?}");
    successor_of(&tasks, &task);
    let answers = s.occurrence_answers();
    assert_eq!(
        answers.iter().filter(|a| **a == 201).count(),
        1,
        "{answers:?}"
    );
    assert!(
        answers.iter().all(|a| *a == 201 || *a == 200),
        "{answers:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_that_fails_once_is_retried_and_creates_one_occurrence() {
    let s = stack_at("2026-01-30T12:00:00Z");
    let task = s
        .create(
            USER,
            recurring("x", "2026-01-31T09:00:00Z", "daily", json!({})),
        )
        .await;
    // chat-api's internal route is unreachable for the first attempt.
    s.fail_next_invocations(1);
    let (_, event, tasks) = complete_and_settle(&s, &task).await;
    let statuses: Vec<String> = s
        .deliveries_of(&event)
        .iter()
        .map(|c| c.delivery_status().to_owned())
        .collect();
    assert_eq!(statuses, ["RETRY", "SUCCESS"]);
    assert_eq!(tasks.len(), 2);
    assert_eq!(s.occurrence_answers(), [201]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_creating_and_acknowledging_creates_one_occurrence() {
    let s = stack_at("2026-01-30T12:00:00Z");
    let task = s
        .create(
            USER,
            recurring("x", "2026-01-31T09:00:00Z", "daily", json!({})),
        )
        .await;
    let (_, event, _) = complete_and_settle(&s, &task).await;
    // The service crashed after chat-api created the successor: its dedupe record was never
    // written, and Dapr delivers the event again.
    let forget = http::Request::delete(format!("/v1.0/state/statestore/processed:{event}"))
        .body(Bytes::new())
        .unwrap();
    assert_eq!(s.sidecar.handle(RECURRING, forget).await.status(), 204);
    s.publish(&s.published_event(&event)).await;
    s.wait_for("the redelivery handled", |_| {
        s.deliveries_of(&event)
            .iter()
            .filter(|c| c.delivery_status() == "SUCCESS")
            .count()
            == 2
    })
    .await;
    assert_eq!(
        s.occurrence_answers(),
        [201, 200],
        "the second time chat-api had it"
    );
    let tasks = s.list(USER).await;
    assert_eq!(tasks.len(), 2, "{tasks:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn complete_reopen_complete_creates_one_occurrence() {
    let s = stack_at("2026-01-30T12:00:00Z");
    let task = s
        .create(
            USER,
            recurring("x", "2026-01-31T09:00:00Z", "daily", json!({})),
        )
        .await;
    let (_, first, tasks) = complete_and_settle(&s, &task).await;
    let successor = successor_of(&tasks, &task).clone();
    s.reopen(USER, &task).await;
    // Completed again two days later: other missed occurrences, same successor.
    s.clock.advance(hours(48));
    let (_, second, tasks) = complete_and_settle(&s, &task).await;
    assert_ne!(first, second);
    assert_eq!(tasks.len(), 2, "{tasks:#?}");
    assert_eq!(successor_of(&tasks, &task), &successor, "unchanged");
    assert_eq!(s.occurrence_answers(), [201, 200]);
}

/// Complete the first task and each successor `n` times (at the instants `when` gives for each
/// due date): the due dates of the series, first included.
async fn follow(
    s: &Stack,
    mut task: Value,
    n: usize,
    when: impl Fn(&str) -> String,
) -> Vec<String> {
    let mut dues = vec![task["due_date"].as_str().unwrap().to_owned()];
    for _ in 0..n {
        let at: chrono::DateTime<chrono::Utc> =
            when(task["due_date"].as_str().unwrap()).parse().unwrap();
        let now = s.clock.now_utc();
        assert!(at >= now, "the clock only moves forward ({at} < {now})");
        s.clock.advance((at - now).to_std().unwrap());
        let (_, _, tasks) = complete_and_settle(s, &task).await;
        match tasks.iter().find(|t| t["predecessor_id"] == task["id"]) {
            Some(next) => task = next.clone(),
            None => break,
        }
        dues.push(task["due_date"].as_str().unwrap().to_owned());
    }
    dues
}

/// One hour before `due`.
fn early(due: &str) -> String {
    let due: chrono::DateTime<chrono::Utc> = due.parse().unwrap();
    (due - chrono::Duration::hours(1)).to_rfc3339()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monthly_from_jan_31_clamps_with_the_shorthand_and_skips_with_the_rrule() {
    let s = stack_at("2026-01-30T12:00:00Z");
    let task = s
        .create(
            USER,
            recurring("rent", "2026-01-31T09:00:00Z", "monthly", json!({})),
        )
        .await;
    assert_eq!(
        follow(&s, task, 2, early).await,
        [
            "2026-01-31T09:00:00Z",
            "2026-02-28T09:00:00Z",
            "2026-03-31T09:00:00Z"
        ]
    );
    let s = stack_at("2026-01-30T12:00:00Z");
    let task = s
        .create(
            USER,
            recurring("rent", "2026-01-31T09:00:00Z", "FREQ=MONTHLY", json!({})),
        )
        .await;
    assert_eq!(
        follow(&s, task, 1, early).await,
        ["2026-01-31T09:00:00Z", "2026-03-31T09:00:00Z"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daily_at_9_in_berlin_stays_at_9_across_dst() {
    let s = stack_at("2026-03-27T00:00:00Z");
    // 09:00 CET = 08:00Z; from 29 March 09:00 CEST = 07:00Z.
    let task = s
        .create(
            USER,
            recurring(
                "standup",
                "2026-03-28T09:00:00+01:00",
                "daily",
                json!({"time_zone": "Europe/Berlin"}),
            ),
        )
        .await;
    assert_eq!(
        follow(&s, task, 2, early).await,
        [
            "2026-03-28T08:00:00Z",
            "2026-03-29T07:00:00Z",
            "2026-03-30T07:00:00Z"
        ]
    );
    let s = stack_at("2026-10-23T00:00:00Z");
    let task = s
        .create(
            USER,
            recurring(
                "standup",
                "2026-10-24T09:00:00+02:00",
                "daily",
                json!({"time_zone": "Europe/Berlin", "repeat_from": "completion"}),
            ),
        )
        .await;
    // Completion mode, done in the evening: the next day at 09:00 local all the same.
    let evening = |due: &str| {
        let due: chrono::DateTime<chrono::Utc> = due.parse().unwrap();
        (due + chrono::Duration::hours(10)).to_rfc3339()
    };
    assert_eq!(
        follow(&s, task, 2, evening).await,
        [
            "2026-10-24T07:00:00Z",
            "2026-10-25T08:00:00Z",
            "2026-10-26T08:00:00Z"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn count_3_ends_after_the_third_occurrence() {
    let s = stack_at("2026-01-30T12:00:00Z");
    let task = s
        .create(
            USER,
            recurring(
                "thrice",
                "2026-02-01T09:00:00Z",
                "FREQ=DAILY;COUNT=3",
                json!({}),
            ),
        )
        .await;
    assert_eq!(
        follow(&s, task, 5, early).await,
        [
            "2026-02-01T09:00:00Z",
            "2026-02-02T09:00:00Z",
            "2026-02-03T09:00:00Z"
        ]
    );
    let tasks = s.list(USER).await;
    assert_eq!(tasks.len(), 3);
    assert!(
        tasks.iter().all(|t| t["status"] == "completed"),
        "{tasks:#?}"
    );
    assert_eq!(s.occurrence_answers(), [201, 201]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overdue_completion_skips_missed_occurrences_or_counts_from_the_completion() {
    // Due the 10th 09:00, done the 13th 12:00.
    let s = stack_at("2026-01-09T00:00:00Z");
    let daily = s
        .create(
            USER,
            recurring("daily", "2026-01-10T09:00:00Z", "daily", json!({})),
        )
        .await;
    let every3 = s
        .create(
            USER,
            recurring(
                "every 3",
                "2026-01-10T09:00:00Z",
                "every 3 days",
                json!({"repeat_from": "completion"}),
            ),
        )
        .await;
    s.clock.advance(hours(4 * 24 + 12));
    let (_, _, tasks) = complete_and_settle(&s, &daily).await;
    let next = successor_of(&tasks, &daily);
    assert_eq!(
        next["due_date"], "2026-01-14T09:00:00Z",
        "the 11th to 13th are skipped"
    );
    assert_eq!(next["occurrence_index"], 4);
    let (_, _, tasks) = complete_and_settle(&s, &every3).await;
    let next = successor_of(&tasks, &every3);
    assert_eq!(
        next["due_date"], "2026-01-16T09:00:00Z",
        "three days after the 13th"
    );
    assert_eq!(next["occurrence_index"], 1);
    assert_eq!(next["series_start"], "2026-01-16T09:00:00Z");
    assert_eq!(tasks.len(), 4, "{}", ids(&tasks).join(", "));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undeliverable_event_is_dropped_to_the_dead_letter_topic() {
    let s = stack_at("2026-01-30T12:00:00Z");
    let task = s
        .create(
            USER,
            recurring("x", "2026-01-31T09:00:00Z", "daily", json!({})),
        )
        .await;
    let (_, event, _) = complete_and_settle(&s, &task).await;
    let mut future = s.published_event(&event);
    future["id"] = "from-the-future".into();
    future["data"]["schema_version"] = 2.into();
    s.publish(&future).await;
    // Deliveries to one app reach it one at a time, in publish order: once a later event has
    // been delivered, the sidecar has finished with the dropped one.
    let mut barrier = s.published_event(&event);
    barrier["id"] = "barrier".into();
    barrier["type"] = "task.updated".into();
    s.publish(&barrier).await;
    s.wait_for("the barrier", |calls| {
        calls
            .iter()
            .any(|c| c.event_id.as_deref() == Some("barrier"))
    })
    .await;
    let drops: Vec<String> = s
        .deliveries_of("from-the-future")
        .iter()
        .map(|c| c.delivery_status().to_owned())
        .collect();
    assert_eq!(drops, ["DROP"]);
    let dead: Vec<_> = s
        .sidecar
        .dead_letters()
        .into_iter()
        .filter(|d| d.app_id == RECURRING)
        .collect();
    assert_eq!(dead.len(), 1, "{dead:#?}");
    assert_eq!(dead[0].topic, "task-events-dlq");
    assert_eq!(dead[0].event["id"], "from-the-future");
    assert_eq!(s.list(USER).await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_recurring_task_service_may_call_the_internal_route_through_dapr() {
    let s = stack_at("2026-01-30T12:00:00Z");
    let body = json!({"not": "an occurrence request"});
    let invoke = |caller: &'static str| {
        let s = &s;
        let body = body.clone();
        async move {
            let request =
                http::Request::post("/v1.0/invoke/chat-api/method/api/internal/occurrences")
                    .header("content-type", "application/json")
                    .body(Bytes::from(body.to_string()))
                    .unwrap();
            let response = s.sidecar.handle(caller, request).await;
            let status = response.status().as_u16();
            (
                status,
                serde_json::from_slice::<Value>(response.body()).unwrap_or(Value::Null),
            )
        }
    };
    // Another app: access control refuses before chat-api sees it.
    let (status, body) = invoke("audit-service").await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["errorCode"], "ERR_DIRECT_INVOKE");
    // recurring-task-service gets through (and chat-api judges the body).
    let (status, body) = invoke(RECURRING).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "validation_failed");
    // Past Dapr, straight to the app: no token or a wrong one is 401.
    for headers in [vec![], vec![("dapr-api-token", "guess".to_owned())]] {
        let (status, body) = s
            .call(
                "POST",
                "/api/internal/occurrences",
                &headers,
                Some(&json!({})),
            )
            .await;
        assert_eq!(status, 401, "{body}");
    }
    let (status, _) = s
        .call(
            "POST",
            "/api/internal/occurrences",
            &[("dapr-api-token", APP_TOKEN.to_owned())],
            Some(&json!({})),
        )
        .await;
    assert_eq!(status, 400, "with the token, the body is judged");
    assert!(s.list(USER).await.is_empty());
}
