//! Proves the test harness itself: chat-api built by build.rs, compiled once per binary, serves
//! requests through spin-host with a per-test outbound handler. Asserts only what holds for any
//! chat-api (request in -> response out), not its API. The allow-list and the denial of
//! outbound calls are unit-tested in spin-host.

use bytes::Bytes;
use spin_host::{ComponentConfig, OutboundHandler};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use todo_tests::{chat_api, chat_api_wasm, shared_host};

/// Answers every outbound call with 200 `{}` and counts the calls.
#[derive(Default)]
struct Counting {
    calls: AtomicUsize,
}

impl OutboundHandler for Counting {
    fn handle(
        &self,
        _app_id: &str,
        _req: http::Request<Bytes>,
    ) -> Pin<Box<dyn Future<Output = anyhow::Result<http::Response<Bytes>>> + Send + '_>> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        Box::pin(async {
            Ok(http::Response::builder()
                .status(200)
                .header("content-type", "application/json")
                .body(Bytes::from_static(b"{}"))?)
        })
    }
}

fn get(path: &str) -> http::Request<Bytes> {
    http::Request::builder()
        .uri(path)
        .body(Bytes::new())
        .unwrap()
}

#[test]
fn build_script_exports_the_spin_toml_source() {
    let path = chat_api_wasm();
    assert!(path.is_absolute(), "{}", path.display());
    assert!(
        path.ends_with("target/wasm/wasm32-wasip2/release/chat_api.wasm"),
        "{}",
        path.display()
    );
    assert!(path.is_file(), "{} was not built", path.display());
    assert!(
        todo_tests::chat_api_allowed_outbound_hosts()
            .iter()
            .any(|h| h == "http://127.0.0.1:3500"),
        "{:?}",
        todo_tests::chat_api_allowed_outbound_hosts()
    );
}

#[tokio::test]
async fn request_in_response_out() {
    let app = chat_api(Arc::new(Counting::default()), &[]);
    let req = http::Request::builder()
        .method("POST")
        .uri("/api/tasks")
        .header("content-type", "application/json")
        .body(Bytes::from_static(br#"{"title":"smoke"}"#))
        .unwrap();
    let resp = app.send(req).await;
    let status = resp.status().as_u16();
    assert!((100..600).contains(&status), "{status}");
    // No outbound call of the guest was denied.
    assert!(!app.logs().contains("denied"), "{}", app.logs());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_concurrent_instances() {
    let app = Arc::new(chat_api(Arc::new(Counting::default()), &[]));
    let requests = (0..64).map(|i| {
        let app = app.clone();
        tokio::spawn(async move { app.send(get(&format!("/api/tasks?i={i}"))).await.status() })
    });
    let statuses = futures::future::join_all(requests).await;
    assert_eq!(statuses.len(), 64);
    for status in statuses {
        let status = status.expect("request task panicked");
        assert!(status.as_u16() < 600);
    }
}

#[tokio::test]
async fn per_request_latency() {
    let app = chat_api(Arc::new(Counting::default()), &[]);
    app.send(get("/api/tasks")).await; // warm up
    let mut samples = Vec::new();
    for _ in 0..200 {
        let started = Instant::now();
        app.send(get("/api/tasks")).await;
        samples.push(started.elapsed());
    }
    samples.sort();
    let p50 = samples[samples.len() / 2];
    let p99 = samples[samples.len() * 99 / 100];
    eprintln!("chat-api GET /api/tasks (debug host build): p50 {p50:?}, p99 {p99:?}");
    assert!(p50 < Duration::from_secs(1), "p50 {p50:?}");
}

#[test]
fn second_load_comes_from_the_disk_cache() {
    let started = Instant::now();
    let again = shared_host()
        .load(ComponentConfig {
            id: "chat-api".into(),
            wasm_path: chat_api_wasm().to_path_buf(),
            ..ComponentConfig::default()
        })
        .unwrap_or_else(|e| panic!("{e:#}"));
    eprintln!(
        "chat-api reload: compile {:?} (from disk cache: {}), whole load {:?}",
        again.compile_time(),
        again.loaded_from_cache(),
        started.elapsed()
    );
    assert!(again.loaded_from_cache());
}

#[test]
fn broken_wasm_fails_with_the_component_id_and_path() {
    let dir = std::env::temp_dir().join(format!("todo-tests-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("broken.wasm");
    std::fs::write(&path, b"\0asm not really").unwrap();
    let err = shared_host()
        .load(ComponentConfig {
            id: "broken".into(),
            wasm_path: path.clone(),
            ..ComponentConfig::default()
        })
        .err()
        .expect("garbage must not load");
    let msg = format!("{err:#}");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        msg.contains(&format!(
            "failed to compile component broken from {}",
            path.display()
        )),
        "{msg}"
    );
}

#[tokio::test]
async fn guest_output_is_captured_per_test_instance() {
    let used = chat_api(Arc::new(Counting::default()), &[]);
    let unused = chat_api(Arc::new(Counting::default()), &[]);
    used.send(get("/api/tasks")).await;
    // Whatever chat-api prints goes to `used` only; spin-host's unit tests cover the capture.
    assert_eq!(unused.logs(), "");
    assert!(!used.logs().contains("denied"), "{}", used.logs());
}
