//! Reminders end to end on `todo-dev`'s stack in process (tests/tests/recurring/stack.rs):
//! chat-api and notification-service as they ship, one embedded sidecar with the repository's
//! `dapr/` (subscription of `reminders`, resiliency, dead-letter topic), one clock for guests and
//! sidecar, and the operator's webhook: a local receiver on 127.0.0.1 that checks the signature
//! itself (`todo_tests::webhook`).
//!
//! Nothing sleeps: a test moves the clock to the reminder's time, and the sidecar's scheduler
//! (running every 50 ms) fires the job; the test waits for the event it expects (the webhook
//! call, the delivery's answer). To see that a job did *not* fire it runs one scheduler pass
//! itself (`run_due_jobs_now`, which returns when every due job has been triggered).
//!
//! The process-level cases (kill -9 of `todo-dev`, the admin port's dead letters) are in
//! crates/todo-dev/tests/reminders_e2e.rs.
#[allow(dead_code)]
#[path = "../recurring/stack.rs"]
mod stack;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use spin_host::SharedClock;
use stack::{APP_TOKEN, CHAT_API, Call, HANG, NOTIFICATIONS, Stack};
use todo_domain::reminder::event_id;
use todo_tests::webhook::Receiver;

const HOOK_SECRET: &str = "reminders-e2e-hook-secret";
const START: &str = "2026-04-01T08:00:00Z";
/// A reminder ahead of [`START`], and a time it is moved to.
const REMIND_AT: &str = "2026-04-01T09:00:00Z";
const LATER: &str = "2026-04-01T09:30:00Z";

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

/// The stack and its webhook receiver.
struct Reminders {
    s: Stack,
    hook: Receiver,
}

async fn start() -> Reminders {
    let hook = Receiver::start().await;
    let url = hook.url();
    let origin = format!("http://{}", hook.addr);
    let s = Stack::start_with_variables(
        SharedClock::fixed_at(at(START)),
        &[CHAT_API, NOTIFICATIONS],
        &[
            ("notification_webhook_url", &url),
            ("notification_webhook_secret", HOOK_SECRET),
            ("notification_webhook_origin", &origin),
        ],
    );
    Reminders { s, hook }
}

fn is_trigger_of(call: &Call, task: &Value) -> bool {
    call.app_id == CHAT_API
        && call.path == format!("/job/reminder-{}", task["id"].as_str().unwrap())
}

fn is_delivery(call: &Call) -> bool {
    call.app_id == NOTIFICATIONS && call.path == "/notifications/reminders"
}

impl Reminders {
    async fn create(&self, user: &str, remind_at: &str) -> Value {
        self.s
            .create(
                user,
                json!({"title": "Water the plants", "due_date": "2026-04-01T10:00:00Z",
                       "remind_at": remind_at}),
            )
            .await
    }

    /// `PATCH` the task's `remind_at` to `to`: the task after it.
    async fn move_reminder(&self, user: &str, task: &Value, to: &str) -> Value {
        let path = format!("/api/tasks/{}", task["id"].as_str().unwrap());
        let body = json!({ "remind_at": to });
        let (status, moved) = self.s.call_as(user, "PATCH", &path, Some(&body)).await;
        assert_eq!(status, 200, "{moved}");
        moved
    }

    /// Move the clock to `to` (the scheduler fires what is due within 50 ms).
    fn advance_to(&self, to: &str) {
        let by = at(to) - self.s.clock.now_utc();
        self.s
            .clock
            .advance(by.to_std().expect("time moves forward"));
    }

    /// Wait until the sidecar's delivery of `reminder_id` got SUCCESS from notification-service.
    async fn delivered(&self, reminder_id: &str) {
        let event_id = event_id(reminder_id).to_string();
        self.s
            .wait_for(&format!("SUCCESS for reminder {reminder_id}"), |calls| {
                calls.iter().any(|c| {
                    is_delivery(c)
                        && c.event_id.as_deref() == Some(event_id.as_str())
                        && c.delivery_status() == "SUCCESS"
                })
            })
            .await;
    }

