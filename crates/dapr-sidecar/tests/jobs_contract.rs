//! Contract tests of the Jobs API and its scheduler against daprd's source (dapr/dapr v1.16
//! `pkg/api/http/jobs.go`, `pkg/api/universal/jobs.go`, `pkg/messages/errorcodes`) and the
//! Dapr Scheduler's (diagridio/go-etcd-cron `internal/scheduler/builder.go`, dapr/kit `cron`).
//! Time moves only when a test moves the manual clock; `run_due_jobs_now` runs one scheduler
//! pass. The one test of the background scheduler task runs in tokio's paused time, so nothing
//! here waits real time.

use std::sync::Arc;

use chrono::Duration;
use dapr_sidecar::testing::{FakeApps, Reply, assert_error, json, send, start_clock, text};
use dapr_sidecar::{ManualClock, Sidecar, SidecarConfig};
use serde_json::json;

const JOB: &str = "/v1.0-alpha1/jobs/reminder";

struct World {
    sidecar: Sidecar,
    clock: ManualClock,
    apps: Arc<FakeApps>,
}

fn world_with(token: Option<&str>) -> World {
    let clock = start_clock();
    let apps = FakeApps::new();
    let sidecar = Sidecar::new(SidecarConfig {
        clock: Arc::new(clock.clone()),
        app_channel: apps.clone(),
        app_api_token: token.map(str::to_owned),
        ..SidecarConfig::default()
    });
    World {
        sidecar,
        clock,
        apps,
    }
}

fn world() -> World {
    world_with(None)
}

impl World {
    async fn schedule(&self, app: &str, uri: &str, body: &str) -> http::Response<bytes::Bytes> {
        send(&self.sidecar, app, "POST", uri, body).await
    }

    /// Moves the clock by `seconds` and runs one scheduler pass.
    async fn tick(&self, seconds: i64) {
        self.clock.advance(Duration::seconds(seconds));
        self.sidecar.run_due_jobs_now().await;
    }

    fn triggers(&self) -> usize {
        self.apps.calls().len()
    }
}

// ---- scheduling: answers ------------------------------------------------------------------

#[tokio::test]
async fn scheduling_a_job_answers_204_empty() {
    let w = world();
    let response = w
        .schedule("app", JOB, r#"{"dueTime":"10s","data":{"task":"t1"}}"#)
        .await;
    assert_eq!(response.status(), 204);
    assert!(response.body().is_empty());
}

#[tokio::test]
async fn get_answers_200_with_the_job_in_daprds_shape_including_the_default_failure_policy() {
    let w = world();
    w.schedule(
        "app",
        JOB,
        r#"{"schedule":"@every 1m","repeats":123,"dueTime":"1000s","ttl":"123s","data":"hello world"}"#,
    )
    .await;
    let response = send(&w.sidecar, "app", "GET", JOB, "").await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        json(&response),
        json!({
            "name": "reminder",
            "schedule": "@every 1m",
            "repeats": 123,
            "dueTime": "1000s",
            "ttl": "123s",
            "data": {"@type": "type.googleapis.com/google.protobuf.Value", "value": "hello world"},
            "failurePolicy": {"constant": {"interval": "1s", "maxRetries": 3}},
        })
    );
}

#[tokio::test]
async fn snake_case_and_camel_case_bodies_are_the_same_job() {
    let w = world();
    let snake =
        r#"{"due_time":"5s","failure_policy":{"constant":{"interval":"3s","max_retries":5}}}"#;
    let camel = r#"{"dueTime":"5s","failurePolicy":{"constant":{"interval":"3s","maxRetries":5}}}"#;
    assert_eq!(
        w.schedule("app", "/v1.0-alpha1/jobs/a", snake)
            .await
            .status(),
        204
    );
    assert_eq!(
        w.schedule("app", "/v1.0-alpha1/jobs/b", camel)
            .await
            .status(),
        204
    );
    let a = json(&send(&w.sidecar, "app", "GET", "/v1.0-alpha1/jobs/a", "").await);
    let b = json(&send(&w.sidecar, "app", "GET", "/v1.0-alpha1/jobs/b", "").await);
    assert_eq!(
        a["failurePolicy"],
        json!({"constant": {"interval": "3s", "maxRetries": 5}})
    );
    assert_eq!(a["dueTime"], b["dueTime"]);
    assert_eq!(a["failurePolicy"], b["failurePolicy"]);
}

