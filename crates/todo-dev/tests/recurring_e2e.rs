//! Recurring tasks end to end: the real `todo-dev` binary running chat-api and
//! recurring-task-service (`--component-id` both: the other components play no part), with the
//! repository's `dapr/` (subscriptions, resiliency, access control), driven over real HTTP.
//!
//! Complete a recurring task and exactly one next occurrence appears in `GET /api/tasks`:
//! also when the event is delivered three times, three times at once, after the consumer failed
//! and the host restarted, and after complete → reopen → complete. Nothing sleeps: a test polls
//! `GET /api/tasks` for what it expects, bounded by [`support::HANG`] only against a hang; to see that
//! something did *not* happen it waits on a barrier (see [`barrier`]).

mod support;

use serde_json::{Value, json};
use support::{APP_TOKEN, Dev, User, request, temp_dir};

const COMPONENTS: [&str; 4] = [
    "--component-id",
    "chat-api",
    "--component-id",
    "recurring-task-service",
];

/// Everything published on `task-events` before this returns has been handled by
/// recurring-task-service: deliveries to one app reach it one at a time, in publish order, so
/// once the successor of a fresh "barrier" task is visible every earlier event has been handled.
fn barrier(user: &User<'_>) {
    let task = user.create(
        json!({"title": "barrier", "due_date": "2031-01-01T09:00:00Z",
                                  "recurrence_rule": "daily"}),
    );
    user.complete_and_follow(&task);
}

/// The `task.completed` CloudEvent of `snapshot` (a completed task), with CloudEvent id `id`.
fn completion_event(id: &str, snapshot: &Value) -> Value {
    json!({
        "specversion": "1.0", "id": id, "source": "chat-api", "type": "task.completed",
        "subject": snapshot["id"], "time": snapshot["updated_at"],
        "datacontenttype": "application/json",
        "data": {"schema_version": 1, "user_id": snapshot["user_id"], "task": snapshot,
                 "changed_fields": ["status", "completed_at"]}
    })
}

/// Publish `event` on `task-events` through the Dapr port.
fn publish(dev: &Dev, event: &Value) {
    let (status, body) = request(
        dev.dapr,
        "POST",
        "/v1.0/publish/pubsub/task-events",
        &[("content-type", "application/cloudevents+json")],
        Some(event),
    );
    assert_eq!(status, 204, "{body}");
}

fn rfc3339(text: &str) -> chrono::DateTime<chrono::Utc> {
    text.parse().unwrap()
}

#[test]
fn a_completed_recurring_task_gets_exactly_one_next_occurrence_however_the_event_arrives() {
    let data = temp_dir("once");
    let dev = Dev::start(&data, &[&COMPONENTS[..], &["--ephemeral"]].concat());
    let alice = User::new(&dev, "alice");
    let task = alice.create(
        json!({"title": "Water plants", "due_date": "2030-06-01T09:00:00Z",
                                   "recurrence_rule": "daily", "reminder_offset_minutes": 30,
                                   "tags": ["home"]}),
    );
    let next = alice.complete_and_follow(&task);
    assert_eq!(next["due_date"], "2030-06-02T09:00:00Z");
    assert_eq!(next["remind_at"], "2030-06-02T08:30:00Z");
    assert_eq!(next["status"], "pending");
    assert_eq!(next["tags"], json!(["home"]));
    assert_eq!(next["series_id"], task["id"]);
    assert_eq!(next["occurrence_index"], 1);
    assert_eq!(alice.tasks().len(), 2);

    // The same completion event three more times (one id, so deduplicated), then three times at
    // once under another id straight to the delivery route (none deduplicated: all reach chat-api).
    let (status, snapshot) = alice.call(
        "GET",
        &format!("/api/tasks/{}", task["id"].as_str().unwrap()),
        None,
    );
    assert_eq!(status, 200);
    let again = completion_event("6a1f4a7e-0000-4000-8000-000000000001", &snapshot);
    for _ in 0..3 {
        publish(&dev, &again);
    }
    let copy = completion_event("6a1f4a7e-0000-4000-8000-000000000002", &snapshot);
    let deliveries: Vec<_> = (0..3)
        .map(|_| {
            let (app, copy) = (dev.app, copy.clone());
            std::thread::spawn(move || {
                request(
                    app,
                    "POST",
                    "/recurring/task-completed",
                    &[
                        ("content-type", "application/cloudevents+json"),
                        ("dapr-api-token", APP_TOKEN),
                    ],
                    Some(&copy),
                )
            })
        })
        .collect();
    for delivery in deliveries {
        let (status, answer) = delivery.join().unwrap();
        assert_eq!((status, answer), (200, json!({"status": "SUCCESS"})));
    }
    // Complete → reopen → complete: a new event for the same occurrence.
    alice.set_done(&task, false);
    alice.set_done(&task, true);
    barrier(&alice);
    let series = alice.series(&task);
    assert_eq!(series.len(), 2, "{series:#?}");
    assert_eq!(series[1], next, "the successor is unchanged");
    drop(dev);
    let _ = std::fs::remove_dir_all(&data);
}