    /// `GET /notifications/inbox` as `user`: the reminder ids, newest first.
    async fn inbox(&self, user: &str) -> Vec<String> {
        let (status, page) = self
            .s
            .call_as(user, "GET", "/notifications/inbox", None)
            .await;
        assert_eq!(status, 200, "{page}");
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| item["id"].as_str().unwrap().to_owned())
            .collect()
    }

    /// The distinct ids of the `reminder.triggered` events chat-api published (the outbox
    /// publishes at least once: a sweep may publish an event again, with the same id).
    fn reminder_event_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .reminder_events()
            .iter()
            .map(|e| e["id"].as_str().unwrap().to_owned())
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }

    /// Every `reminder.triggered` event chat-api published.
    fn reminder_events(&self) -> Vec<Value> {
        self.s
            .sidecar
            .published()
            .into_iter()
            .filter_map(|m| m.event)
            .filter(|e| e["type"] == "reminder.triggered")
            .collect()
    }

    fn triggers_of(&self, task: &Value) -> Vec<Call> {
        self.s
            .calls()
            .into_iter()
            .filter(|c| is_trigger_of(c, task))
            .collect()
    }

    fn has_job(&self, task: &Value) -> bool {
        let name = format!("reminder-{}", task["id"].as_str().unwrap());
        self.s
            .sidecar
            .job_names()
            .iter()
            .any(|(app, job)| app == CHAT_API && *job == name)
    }

    /// `POST /job/reminder-<id>` as the sidecar sends it (with the app token) or without it.
    async fn trigger(&self, task: &Value, data: &Value, token: bool) -> (u16, Value) {
        let headers: Vec<(&str, String)> = if token {
            vec![("dapr-api-token", APP_TOKEN.to_owned())]
        } else {
            Vec::new()
        };
        let path = format!("/job/reminder-{}", task["id"].as_str().unwrap());
        self.s.call("POST", &path, &headers, Some(data)).await
    }
}

fn reminder_id(task: &Value) -> String {
    format!(
        "{}:{}",
        task["id"].as_str().unwrap(),
        task["version"].as_u64().unwrap()
    )
}