#[tokio::test]
async fn the_stable_v1_routes_answer_like_the_alpha_ones() {
    let w = world();
    assert_eq!(
        w.schedule("app", "/v1.0/jobs/j", r#"{"dueTime":"1s"}"#)
            .await
            .status(),
        204
    );
    assert_eq!(
        send(&w.sidecar, "app", "GET", "/v1.0-alpha1/jobs/j", "")
            .await
            .status(),
        200
    );
    assert_eq!(
        send(&w.sidecar, "app", "DELETE", "/v1.0/jobs/j", "")
            .await
            .status(),
        204
    );
}

#[tokio::test]
async fn a_job_without_schedule_or_due_time_answers_400_schedule_empty() {
    let w = world();
    for body in ["{}", "", r#"{"repeats":3,"data":1}"#] {
        let response = w.schedule("app", JOB, body).await;
        let message = assert_error(&response, 400, "DAPR_SCHEDULER_SCHEDULE_EMPTY");
        assert_eq!(message, "Schedule is empty");
        let details = &json(&response)["details"][0];
        assert_eq!(details["reason"], "DAPR_SCHEDULER_SCHEDULE_EMPTY");
        assert_eq!(details["domain"], "dapr.io");
        assert_eq!(details["@type"], "type.googleapis.com/google.rpc.ErrorInfo");
        assert_eq!(details["metadata"]["appID"], "app");
    }
}

/// Unlike the other APIs, daprd reads a job body with protojson (`UniversalHTTPHandler` into
/// `internals.v1.JobHTTPRequest`), not Go's encoding/json: a field is matched by its JSON name
/// (`dueTime`) or its proto name (`due_time`) exactly, never case-insensitively, and unknown
/// fields are dropped. So `DueTime` is not a due time.
#[tokio::test]
async fn job_bodies_are_protojson_with_exact_names() {
    let w = world();
    let response = w
        .schedule("app", JOB, r#"{"DueTime":"1s","Schedule":"@every 1s"}"#)
        .await;
    assert_error(&response, 400, "DAPR_SCHEDULER_SCHEDULE_EMPTY");
    for body in [r#"{"dueTime":"1s"}"#, r#"{"due_time":"1s"}"#] {
        let response = w.schedule("app", "/v1.0-alpha1/jobs/other", body).await;
        assert_eq!(response.status(), 204, "{body}: {}", text(&response));
        w.sidecar
            .handle(
                "app",
                dapr_sidecar::testing::request("DELETE", "/v1.0-alpha1/jobs/other", ""),
            )
            .await;
    }
}

#[tokio::test]
async fn a_body_that_does_not_decode_answers_400_malformed_request() {
    let w = world();
    for body in [
        "{not json",
        "[1]",
        r#"{"dueTime":5}"#,
        r#"{"dueTime":"1s","repeats":-1}"#,
        r#"{"dueTime":"1s","failurePolicy":{"constant":{"interval":"1m"}}}"#,
        r#"{"dueTime":"1s","due_time":"2s"}"#,
    ] {
        let response = w.schedule("app", JOB, body).await;
        let message = assert_error(&response, 400, "ERR_MALFORMED_REQUEST");
        assert!(
            message.starts_with("failed deserializing HTTP body: "),
            "{body}: {message}"
        );
    }
}

#[tokio::test]
async fn a_name_in_the_body_answers_400_job_name() {
    let w = world();
    let response = w
        .schedule("app", JOB, r#"{"name":"other","schedule":"@daily"}"#)
        .await;
    let message = assert_error(&response, 400, "DAPR_SCHEDULER_JOB_NAME");
    assert_eq!(message, "Set the job name in the url only");
}

#[tokio::test]
async fn a_blank_name_or_one_with_a_pipe_answers_400_job_name_empty() {
    let w = world();
    for uri in ["/v1.0-alpha1/jobs/%20", "/v1.0-alpha1/jobs/a%7Cb"] {
        let response = w.schedule("app", uri, r#"{"schedule":"@daily"}"#).await;
        let message = assert_error(&response, 400, "DAPR_SCHEDULER_JOB_NAME_EMPTY");
        assert_eq!(message, "Name is empty", "{uri}");
    }
}

#[tokio::test]
async fn what_the_scheduler_refuses_answers_500_schedule_job() {
    let w = world();
    for body in [
        r#"{"schedule":"not a cron"}"#,
        r#"{"schedule":"* * * * *"}"#,
        r#"{"dueTime":"tomorrow"}"#,
        r#"{"dueTime":"1s","repeats":2}"#,
        r#"{"schedule":"@daily","repeats":0}"#,
        r#"{"dueTime":"1s","ttl":"1h"}"#,
        r#"{"schedule":"@daily","dueTime":"2026-01-02T00:00:00Z","ttl":"2026-01-01T12:00:00Z"}"#,
    ] {
        let response = w.schedule("app", JOB, body).await;
        let message = assert_error(&response, 500, "DAPR_SCHEDULER_SCHEDULE_JOB");
        assert!(
            message.starts_with("failed to schedule job due to: "),
            "{body}: {message}"
        );
    }
}

#[tokio::test]
async fn an_existing_job_answers_409_unless_overwrite_is_true() {
    let w = world();
    assert_eq!(
        w.schedule("app", JOB, r#"{"schedule":"@daily"}"#)
            .await
            .status(),
        204
    );
    let again = r#"{"schedule":"@daily","repeats":3,"dueTime":"10s","ttl":"11s"}"#;
    assert_error(
        &w.schedule("app", JOB, again).await,
        409,
        "DAPR_SCHEDULER_SCHEDULE_JOB",
    );
    let explicit = r#"{"schedule":"@hourly","overwrite":false}"#;
    assert_error(
        &w.schedule("app", JOB, explicit).await,
        409,
        "DAPR_SCHEDULER_SCHEDULE_JOB",
    );
    let overwrite = r#"{"schedule":"@hourly","overwrite":true}"#;
    assert_eq!(w.schedule("app", JOB, overwrite).await.status(), 204);
    let job = json(&send(&w.sidecar, "app", "GET", JOB, "").await);
    assert_eq!(job["schedule"], "@hourly");
}

#[tokio::test]
async fn get_of_a_missing_job_answers_500_get_job() {
    let w = world();
    let response = send(&w.sidecar, "app", "GET", JOB, "").await;
    let message = assert_error(&response, 500, "DAPR_SCHEDULER_GET_JOB");
    assert!(message.starts_with("failed to get job due to: "));
}

#[tokio::test]
async fn delete_answers_204_and_the_job_is_gone_and_deleting_a_missing_job_is_204_too() {
    let w = world();
    w.schedule("app", JOB, r#"{"dueTime":"10s"}"#).await;
    let response = send(&w.sidecar, "app", "DELETE", JOB, "").await;
    assert_eq!(response.status(), 204);
    assert!(response.body().is_empty());
    assert_error(
        &send(&w.sidecar, "app", "GET", JOB, "").await,
        500,
        "DAPR_SCHEDULER_GET_JOB",
    );
    assert_eq!(
        send(&w.sidecar, "app", "DELETE", JOB, "").await.status(),
        204
    );
    w.tick(60).await;
    assert_eq!(w.triggers(), 0, "a deleted job never fires");
}

#[tokio::test]
async fn jobs_belong_to_the_app_that_scheduled_them() {
    let w = world();
    w.schedule("alice", JOB, r#"{"dueTime":"1s","data":"alice's"}"#)
        .await;
    w.schedule("bob", JOB, r#"{"dueTime":"1s","data":"bob's"}"#)
        .await;
    assert_error(
        &send(&w.sidecar, "carol", "GET", JOB, "").await,
        500,
        "DAPR_SCHEDULER_GET_JOB",
    );
    send(&w.sidecar, "carol", "DELETE", JOB, "").await;
    w.tick(1).await;
    let mut calls: Vec<_> = w
        .apps
        .calls()
        .into_iter()
        .map(|c| (c.app_id, String::from_utf8(c.body.to_vec()).expect("utf-8")))
        .collect();
    calls.sort();
    assert_eq!(
        calls,
        [
            ("alice".to_owned(), r#""alice's""#.to_owned()),
            ("bob".to_owned(), r#""bob's""#.to_owned())
        ]
    );
}

// ---- triggering ---------------------------------------------------------------------------

#[tokio::test]
async fn a_due_time_job_fires_once_at_its_time_and_never_early() {
    let w = world();
    w.schedule(
        "app",
        JOB,
        r#"{"dueTime":"10s","data":{"task":"t1","n":1}}"#,
    )
    .await;
    w.tick(9).await;
    assert_eq!(w.triggers(), 0, "not before its due time");
    w.clock.advance(Duration::milliseconds(999));
    w.sidecar.run_due_jobs_now().await;
    assert_eq!(w.triggers(), 0, "not even a millisecond early");
    w.clock.advance(Duration::milliseconds(1));
    w.sidecar.run_due_jobs_now().await;
    let calls = w.apps.calls();
    assert_eq!(calls.len(), 1);
    let call = &calls[0];
    assert_eq!(call.app_id, "app");
    assert_eq!(call.method, "POST");
    assert_eq!(call.uri, "/job/reminder");
    assert_eq!(call.header("content-type"), Some("application/json"));
    assert_eq!(call.header("dapr-api-token"), None, "no token configured");
    assert_eq!(call.body.as_ref(), br#"{"n":1,"task":"t1"}"#);
    w.tick(3600).await;
    assert_eq!(w.triggers(), 1, "a one-shot job fires once");
    assert_error(
        &send(&w.sidecar, "app", "GET", JOB, "").await,
        500,
        "DAPR_SCHEDULER_GET_JOB",
    );
}

#[tokio::test]
async fn a_due_time_can_be_an_rfc3339_instant_or_an_iso8601_duration() {
    let w = world();
    w.schedule(
        "app",
        "/v1.0-alpha1/jobs/abs",
        r#"{"dueTime":"2026-01-01T00:00:30Z"}"#,
    )
    .await;
    w.schedule("app", "/v1.0-alpha1/jobs/iso", r#"{"dueTime":"PT1M"}"#)
        .await;
    w.tick(29).await;
    assert_eq!(w.triggers(), 0);
    w.tick(1).await;
    assert_eq!(w.apps.calls()[0].uri, "/job/abs");
    w.tick(30).await;
    assert_eq!(w.triggers(), 2);
    assert_eq!(w.apps.calls()[1].uri, "/job/iso");
}

#[tokio::test]
async fn a_job_late_because_the_clock_jumped_fires_once_and_lateness_is_measured() {
    let w = world();
    w.schedule("app", JOB, r#"{"dueTime":"1s"}"#).await;
    w.tick(90).await;
    assert_eq!(w.triggers(), 1);
    let metrics = w.sidecar.metrics().render();
    assert!(
        metrics.contains("# TYPE dapr_scheduler_trigger_latency histogram"),
        "{metrics}"
    );
    assert!(
        metrics.contains("dapr_scheduler_trigger_latency_sum{app_id=\"app\"} 89000"),
        "{metrics}"
    );
    assert_eq!(
        w.sidecar
            .metrics()
            .counter("dapr_scheduler_jobs_created_total", &[("app_id", "app")]),
        1.0
    );
    assert_eq!(
        w.sidecar
            .metrics()
            .counter("dapr_scheduler_jobs_triggered_total", &[("app_id", "app")]),
        1.0
    );
}

#[tokio::test]
async fn an_every_1s_job_with_repeats_3_fires_three_times() {
    let w = world();
    w.schedule(
        "app",
        JOB,
        r#"{"schedule":"@every 1s","repeats":3,"data":"ping"}"#,
    )
    .await;
    w.sidecar.run_due_jobs_now().await;
    assert_eq!(w.triggers(), 0, "the schedule starts counting at creation");
    for expected in 1..=3 {
        w.tick(1).await;
        assert_eq!(w.triggers(), expected);
    }
    for _ in 0..5 {
        w.tick(1).await;
    }
    assert_eq!(w.triggers(), 3);
    assert!(
        w.sidecar.job_names().is_empty(),
        "a job whose repeats are done is deleted"
    );
}

#[tokio::test]
async fn ticks_missed_while_the_scheduler_was_not_running_are_caught_up_one_by_one() {
    let w = world();
    w.schedule("app", JOB, r#"{"schedule":"@every 1s","repeats":3}"#)
        .await;
    w.clock.advance(Duration::seconds(10));
    for _ in 0..5 {
        w.sidecar.run_due_jobs_now().await;
    }
    assert_eq!(w.triggers(), 3);
}

#[tokio::test]
async fn a_six_field_cron_schedule_fires_on_matching_seconds() {
    let w = world();
    w.schedule("app", JOB, r#"{"schedule":"*/15 * * * * *","repeats":2}"#)
        .await;
    w.tick(14).await;
    assert_eq!(w.triggers(), 0);
    w.tick(1).await;
    assert_eq!(w.triggers(), 1);
    w.tick(14).await;
    assert_eq!(w.triggers(), 1);
    w.tick(1).await;
    assert_eq!(w.triggers(), 2);
}

#[tokio::test]
async fn a_schedule_with_a_due_time_fires_first_at_the_due_time() {
    let w = world();
    w.schedule(
        "app",
        JOB,
        r#"{"schedule":"@every 1h","dueTime":"5s","repeats":2}"#,
    )
    .await;
    w.tick(5).await;
    assert_eq!(w.triggers(), 1);
    w.tick(3599).await;
    assert_eq!(w.triggers(), 1);
    w.tick(1).await;
    assert_eq!(w.triggers(), 2);
}

#[tokio::test]
async fn a_ttl_ends_a_repeating_job() {
    let w = world();
    w.schedule("app", JOB, r#"{"schedule":"@every 1s","ttl":"2s"}"#)
        .await;
    for _ in 0..10 {
        w.tick(1).await;
    }
    assert_eq!(w.triggers(), 2);
    assert!(w.sidecar.job_names().is_empty());
}

#[tokio::test]
async fn the_trigger_body_is_the_raw_data_json() {
    let w = world();
    for (name, data, expected) in [
        ("s", r#""someData""#, r#""someData""#),
        ("q", r#""\"xyz\"""#, r#""\"xyz\"""#),
        ("n", "123", "123"),
        (
            "o",
            r#"  {    "expression":   "val" } "#,
            r#"{"expression":"val"}"#,
        ),
    ] {
        let body = format!(r#"{{"dueTime":"0s","data":{data}}}"#);
        w.schedule("app", &format!("/v1.0/jobs/{name}"), &body)
            .await;
        w.sidecar.run_due_jobs_now().await;
        let call = w.apps.calls().pop().expect("a trigger");
        assert_eq!(call.uri, format!("/job/{name}"));
        assert_eq!(std::str::from_utf8(&call.body).expect("utf-8"), expected);
    }
    w.schedule("app", "/v1.0/jobs/nodata", r#"{"dueTime":"0s"}"#)
        .await;
    w.sidecar.run_due_jobs_now().await;
    assert!(w.apps.calls().pop().expect("a trigger").body.is_empty());
}

#[tokio::test]
async fn triggers_carry_the_app_api_token() {
    let w = world_with(Some("s3cret"));
    w.schedule("app", JOB, r#"{"dueTime":"0s"}"#).await;
    w.sidecar.run_due_jobs_now().await;
    assert_eq!(w.apps.calls()[0].header("dapr-api-token"), Some("s3cret"));
}

// ---- failure policies ---------------------------------------------------------------------

#[tokio::test]
async fn by_default_a_failing_trigger_is_retried_every_second_three_times_then_given_up() {
    let w = world();
    w.apps.reply_always(Reply::Status(500));
    w.schedule("app", JOB, r#"{"dueTime":"0s"}"#).await;
    w.sidecar.run_due_jobs_now().await;
    assert_eq!(w.triggers(), 1);
    w.clock.advance(Duration::milliseconds(999));
    w.sidecar.run_due_jobs_now().await;
    assert_eq!(w.triggers(), 1, "the retry waits for its interval");
    for expected in 2..=4 {
        w.tick(1).await;
        assert_eq!(w.triggers(), expected);
    }
    for _ in 0..5 {
        w.tick(1).await;
    }
    assert_eq!(w.triggers(), 4, "1 attempt + 3 retries");
    assert!(w.sidecar.job_names().is_empty());
    let labels = [
        ("app_id", "app"),
        ("namespace", ""),
        ("operation", "job_trigger_op"),
    ];
    assert_eq!(
        w.sidecar
            .metrics()
            .counter("dapr_component_job_failure_count", &labels),
        4.0
    );
    assert_eq!(
        w.sidecar
            .metrics()
            .counter("dapr_scheduler_jobs_failed_total", &[("app_id", "app")]),
        4.0
    );
}

#[tokio::test]
async fn a_trigger_that_succeeds_on_a_retry_is_done() {
    let w = world();
    w.apps.reply_next(Reply::Status(503));
    w.apps.reply_next(Reply::Unreachable);
    w.schedule("app", JOB, r#"{"dueTime":"0s"}"#).await;
    for _ in 0..6 {
        w.sidecar.run_due_jobs_now().await;
        w.clock.advance(Duration::seconds(1));
    }
    assert_eq!(w.triggers(), 3, "503, unreachable, then 204");
    assert!(w.sidecar.job_names().is_empty());
}

#[tokio::test]
async fn a_constant_policy_retries_at_its_interval_up_to_max_retries() {
    let w = world();
    w.apps.reply_always(Reply::Status(500));
    w.schedule(
        "app",
        JOB,
        r#"{"dueTime":"0s","failurePolicy":{"constant":{"interval":"2.5s","maxRetries":1}}}"#,
    )
    .await;
    w.sidecar.run_due_jobs_now().await;
    w.tick(2).await;
    assert_eq!(w.triggers(), 1);
    w.clock.advance(Duration::milliseconds(500));
    w.sidecar.run_due_jobs_now().await;
    assert_eq!(w.triggers(), 2);
    w.tick(60).await;
    assert_eq!(w.triggers(), 2);
}

#[tokio::test]
async fn the_drop_policy_never_retries() {
    let w = world();
    w.apps.reply_always(Reply::Status(500));
    w.schedule(
        "app",
        JOB,
        r#"{"dueTime":"0s","failurePolicy":{"drop":{}}}"#,
    )
    .await;
    w.sidecar.run_due_jobs_now().await;
    w.tick(10).await;
    assert_eq!(w.triggers(), 1);
    assert!(w.sidecar.job_names().is_empty());
    let job_json = r#"{"schedule":"@daily","failurePolicy":{"drop":{}}}"#;
    w.schedule("app", "/v1.0/jobs/d", job_json).await;
    let job = json(&send(&w.sidecar, "app", "GET", "/v1.0/jobs/d", "").await);
    assert_eq!(job["failurePolicy"], json!({"drop": {}}));
}

#[tokio::test]
async fn a_404_from_the_app_is_done_and_not_retried() {
    let w = world();
    w.apps.reply_always(Reply::Status(404));
    w.schedule("app", JOB, r#"{"dueTime":"0s"}"#).await;
    w.sidecar.run_due_jobs_now().await;
    w.tick(10).await;
    assert_eq!(w.triggers(), 1);
    assert!(w.sidecar.job_names().is_empty());
}

#[tokio::test]
async fn a_failed_tick_of_a_repeating_job_counts_towards_its_repeats() {
    let w = world();
    w.apps.reply_always(Reply::Status(500));
    w.schedule(
        "app",
        JOB,
        r#"{"schedule":"@every 10s","repeats":2,"failurePolicy":{"drop":{}}}"#,
    )
    .await;
    for _ in 0..6 {
        w.tick(10).await;
    }
    assert_eq!(w.triggers(), 2);
}

// ---- the background scheduler -------------------------------------------------------------

/// The scheduler task ticks every 50 ms: in paused time those ticks cost no real time, and
/// "promptly" is exact — the trigger comes within one tick of the clock jump.
#[tokio::test(start_paused = true)]
async fn the_started_scheduler_notices_a_clock_jump_promptly() {
    const TICK: std::time::Duration = std::time::Duration::from_millis(50);
    let w = world();
    w.sidecar.start();
    w.schedule("app", JOB, r#"{"dueTime":"1h","data":"later"}"#)
        .await;
    // A minute of ticks (1200 passes), every one of them reading a clock an hour early; the jump
    // then comes 1 ms after a tick, so only the next tick can notice it.
    tokio::time::sleep(std::time::Duration::from_millis(60_001)).await;
    assert_eq!(w.triggers(), 0, "not before its due time");
    w.clock.advance(Duration::hours(1));
    let jumped = tokio::time::Instant::now();
    let calls = w.apps.wait_for_calls(1).await;
    assert!(
        jumped.elapsed() <= TICK,
        "noticed {:?} after the jump",
        jumped.elapsed()
    );
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].uri, "/job/reminder");
    assert_eq!(calls[0].body.as_ref(), br#""later""#);
    assert_eq!(
        text(&send(&w.sidecar, "app", "GET", "/v1.0/healthz", "").await),
        ""
    );
}
