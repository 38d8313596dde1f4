//! Proves the test harness itself: build.rs lists and builds spin.toml's components, each is
//! compiled once per binary, and per-test instances serve requests through spin-host with their
//! own outbound handler, variables and captured output. chat-api is the component at hand: each
//! assertion pins what chat-api answers, so a broken harness (wrong variables, outbound calls
//! not reaching the test's handler, shared logs) fails here by name. The allow-list and the
//! denial of outbound calls are unit-tested in spin-host.

use bytes::Bytes;
use serde_json::{Value, json};
use spin_host::{ComponentConfig, Manifest, OutboundHandler};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use todo_tests::{TEST_JWT_SECRET, built, built_components, component, component_with, host};

/// An empty Dapr state store: a bulk read answers `[]` (no keys), anything else 204. Records
/// every call as `METHOD uri body`.
#[derive(Default)]
struct EmptyStateStore {
    calls: Mutex<Vec<String>>,
}

impl EmptyStateStore {
    fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }
}

impl OutboundHandler for EmptyStateStore {
    fn handle(
        &self,
        _app_id: &str,
        req: http::Request<Bytes>,
    ) -> Pin<Box<dyn Future<Output = anyhow::Result<http::Response<Bytes>>> + Send + '_>> {
        let bulk = req.uri().path().ends_with("/bulk");
        self.calls.lock().unwrap().push(format!(
            "{} {} {}",
            req.method(),
            req.uri(),
            String::from_utf8_lossy(req.body())
        ));
        Box::pin(async move {
            let (status, body) = if bulk { (200, "[]") } else { (204, "") };
            Ok(http::Response::builder()
                .status(status)
                .header("content-type", "application/json")
                .body(Bytes::from_static(body.as_bytes()))?)
        })
    }
}

fn token(user: &str) -> String {
    let now = chrono::Utc::now().timestamp() as u64;
    todo_domain::auth::issue_token(TEST_JWT_SECRET.as_bytes(), user, now, 3600)
}

fn get(path: &str, user: Option<&str>) -> http::Request<Bytes> {
    let mut builder = http::Request::builder().uri(path);
    if let Some(user) = user {
        builder = builder.header("authorization", format!("Bearer {}", token(user)));
    }
    builder.body(Bytes::new()).unwrap()
}

fn json_of(resp: &http::Response<Bytes>) -> Value {
    serde_json::from_slice(resp.body())
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(resp.body())))
}

const EMPTY_PAGE: &str = r#"{"items":[],"next_cursor":null}"#;

#[test]
fn build_script_lists_every_spin_toml_component() {
    let manifest = Manifest::load(todo_tests::manifest_path()).unwrap();
    let ids: Vec<&str> = built_components().iter().map(|c| c.id).collect();
    assert_eq!(ids, manifest.component_ids());
    for c in built_components() {
        let declared = &manifest.components[c.id];
        assert_eq!(std::path::Path::new(c.wasm), manifest.source_path(declared));
        assert_eq!(c.allowed_outbound_hosts, declared.allowed_outbound_hosts);
        if declared.build.is_some() {
            assert!(
                std::path::Path::new(c.wasm).is_file(),
                "{} was not built",
                c.wasm
            );
        }
    }

    let chat_api = built("chat-api");
    assert!(
        chat_api
            .wasm
            .ends_with("/target/wasm/wasm32-wasip2/release/chat_api.wasm"),
        "{}",
        chat_api.wasm
    );
    assert_eq!(
        chat_api.allowed_outbound_hosts,
        [
            "http://127.0.0.1:3500",
            "http://localhost:3500",
            "{{ dapr_url }}",
            "{{ llm_origin }}"
        ]
    );
    assert_eq!(chat_api.routes, ["/api/...", "/job/..."]);
}

/// Issue 11's size budget, on the build every user gets (spin.toml's build commands, the release
/// profile): each component `.wasm` at most 1 MiB (docs/benchmarks.md "Component sizes").
#[test]
fn every_component_is_at_most_one_mebibyte() {
    const BUDGET: u64 = 1 << 20;
    let sizes: Vec<(&str, u64)> = built_components()
        .iter()
        .map(|c| {
            let bytes = std::fs::metadata(c.wasm)
                .unwrap_or_else(|e| panic!("{}: {e}", c.wasm))
                .len();
            (c.id, bytes)
        })
        .collect();
    let over: Vec<_> = sizes.iter().filter(|(_, bytes)| *bytes > BUDGET).collect();
    assert!(
        over.is_empty(),
        "over {BUDGET} B: {over:?} (all: {sizes:?})"
    );
}

#[test]
fn an_unknown_component_id_names_the_ones_there_are() {
    let err = std::panic::catch_unwind(|| component("no-such-component"))
        .err()
        .expect("an unknown id must not load");
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        msg.contains("cannot load component no-such-component")
            && msg.contains("no component \"no-such-component\" in the manifest"),
        "{msg}"
    );
}