/// The job's `data`, as chat-api schedules it.
fn job_data(user: &str, task: &Value, reminder_id: &str) -> Value {
    json!({"user_id": user, "task_id": task["id"], "reminder_id": reminder_id})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reminder_fires_once_into_the_inbox_and_the_signed_webhook() {
    let r = start().await;
    let task = r.create("alice", REMIND_AT).await;
    let rid = reminder_id(&task);
    assert!(r.has_job(&task));
    r.s.sidecar.run_due_jobs_now().await;
    assert!(r.triggers_of(&task).is_empty(), "not due yet");

    r.advance_to(REMIND_AT);
    let calls = r.hook.wait_for_calls(1, HANG).await;
    r.delivered(&rid).await;
    assert_eq!(calls.len(), 1, "{calls:?}");
    let call = &calls[0];
    call.assert_signed(HOOK_SECRET);
    assert_eq!(call.header("idempotency-key"), rid);
    let body = call.json();
    assert_eq!(body["reminder_id"], rid.as_str());
    assert_eq!(body["user_id"], "alice");
    assert_eq!(body["task_id"], task["id"]);
    assert_eq!(body["remind_at"], REMIND_AT);

    assert_eq!(r.inbox("alice").await, [rid.as_str()]);
    assert_eq!(r.reminder_event_ids(), [event_id(&rid).to_string()]);
    let triggers = r.triggers_of(&task);
    assert_eq!(triggers.len(), 1);
    assert_eq!(triggers[0].answer["fired"], true);
    // The one-shot job is gone, and the task did not change.
    assert!(!r.has_job(&task));
    let (_, now) =
        r.s.call_as(
            "alice",
            "GET",
            &format!("/api/tasks/{}", task["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(now["version"], task["version"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_moved_reminder_fires_at_the_new_time_only() {
    let r = start().await;
    let task = r.create("alice", REMIND_AT).await;
    let old_rid = reminder_id(&task);
    let moved = r.move_reminder("alice", &task, LATER).await;
    let new_rid = reminder_id(&moved);
    assert_ne!(old_rid, new_rid);

    r.advance_to(REMIND_AT);
    r.s.sidecar.run_due_jobs_now().await;
    assert!(r.triggers_of(&task).is_empty(), "nothing at the old time");
    assert!(r.has_job(&task));

    r.advance_to(LATER);
    r.delivered(&new_rid).await;
    assert_eq!(r.inbox("alice").await, [new_rid.as_str()]);
    let hooks = r.hook.received();
    assert_eq!(hooks.len(), 1);
    assert_eq!(hooks[0].header("idempotency-key"), new_rid);
    assert_eq!(r.reminder_event_ids(), [event_id(&new_rid).to_string()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completing_or_deleting_the_task_cancels_its_reminder() {
    let r = start().await;
    let completed = r.create("alice", REMIND_AT).await;
    let deleted = r.create("alice", REMIND_AT).await;
    r.s.complete("alice", &completed).await;
    let path = format!("/api/tasks/{}", deleted["id"].as_str().unwrap());
    let (status, body) = r.s.call_as("alice", "DELETE", &path, None).await;
    assert_eq!(status, 204, "{body}");
    assert!(!r.has_job(&completed));
    assert!(!r.has_job(&deleted));

    r.advance_to("2026-04-01T09:05:00Z");
    r.s.sidecar.run_due_jobs_now().await;
    assert!(r.triggers_of(&completed).is_empty());
    assert!(r.triggers_of(&deleted).is_empty());
    assert!(r.reminder_events().is_empty());
    assert!(r.inbox("alice").await.is_empty());
    assert!(r.hook.received().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reopened_task_fires_with_a_new_reminder_id() {
    let r = start().await;
    let task = r.create("alice", REMIND_AT).await;
    let first = reminder_id(&task);
    let (done, _) = r.s.complete("alice", &task).await;
    assert!(!r.has_job(&done));
    let reopened = r.s.reopen("alice", &done).await;
    let second = reminder_id(&reopened);
    assert_ne!(first, second);
    assert!(r.has_job(&reopened));

    r.advance_to(REMIND_AT);
    r.delivered(&second).await;
    assert_eq!(r.inbox("alice").await, [second.as_str()]);
    assert_eq!(r.reminder_event_ids(), [event_id(&second).to_string()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_trigger_publishes_nothing() {
    let r = start().await;
    let task = r.create("alice", REMIND_AT).await;
    let old = reminder_id(&task);
    let moved = r.move_reminder("alice", &task, LATER).await;
    // The old job's trigger, arriving late (e.g. a Scheduler that fired before the overwrite).
    let (status, answer) = r
        .trigger(&task, &job_data("alice", &task, &old), true)
        .await;
    assert_eq!((status, &answer["fired"]), (200, &json!(false)), "{answer}");

    let (done, _) = r.s.complete("alice", &moved).await;
    let current = reminder_id(&moved);
    let (status, answer) = r
        .trigger(&done, &job_data("alice", &done, &current), true)
        .await;
    assert_eq!((status, &answer["fired"]), (200, &json!(false)), "{answer}");
    assert!(r.reminder_events().is_empty());
    assert_eq!(r.s.sidecar.pending_deliveries(), 0);
    assert!(r.inbox("alice").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_trigger_or_delivery_leaves_one_inbox_entry() {
    let r = start().await;
    let task = r.create("alice", REMIND_AT).await;
    let rid = reminder_id(&task);
    let data = job_data("alice", &task, &rid);
    // The Scheduler delivers the trigger twice (at least once): one event id.
    let (status, first) = r.trigger(&task, &data, true).await;
    assert_eq!((status, &first["fired"]), (200, &json!(true)), "{first}");
    let (status, second) = r.trigger(&task, &data, true).await;
    assert_eq!(status, 200, "{second}");
    r.delivered(&rid).await;
    assert_eq!(r.reminder_event_ids(), [event_id(&rid).to_string()]);

    // The broker delivers the event again: acknowledged, not delivered again.
    let event = r.reminder_events().remove(0);
    let before = r.s.call_count();
    r.s.publish_on("reminders", &event).await;
    r.s.wait_for_call(before, |c| {
        is_delivery(c) && c.delivery_status() == "SUCCESS"
    })
    .await;
    assert_eq!(r.inbox("alice").await, [rid.as_str()]);
    assert_eq!(r.hook.received().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reminder_due_while_chat_api_is_down_arrives_when_it_is_back() {
    let r = start().await;
    let task = r.create("alice", REMIND_AT).await;
    let rid = reminder_id(&task);
    r.s.set_down(CHAT_API, true);
    r.advance_to(REMIND_AT);
    // The failure policy retries every 5 s for 10 minutes; each move of the clock lets one more
    // attempt fail. Four failed attempts over three minutes: Dapr's default policy (3 retries,
    // 1 s apart) would have given up and deleted the job.
    for failures in 1..=4 {
        if failures > 1 {
            r.s.clock.advance(std::time::Duration::from_secs(60));
        }
        r.s.wait_for(&format!("{failures} failed triggers"), |calls| {
            calls
                .iter()
                .filter(|c| is_trigger_of(c, &task) && c.status == 0)
                .count()
                == failures
        })
        .await;
    }
    assert!(r.has_job(&task), "the job waits for chat-api");
    assert!(r.reminder_events().is_empty());

    r.s.set_down(CHAT_API, false);
    r.s.clock.advance(std::time::Duration::from_secs(60));
    r.delivered(&rid).await;
    assert_eq!(r.inbox("alice").await, [rid.as_str()]);
    assert_eq!(r.hook.received().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_failing_twice_is_retried_with_one_key_and_one_inbox_entry() {
    let r = start().await;
    r.hook.script(&[500, 503]);
    let task = r.create("alice", REMIND_AT).await;
    let rid = reminder_id(&task);
    r.advance_to(REMIND_AT);
    // The resiliency policy's delivery retries (about 0.5 s, then 0.75 s).
    r.delivered(&rid).await;
    let calls = r.hook.received();
    assert_eq!(calls.len(), 3, "{calls:?}");
    for call in &calls {
        assert_eq!(call.header("idempotency-key"), rid);
        call.assert_signed(HOOK_SECRET);
    }
    assert_eq!(r.inbox("alice").await, [rid.as_str()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_webhook_dead_letters_the_reminder_and_a_replay_delivers_it() {
    let r = start().await;
    r.hook.script(&[422]);
    let task = r.create("alice", REMIND_AT).await;
    let rid = reminder_id(&task);
    r.advance_to(REMIND_AT);
    r.s.wait_for("the DROP", |calls| {
        calls
            .iter()
            .any(|c| is_delivery(c) && c.delivery_status() == "DROP")
    })
    .await;
    // Deliveries to an app go one at a time, in order: once an event published after it has
    // been answered, the DROP has been dead-lettered. The barrier is dropped too (unknown
    // schema_version), without a webhook call.
    let barrier = json!({"specversion": "1.0", "id": "barrier", "source": "test",
                         "type": "reminder.triggered", "datacontenttype": "application/json",
                         "data": {"schema_version": 99}});
    r.s.publish_on("reminders", &barrier).await;
    r.s.wait_for("the barrier", |calls| {
        calls
            .iter()
            .any(|c| is_delivery(c) && c.event_id.as_deref() == Some("barrier"))
    })
    .await;
    let dead: Vec<_> =
        r.s.sidecar
            .dead_letters()
            .into_iter()
            .filter(|d| d.event["id"] != "barrier")
            .collect();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0].topic, "reminders-dlq");
    assert_eq!(dead[0].event["data"]["reminder_id"], rid.as_str());
    // The inbox has it already: the webhook's refusal does not take it back.
    assert_eq!(r.inbox("alice").await, [rid.as_str()]);

    r.s.sidecar.replay_dead_letter(dead[0].id).unwrap();
    r.delivered(&rid).await;
    assert!(
        r.s.sidecar
            .dead_letters()
            .iter()
            .all(|d| d.event["id"] == "barrier")
    );
    let calls = r.hook.received();
    assert_eq!(calls.len(), 2);
    assert!(calls.iter().all(|c| c.header("idempotency-key") == rid));
    assert_eq!(r.inbox("alice").await, [rid.as_str()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn triggers_and_deliveries_without_the_app_token_are_rejected() {
    let r = start().await;
    let task = r.create("alice", REMIND_AT).await;
    let rid = reminder_id(&task);
    let (status, body) = r
        .trigger(&task, &job_data("alice", &task, &rid), false)
        .await;
    assert_eq!(status, 401, "{body}");
    let wrong = [("dapr-api-token", "not-the-token".to_owned())];
    let path = format!("/job/reminder-{}", task["id"].as_str().unwrap());
    let (status, _) =
        r.s.call("POST", &path, &wrong, Some(&job_data("alice", &task, &rid)))
            .await;
    assert_eq!(status, 401);

    let event = json!({
        "specversion": "1.0", "id": event_id(&rid), "source": "chat-api",
        "type": "reminder.triggered", "subject": task["id"], "datacontenttype": "application/json",
        "data": {"schema_version": 1, "user_id": "alice", "task_id": task["id"],
                 "task_title": "Water the plants", "due_date": task["due_date"],
                 "remind_at": REMIND_AT, "reminder_id": rid},
        "topic": "reminders", "pubsubname": "pubsub"
    });
    let (status, body) =
        r.s.call("POST", "/notifications/reminders", &[], Some(&event))
            .await;
    assert_eq!(status, 401, "{body}");
    assert!(r.reminder_events().is_empty());
    assert!(r.inbox("alice").await.is_empty());
    assert!(r.hook.received().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nobody_sees_another_users_inbox() {
    let r = start().await;
    let task = r.create("alice", REMIND_AT).await;
    let rid = reminder_id(&task);
    r.advance_to(REMIND_AT);
    r.delivered(&rid).await;
    assert_eq!(r.inbox("alice").await, [rid.as_str()]);
    assert!(r.inbox("bob").await.is_empty());
    let read = format!("/notifications/inbox/{rid}/read");
    let (status, _) = r.s.call_as("bob", "POST", &read, None).await;
    assert_eq!(status, 404);
    let (status, _) = r.s.call("GET", "/notifications/inbox", &[], None).await;
    assert_eq!(status, 401);
}