#[test]
fn monthly_from_jan_31_clamps_with_the_shorthand_and_skips_with_the_rrule() {
    let data = temp_dir("monthly");
    let dev = Dev::start(&data, &[&COMPONENTS[..], &["--ephemeral"]].concat());
    let alice = User::new(&dev, "alice");
    let rent = alice.create(json!({"title": "Rent", "due_date": "2030-01-31T09:00:00Z",
                                   "recurrence_rule": "monthly"}));
    let feb = alice.complete_and_follow(&rent);
    assert_eq!(feb["due_date"], "2030-02-28T09:00:00Z");
    let mar = alice.complete_and_follow(&feb);
    assert_eq!(
        mar["due_date"], "2030-03-31T09:00:00Z",
        "back to the 31st: no drift"
    );
    assert_eq!(mar["occurrence_index"], 2);
    assert_eq!(mar["series_start"], "2030-01-31T09:00:00Z");

    let strict = alice.create(
        json!({"title": "Strict", "due_date": "2030-01-31T09:00:00Z",
                                     "recurrence_rule": "FREQ=MONTHLY"}),
    );
    let next = alice.complete_and_follow(&strict);
    assert_eq!(
        next["due_date"], "2030-03-31T09:00:00Z",
        "February has no 31st"
    );
    drop(dev);
    let _ = std::fs::remove_dir_all(&data);
}

#[test]
fn daily_at_9_in_berlin_stays_at_9_across_the_dst_switch() {
    let data = temp_dir("dst");
    let dev = Dev::start(&data, &[&COMPONENTS[..], &["--ephemeral"]].concat());
    let alice = User::new(&dev, "alice");
    // Summer time starts on Sunday 31 March 2030: 09:00 is 08:00Z before, 07:00Z after.
    let task = alice.create(
        json!({"title": "Standup", "due_date": "2030-03-30T09:00:00+01:00",
                                   "time_zone": "Europe/Berlin", "recurrence_rule": "daily"}),
    );
    let sunday = alice.complete_and_follow(&task);
    assert_eq!(sunday["due_date"], "2030-03-31T07:00:00Z");
    let monday = alice.complete_and_follow(&sunday);
    assert_eq!(monday["due_date"], "2030-04-01T07:00:00Z");
    drop(dev);
    let _ = std::fs::remove_dir_all(&data);
}

#[test]
fn count_3_ends_the_series_after_the_third_occurrence() {
    let data = temp_dir("count");
    let dev = Dev::start(&data, &[&COMPONENTS[..], &["--ephemeral"]].concat());
    let alice = User::new(&dev, "alice");
    let first = alice.create(
        json!({"title": "Thrice", "due_date": "2030-05-01T09:00:00Z",
                                    "recurrence_rule": "FREQ=DAILY;COUNT=3"}),
    );
    let second = alice.complete_and_follow(&first);
    let third = alice.complete_and_follow(&second);
    assert_eq!(third["due_date"], "2030-05-03T09:00:00Z");
    assert_eq!(third["occurrence_index"], 2);
    alice.set_done(&third, true);
    barrier(&alice);
    let series = alice.series(&first);
    assert_eq!(series.len(), 3, "{series:#?}");
    assert!(series.iter().all(|t| t["status"] == "completed"));
    drop(dev);
    let _ = std::fs::remove_dir_all(&data);
}

#[test]
fn an_overdue_completion_skips_missed_occurrences_or_counts_from_the_completion() {
    let data = temp_dir("overdue");
    let dev = Dev::start(&data, &[&COMPONENTS[..], &["--ephemeral"]].concat());
    let alice = User::new(&dev, "alice");
    let today = chrono::Utc::now().date_naive();
    let nine = |date: chrono::NaiveDate| date.and_hms_opt(9, 0, 0).unwrap().and_utc();
    let due = nine(today - chrono::Days::new(5)).to_rfc3339();

    // From the due date: the first daily 09:00Z after the completion; the missed ones skipped.
    let daily =
        alice.create(json!({"title": "Daily", "due_date": due, "recurrence_rule": "daily"}));
    let done = alice.set_done(&daily, true);
    let completed_at = rfc3339(done["completed_at"].as_str().unwrap());
    let next = alice.successor_of(&daily);
    let mut expected = nine(completed_at.date_naive());
    if expected <= completed_at {
        expected = nine(completed_at.date_naive() + chrono::Days::new(1));
    }
    assert_eq!(rfc3339(next["due_date"].as_str().unwrap()), expected);
    let days = (expected - rfc3339(&due)).num_days();
    assert_eq!(
        next["occurrence_index"], days,
        "indexes of skipped occurrences stay taken"
    );

    // From the completion: three days after the completion's date, at the due's 09:00.
    let every3 = alice.create(json!({"title": "Every 3", "due_date": due,
                                     "recurrence_rule": "every 3 days", "repeat_from": "completion"}));
    let done = alice.set_done(&every3, true);
    let completed_at = rfc3339(done["completed_at"].as_str().unwrap());
    let next = alice.successor_of(&every3);
    let expected = nine(completed_at.date_naive() + chrono::Days::new(3));
    assert_eq!(rfc3339(next["due_date"].as_str().unwrap()), expected);
    assert_eq!(next["occurrence_index"], 1);
    assert_eq!(next["series_start"], next["due_date"]);
    assert_eq!(next["repeat_from"], "completion");
    drop(dev);
    let _ = std::fs::remove_dir_all(&data);
}