#[tokio::test]
async fn request_in_response_out_through_the_tests_outbound_handler() {
    let store = Arc::new(EmptyStateStore::default());
    let app = component_with("chat-api", store.clone(), &[]);

    // No token: refused before any outbound call.
    let req = http::Request::builder()
        .method("POST")
        .uri("/api/tasks")
        .header("content-type", "application/json")
        .body(Bytes::from_static(br#"{"title":"smoke"}"#))
        .unwrap();
    let resp = app.send(req).await;
    assert_eq!(resp.status(), 401);
    assert_eq!(resp.headers()["www-authenticate"], "Bearer");
    assert_eq!(json_of(&resp)["error"]["code"], "unauthorized");
    assert_eq!(store.calls(), Vec::<String>::new());

    // A token signed with the test jwt_secret: one bulk read of alice's buckets, at spin.toml's
    // dapr_url default, answered by this test's handler.
    let resp = app.send(get("/api/tasks", Some("alice"))).await;
    assert_eq!(resp.status(), 200, "{}", app.logs());
    assert_eq!(
        json_of(&resp),
        serde_json::from_str::<Value>(EMPTY_PAGE).unwrap()
    );
    let calls = store.calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert!(
        calls[0].starts_with("POST http://127.0.0.1:3500/v1.0/state/statestore/bulk {"),
        "{calls:?}"
    );
    assert!(calls[0].contains("\"tasks:alice:00\""), "{calls:?}");
}

#[tokio::test]
async fn per_test_variables_are_merged_over_the_test_defaults() {
    // Another jwt_secret: a token signed with the default test secret is refused.
    let app = component_with(
        "chat-api",
        Arc::new(EmptyStateStore::default()),
        &[("jwt_secret", "another-secret")],
    );
    let resp = app.send(get("/api/tasks", Some("alice"))).await;
    assert_eq!(resp.status(), 401);
    assert_eq!(json_of(&resp)["error"]["code"], "unauthorized");

    // Without an outbound handler, the harness's own fails every call: chat-api says 503.
    let app = component("chat-api");
    let resp = app.send(get("/api/tasks", Some("alice"))).await;
    assert_eq!(resp.status(), 503);
    assert_eq!(json_of(&resp)["error"]["code"], "dependency_unavailable");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_concurrent_instances() {
    let store = Arc::new(EmptyStateStore::default());
    let app = Arc::new(component_with("chat-api", store.clone(), &[]));
    let requests = (0..64).map(|i| {
        let app = app.clone();
        tokio::spawn(async move {
            let resp = app
                .send(get("/api/tasks", Some(&format!("user-{i}"))))
                .await;
            (
                resp.status(),
                String::from_utf8_lossy(resp.body()).into_owned(),
            )
        })
    });
    for (i, answer) in futures::future::join_all(requests)
        .await
        .into_iter()
        .enumerate()
    {
        let (status, body) = answer.expect("request task panicked");
        assert_eq!(status, 200, "request {i}: {body}");
        assert_eq!(body, EMPTY_PAGE, "request {i}");
    }
    // Each request made its own bulk read, for its own user.
    let calls = store.calls();
    assert_eq!(calls.len(), 64);
    for i in 0..64 {
        let key = format!("\"tasks:user-{i}:00\"");
        assert_eq!(
            calls.iter().filter(|c| c.contains(&key)).count(),
            1,
            "user-{i}: {calls:?}"
        );
    }
}

#[tokio::test]
async fn per_request_latency() {
    let app = component_with("chat-api", Arc::new(EmptyStateStore::default()), &[]);
    let request = || get("/api/tasks", Some("alice"));
    assert_eq!(app.send(request()).await.status(), 200); // warm up
    let mut samples = Vec::new();
    for _ in 0..200 {
        let started = Instant::now();
        let status = app.send(request()).await.status();
        samples.push(started.elapsed());
        assert_eq!(status, 200);
    }
    samples.sort();
    let p50 = samples[samples.len() / 2];
    let p99 = samples[samples.len() * 99 / 100];
    eprintln!("chat-api GET /api/tasks (debug host build): p50 {p50:?}, p99 {p99:?}");
    assert!(p50 < Duration::from_secs(1), "p50 {p50:?}");
}

#[test]
fn second_load_comes_from_the_disk_cache() {
    // The harness's compilation (at the latest) has put chat-api in the disk cache.
    let first = todo_tests::app().compiled("chat-api");
    let started = Instant::now();
    let again = host()
        .load(ComponentConfig {
            id: "chat-api".into(),
            wasm_path: built("chat-api").wasm.into(),
            ..ComponentConfig::default()
        })
        .unwrap_or_else(|e| panic!("{e:#}"));
    eprintln!(
        "chat-api: first compile {:?} (from disk cache: {}); reload: compile {:?} (from disk cache: {}), whole load {:?}",
        first.compile_time(),
        first.loaded_from_cache(),
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
    let err = host()
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
    let used = component_with("chat-api", Arc::new(EmptyStateStore::default()), &[]);
    let unused = component_with("chat-api", Arc::new(EmptyStateStore::default()), &[]);
    assert_eq!(
        used.send(get("/api/tasks", Some("alice"))).await.status(),
        200
    );
    // chat-api's request log line goes to `used` only.
    assert_eq!(unused.logs(), "");
    let logs = used.logs();
    // Guest lines are JSON; `[spin-host] ...` lines, if any, are the host's.
    let lines: Vec<Value> = logs
        .lines()
        .filter(|l| !l.starts_with("[spin-host]"))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(lines.len(), 1, "{logs}");
    let line = &lines[0];
    assert_eq!(
        (
            &line["msg"],
            &line["method"],
            &line["route"],
            &line["status"],
            &line["user"]
        ),
        (
            &json!("request"),
            &json!("GET"),
            &json!("/api/tasks"),
            &json!(200),
            &json!("alice")
        ),
        "{logs}"
    );
}
