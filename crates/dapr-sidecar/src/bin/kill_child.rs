//! The child half of the kill -9 test in `tests/persistence.rs`: a sidecar on the data dir and
//! resources folder given as arguments publishes a message, saves state and schedules a job, and
//! prints `ACK` once all three were acknowledged; then it waits to be killed. It is not started,
//! so nothing is delivered before the kill and the message must wait on disk.
//!
//! Usage: `dapr-sidecar-kill-child <data dir> <resources dir>` (built with the `testing`
//! feature, which the crate's tests enable).

use dapr_sidecar::testing::{HANG_LIMIT, send};
use dapr_sidecar::{Sidecar, SidecarConfig};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args_os().skip(1);
    let (Some(data_dir), Some(resources_dir)) = (args.next(), args.next()) else {
        eprintln!("usage: dapr-sidecar-kill-child <data dir> <resources dir>");
        std::process::exit(2);
    };
    let sidecar = Sidecar::new(SidecarConfig {
        data_dir: Some(data_dir.into()),
        resources_dir: Some(resources_dir.into()),
        apps: vec!["app".to_owned()],
        ..SidecarConfig::default()
    });
    let writes = [
        ("/v1.0/publish/pubsub/t", r#"{"n":"durable-message"}"#),
        (
            "/v1.0/state/statestore",
            r#"[{"key":"k","value":"durable"}]"#,
        ),
        ("/v1.0/jobs/j", r#"{"schedule":"@daily"}"#),
    ];
    for (uri, body) in writes {
        let status = send(&sidecar, "app", "POST", uri, body).await.status();
        if status != 204 {
            eprintln!("POST {uri}: {status}");
            std::process::exit(1);
        }
    }
    println!("ACK");
    // Killed long before this: the limit only keeps an orphan from lingering.
    std::thread::sleep(HANG_LIMIT);
    std::process::exit(3);
}
