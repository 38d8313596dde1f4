//! Persistence across restarts (`data_dir`): state in `state.db`, jobs in `jobs.db`. A restart
//! is a new `Sidecar` on the same directory; one test kills a child process with SIGKILL right
//! after its write was acknowledged.

mod common;
mod fakes;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

use chrono::Duration;
use common::{assert_error, header, send, text};
use dapr_sidecar::{AppChannel, Clock, Sidecar, SidecarConfig};
use fakes::{RecordingApps, TestClock, data_dir};

fn sidecar_on(dir: &Path, clock: Arc<dyn Clock>, apps: Arc<dyn AppChannel>) -> Sidecar {
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
    let clock = TestClock::new();
    let etag = {
        let sidecar = sidecar_on(&dir, clock.clone(), RecordingApps::new());
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
    let sidecar = sidecar_on(&dir, clock, RecordingApps::new());
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
    let clock = TestClock::new();
    {
        let sidecar = sidecar_on(&dir, clock.clone(), RecordingApps::new());
        let body = r#"[{"key":"k","value":1,"metadata":{"ttlInSeconds":"10"}}]"#;
        send(&sidecar, "app", "POST", STATE, body).await;
    }
    clock.advance(Duration::seconds(11));
    let sidecar = sidecar_on(&dir, clock, RecordingApps::new());
    let response = send(&sidecar, "app", "GET", &format!("{STATE}/k"), "").await;
    assert_eq!(response.status(), 204);
}

#[tokio::test]
async fn a_transaction_is_all_or_nothing_on_disk_too() {
    let dir = data_dir();
    let clock = TestClock::new();
    {
        let sidecar = sidecar_on(&dir, clock.clone(), RecordingApps::new());
        let tx = r#"{"operations":[
            {"operation":"upsert","request":{"key":"a","value":1}},
            {"operation":"upsert","request":{"key":"b","value":2,"etag":"999"}}]}"#;
        let response = send(&sidecar, "app", "POST", &format!("{STATE}/transaction"), tx).await;
        assert_error(&response, 500, "ERR_STATE_TRANSACTION");
    }
    let sidecar = sidecar_on(&dir, clock, RecordingApps::new());
    assert!(sidecar.state_snapshot("statestore").is_empty());
}

#[tokio::test]
async fn a_job_scheduled_before_a_restart_still_fires_after_it() {
    let dir = data_dir();
    let clock = TestClock::new();
    {
        let sidecar = sidecar_on(&dir, clock.clone(), RecordingApps::new());
        sidecar.start();
        let body = r#"{"dueTime":"30s","data":{"task":"t1"}}"#;
        let response = send(&sidecar, "app", "POST", "/v1.0-alpha1/jobs/reminder", body).await;
        assert_eq!(response.status(), 204);
    }
    let apps = RecordingApps::new();
    let sidecar = sidecar_on(&dir, clock.clone(), apps.clone());
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

#[tokio::test]
async fn a_job_due_while_the_sidecar_was_down_fires_after_the_restart() {
    let dir = data_dir();
    let clock = TestClock::new();
    let first_apps = RecordingApps::new();
    {
        let sidecar = sidecar_on(&dir, clock.clone(), first_apps.clone());
        let body = r#"{"dueTime":"10s"}"#;
        send(&sidecar, "app", "POST", "/v1.0-alpha1/jobs/missed", body).await;
    }
    clock.advance(Duration::hours(2));
    let apps = RecordingApps::new();
    let sidecar = sidecar_on(&dir, clock, apps.clone());
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
    let clock = TestClock::new();
    {
        let sidecar = sidecar_on(&dir, clock.clone(), RecordingApps::new());
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
    let apps = RecordingApps::new();
    let sidecar = sidecar_on(&dir, clock.clone(), apps.clone());
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

/// The child half of the kill -9 test: writes, prints `ACK` once the 204 is back, then waits
/// to be killed.
#[tokio::test]
async fn child_process_writes_then_waits_to_be_killed() {
    let Ok(dir) = std::env::var("DAPR_SIDECAR_TEST_KILL_DIR") else {
        return; // only meaningful when spawned by the test below
    };
    let resources = std::env::var("DAPR_SIDECAR_TEST_KILL_RESOURCES").expect("resources dir");
    // Not started: nothing is delivered before the kill, the message must wait on disk.
    let sidecar = Sidecar::new(SidecarConfig {
        data_dir: Some(dir.into()),
        resources_dir: Some(resources.into()),
        apps: vec!["app".to_owned()],
        ..SidecarConfig::default()
    });
    let published = send(
        &sidecar,
        "app",
        "POST",
        "/v1.0/publish/pubsub/t",
        r#"{"n":"durable-message"}"#,
    )
    .await;
    assert_eq!(published.status(), 204);
    let response = send(
        &sidecar,
        "app",
        "POST",
        STATE,
        r#"[{"key":"k","value":"durable"}]"#,
    )
    .await;
    assert_eq!(response.status(), 204);
    let job = send(
        &sidecar,
        "app",
        "POST",
        "/v1.0/jobs/j",
        r#"{"schedule":"@daily"}"#,
    )
    .await;
    assert_eq!(job.status(), 204);
    println!("ACK");
    tokio::time::sleep(std::time::Duration::from_secs(30)).await;
}

#[tokio::test]
async fn acknowledged_writes_survive_a_kill_9_of_the_process() {
    let dir = data_dir();
    let resources = data_dir();
    std::fs::write(
        resources.join("subscription.yaml"),
        "apiVersion: dapr.io/v2alpha1\nkind: Subscription\nmetadata:\n  name: s\nspec:\n  pubsubname: pubsub\n  topic: t\n  routes:\n    default: /in\nscopes:\n  - app\n",
    )
    .expect("subscription file");
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "child_process_writes_then_waits_to_be_killed",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("DAPR_SIDECAR_TEST_KILL_DIR", &dir)
        .env("DAPR_SIDECAR_TEST_KILL_RESOURCES", &resources)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn child");
    let stdout = child.stdout.take().expect("stdout");
    let acked = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .any(|line| line.contains("ACK"));
    assert!(acked, "the child acknowledged its writes");
    child.kill().expect("SIGKILL");
    let _ = child.wait();
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
    drop(sidecar);

    // The acknowledged message is delivered after the restart, once.
    let apps = RecordingApps::new();
    let sidecar = Sidecar::new(SidecarConfig {
        data_dir: Some(dir),
        resources_dir: Some(resources),
        apps: vec!["app".to_owned()],
        app_channel: apps.clone(),
        ..SidecarConfig::default()
    });
    sidecar.start();
    let deliveries = |calls: Vec<fakes::RecordedCall>| -> Vec<fakes::RecordedCall> {
        calls.into_iter().filter(|c| c.uri == "/in").collect()
    };
    for _ in 0..500 {
        if !deliveries(apps.calls()).is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let delivered = deliveries(apps.calls());
    assert_eq!(
        delivered.len(),
        1,
        "delivered once after the kill: {delivered:?}"
    );
    assert!(String::from_utf8_lossy(&delivered[0].body).contains("durable-message"));
}
