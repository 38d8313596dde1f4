//! Persistence across restarts (`data_dir`): state in `state.db`, jobs in `jobs.db`, messages
//! in `pubsub.db`. A restart is a new `Sidecar` on the same directory; one test kills a child
//! process (the `dapr-sidecar-kill-child` binary) with SIGKILL right after its writes were
//! acknowledged.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use chrono::Duration;
use dapr_sidecar::testing::{
    FakeApps, HANG_LIMIT, assert_error, data_dir, header, resources_dir, send, start_clock, text,
    within,
};
use dapr_sidecar::{AppChannel, Clock, ManualClock, Sidecar, SidecarConfig};

fn sidecar_on(dir: &Path, clock: &ManualClock, apps: Arc<dyn AppChannel>) -> Sidecar {
    let clock: Arc<dyn Clock> = Arc::new(clock.clone());
    Sidecar::new(SidecarConfig {
        data_dir: Some(dir.to_path_buf()),
        clock,
        app_channel: apps,
        ..SidecarConfig::default()
    })
}

const STATE: &str = "/v1.0/state/statestore";

#[tokio::test]
async fn state_written_before_a_restart_is_read_after_it_with_the_same_etag() {
    let dir = data_dir();
    let clock = start_clock();
    let etag = {
        let sidecar = sidecar_on(&dir, &clock, FakeApps::new());
        let saved = send(
            &sidecar,
            "app",
            "POST",
            STATE,
            r#"[{"key":"k","value":{"a":1}}]"#,
        )
        .await;
        assert_eq!(saved.status(), 204);
        let response = send(&sidecar, "app", "GET", &format!("{STATE}/k"), "").await;
        header(&response, "etag").expect("etag").to_owned()
    };
    assert!(dir.join("state.db").exists());
    let sidecar = sidecar_on(&dir, &clock, FakeApps::new());
    let response = send(&sidecar, "app", "GET", &format!("{STATE}/k"), "").await;
    assert_eq!(response.status(), 200);
    assert_eq!(text(&response), r#"{"a":1}"#);
    assert_eq!(header(&response, "etag"), Some(etag.as_str()));
    let body = format!(r#"[{{"key":"k","value":2,"etag":"{etag}"}}]"#);
    assert_eq!(
        send(&sidecar, "app", "POST", STATE, &body).await.status(),
        204
    );
}

#[tokio::test]
async fn a_ttl_keeps_counting_across_a_restart() {
    let dir = data_dir();
    let clock = start_clock();
    {
        let sidecar = sidecar_on(&dir, &clock, FakeApps::new());
        let body = r#"[{"key":"k","value":1,"metadata":{"ttlInSeconds":"10"}}]"#;
        send(&sidecar, "app", "POST", STATE, body).await;
    }
    clock.advance(Duration::seconds(11));
    let sidecar = sidecar_on(&dir, &clock, FakeApps::new());
    let response = send(&sidecar, "app", "GET", &format!("{STATE}/k"), "").await;
    assert_eq!(response.status(), 204);
}

#[tokio::test]
async fn a_transaction_is_all_or_nothing_on_disk_too() {
    let dir = data_dir();
    let clock = start_clock();
    {
        let sidecar = sidecar_on(&dir, &clock, FakeApps::new());
        let tx = r#"{"operations":[
            {"operation":"upsert","request":{"key":"a","value":1}},
            {"operation":"upsert","request":{"key":"b","value":2,"etag":"999"}}]}"#;
        let response = send(&sidecar, "app", "POST", &format!("{STATE}/transaction"), tx).await;
        assert_error(&response, 500, "ERR_STATE_TRANSACTION");
    }
    let sidecar = sidecar_on(&dir, &clock, FakeApps::new());
    assert!(sidecar.state_snapshot("statestore").is_empty());
}

#[tokio::test]
async fn a_job_scheduled_before_a_restart_still_fires_after_it() {
    let dir = data_dir();
    let clock = start_clock();
    {
        let sidecar = sidecar_on(&dir, &clock, FakeApps::new());
        sidecar.start();
        let body = r#"{"dueTime":"30s","data":{"task":"t1"}}"#;
        let response = send(&sidecar, "app", "POST", "/v1.0-alpha1/jobs/reminder", body).await;
        assert_eq!(response.status(), 204);
    }
    let apps = FakeApps::new();
    let sidecar = sidecar_on(&dir, &clock, apps.clone());
    let job = send(&sidecar, "app", "GET", "/v1.0-alpha1/jobs/reminder", "").await;
    assert_eq!(job.status(), 200);
    sidecar.run_due_jobs_now().await;
    assert!(apps.calls().is_empty(), "not early after a restart either");
    clock.advance(Duration::seconds(30));
    sidecar.run_due_jobs_now().await;
    let calls = apps.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].uri, "/job/reminder");
    assert_eq!(calls[0].body.as_ref(), br#"{"task":"t1"}"#);
}