#[test]
fn a_delivery_that_failed_is_retried_after_a_restart_and_creates_one_occurrence() {
    let data = temp_dir("retry");
    // 1. A recurring task (both apps, data kept in `data`).
    let dev = Dev::start(&data, &COMPONENTS);
    let task = User::new(&dev, "alice").create(
        json!({"title": "Survive", "due_date": "2030-07-01T09:00:00Z",
                                                     "recurrence_rule": "weekly"}),
    );
    dev.stop();

    // 2. Only recurring-task-service runs: its completion event cannot reach chat-api, so the
    //    service answers RETRY, and the message stays pending when the host stops.
    let dev = Dev::start(
        &data,
        &[
            "--component-id",
            "recurring-task-service",
            "--as-app-id",
            "recurring-task-service",
        ],
    );
    let mut snapshot = task.clone();
    snapshot["status"] = "completed".into();
    snapshot["completed_at"] = "2030-06-30T12:00:00Z".into();
    snapshot["updated_at"] = "2030-06-30T12:00:00Z".into();
    snapshot["version"] = 2.into();
    let event_id = "6a1f4a7e-0000-4000-8000-0000000000aa";
    publish(&dev, &completion_event(event_id, &snapshot));
    let retry = dev.wait_for_guest_line("a RETRY of the completion", |component, line| {
        component == "recurring-task-service"
            && line["route"] == "/recurring/task-completed"
            && line["event_ids"] == json!([event_id])
            && line["error"]
                .as_str()
                .is_some_and(|e| e.starts_with("RETRY"))
    });
    assert!(
        retry["error"].as_str().unwrap().contains("chat-api"),
        "{retry}"
    );
    dev.stop();

    // 3. Both apps again: the pending delivery succeeds, once.
    let dev = Dev::start(&data, &COMPONENTS);
    let alice = User::new(&dev, "alice");
    let next = alice.successor_of(&task);
    assert_eq!(next["due_date"], "2030-07-08T09:00:00Z");
    dev.wait_for_guest_line("the successful redelivery", |component, line| {
        component == "recurring-task-service"
            && line["event_ids"] == json!([event_id])
            && line["error"].is_null()
    });
    // The real completion of that occurrence changes nothing.
    alice.set_done(&task, true);
    barrier(&alice);
    assert_eq!(alice.series(&task).len(), 2);
    drop(dev);
    let _ = std::fs::remove_dir_all(&data);
}

#[test]
fn the_internal_route_refuses_calls_without_the_token_and_invocations_from_other_apps() {
    let data = temp_dir("acl");
    // The Dapr port acts as audit-service: not allowed to invoke chat-api (dapr/config.yaml).
    let dev = Dev::start(
        &data,
        &[
            &COMPONENTS[..],
            &["--ephemeral", "--as-app-id", "audit-service"],
        ]
        .concat(),
    );
    let body = json!({});
    let (status, refused) = request(
        dev.dapr,
        "POST",
        "/v1.0/invoke/chat-api/method/api/internal/occurrences",
        &[],
        Some(&body),
    );
    assert_eq!(status, 403, "{refused}");
    assert_eq!(refused["errorCode"], "ERR_DIRECT_INVOKE");
    // Straight to the app port: without the sidecar's token, or with a wrong one, 401.
    for headers in [vec![], vec![("dapr-api-token", "guessed")]] {
        let (status, answer) = request(
            dev.app,
            "POST",
            "/api/internal/occurrences",
            &headers,
            Some(&body),
        );
        assert_eq!(status, 401, "{answer}");
        assert_eq!(answer["error"]["code"], "unauthorized");
    }
    // The same for recurring-task-service's delivery routes.
    for path in ["/recurring/task-completed", "/recurring/ignored"] {
        let (status, _) = request(dev.app, "POST", path, &[], Some(&body));
        assert_eq!(status, 401, "{path}");
    }
    // With the token the request is judged on its merits (this body is not an occurrence).
    let (status, answer) = request(
        dev.app,
        "POST",
        "/api/internal/occurrences",
        &[("dapr-api-token", APP_TOKEN)],
        Some(&body),
    );
    assert_eq!(status, 400, "{answer}");
    assert!(User::new(&dev, "alice").tasks().is_empty());
    drop(dev);
    let _ = std::fs::remove_dir_all(&data);
}