/// In paused time: the scheduler task's 50 ms ticks cost no real time.
#[tokio::test(start_paused = true)]
async fn a_job_due_while_the_sidecar_was_down_fires_after_the_restart() {
    let dir = data_dir();
    let clock = start_clock();
    let first_apps = FakeApps::new();
    {
        let sidecar = sidecar_on(&dir, &clock, first_apps.clone());
        let body = r#"{"dueTime":"10s"}"#;
        send(&sidecar, "app", "POST", "/v1.0-alpha1/jobs/missed", body).await;
    }
    clock.advance(Duration::hours(2));
    let apps = FakeApps::new();
    let sidecar = sidecar_on(&dir, &clock, apps.clone());
    sidecar.start();
    let calls = apps.wait_for_calls(1).await;
    assert_eq!(calls[0].uri, "/job/missed");
    assert!(
        first_apps.calls().is_empty(),
        "the stopped sidecar's scheduler is gone"
    );
    let gone = send(&sidecar, "app", "GET", "/v1.0-alpha1/jobs/missed", "").await;
    assert_error(&gone, 500, "DAPR_SCHEDULER_GET_JOB");
}

#[tokio::test]
async fn progress_of_a_repeating_job_and_deletions_survive_a_restart() {
    let dir = data_dir();
    let clock = start_clock();
    {
        let sidecar = sidecar_on(&dir, &clock, FakeApps::new());
        let every = r#"{"schedule":"@every 1s","repeats":3}"#;
        send(&sidecar, "app", "POST", "/v1.0/jobs/every", every).await;
        send(
            &sidecar,
            "app",
            "POST",
            "/v1.0/jobs/deleted",
            r#"{"dueTime":"1s"}"#,
        )
        .await;
        send(&sidecar, "app", "DELETE", "/v1.0/jobs/deleted", "").await;
        clock.advance(Duration::seconds(1));
        sidecar.run_due_jobs_now().await;
        clock.advance(Duration::seconds(1));
        sidecar.run_due_jobs_now().await;
    }
    let apps = FakeApps::new();
    let sidecar = sidecar_on(&dir, &clock, apps.clone());
    for _ in 0..5 {
        clock.advance(Duration::seconds(1));
        sidecar.run_due_jobs_now().await;
    }
    let uris: Vec<_> = apps.calls().into_iter().map(|c| c.uri).collect();
    assert_eq!(
        uris,
        ["/job/every"],
        "2 of 3 repeats were done before the restart"
    );
}

/// Kills the child process when dropped, so a failing test leaves no process behind.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// In paused time: the delivery workers' waits (a retry, the broker's redelivery after at most
/// 60 s) cost no real time, and the sidecar can be driven past them.
#[tokio::test(start_paused = true)]
async fn acknowledged_writes_survive_a_kill_9_of_the_process() {
    let dir = data_dir();
    let resources = resources_dir(&[(
        "subscription.yaml",
        "apiVersion: dapr.io/v2alpha1\nkind: Subscription\nmetadata:\n  name: s\nspec:\n  pubsubname: pubsub\n  topic: t\n  routes:\n    default: /in\nscopes:\n  - app\n",
    )]);
    let mut child = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_dapr-sidecar-kill-child"))
            .arg(&dir)
            .arg(&resources)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn child"),
    );
    let stdout = child.0.stdout.take().expect("stdout");
    let acked = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .any(|line| line == "ACK");
    assert!(acked, "the child acknowledged its writes");
    child.0.kill().expect("SIGKILL");
    let status = child.0.wait().expect("wait");
    assert!(!status.success(), "killed, not exited: {status}");
    let sidecar = Sidecar::new(SidecarConfig {
        data_dir: Some(dir.clone()),
        ..SidecarConfig::default()
    });
    let response = send(&sidecar, "app", "GET", &format!("{STATE}/k"), "").await;
    assert_eq!(response.status(), 200);
    assert_eq!(text(&response), r#""durable""#);
    assert_eq!(
        send(&sidecar, "app", "GET", "/v1.0/jobs/j", "")
            .await
            .status(),
        200
    );
    assert_eq!(sidecar.pending_deliveries(), 1, "waiting to be fanned out");
    drop(sidecar);

    // The acknowledged message is delivered after the restart, once.
    let apps = FakeApps::new();
    let sidecar = Sidecar::new(SidecarConfig {
        data_dir: Some(dir),
        resources_dir: Some(resources),
        apps: vec!["app".to_owned()],
        app_channel: apps.clone(),
        ..SidecarConfig::default()
    });
    sidecar.start();
    let delivered = apps
        .wait_until("the delivery", |calls| calls.iter().any(|c| c.uri == "/in"))
        .await;
    let delivery = delivered
        .iter()
        .find(|c| c.uri == "/in")
        .expect("the delivery");
    // Published without a content type: the data is the body as text (daprd: `text/plain`).
    assert_eq!(delivery.json()["data"], r#"{"n":"durable-message"}"#);
    // Settled: nothing is left that could be delivered again, not even after a retry or a
    // redelivery would have come (60 s at most, here in paused time).
    let settled = within(HANG_LIMIT, async {
        while sidecar.pending_deliveries() > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(settled.is_some(), "the delivery was never settled");
    tokio::time::sleep(std::time::Duration::from_secs(120)).await;
    let deliveries: Vec<_> = apps.deliveries().into_iter().map(|c| c.uri).collect();
    assert_eq!(deliveries, ["/in"], "delivered once after the kill");
    assert_eq!(sidecar.pending_deliveries(), 0);
}
